package argocd

import (
	"reflect"
	"testing"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/generators/platform"
	"github.com/dmls-project/dmls/internal/spec"
)

// TestAnnotate checks the waves and the data protection Annotate puts on
// the objects the build publishes, on real generated objects.
func TestAnnotate(t *testing.T) {
	p := fixturePlatform()
	var objs []generators.Object
	nsObjs, err := platform.GuardRails(guardRailsInput(p, fixtureEnvs()[0]))
	if err != nil {
		t.Fatal(err)
	}
	objs = append(objs, nsObjs...)
	objs = append(objs, fixtureApps(t)[0].Objects...)
	// An option set elsewhere stays.
	objs[0].SetAnnotations(map[string]string{"argocd.argoproj.io/sync-options": "Replace=true"})

	Annotate(objs)
	first := map[string]map[string]string{}
	for _, o := range objs {
		first[o.ID()] = o.GetAnnotations()
	}
	want := map[string]map[string]string{
		"Namespace/ml-research-dev": {
			"argocd.argoproj.io/sync-wave":       "-1",
			"argocd.argoproj.io/sync-options":    "Replace=true,Prune=false,Delete=false",
			"argocd.argoproj.io/compare-options": "IgnoreExtraneous",
		},
		"Namespace/ml-serving-dev": {
			"argocd.argoproj.io/sync-wave":       "-1",
			"argocd.argoproj.io/sync-options":    "Prune=false,Delete=false",
			"argocd.argoproj.io/compare-options": "IgnoreExtraneous",
		},
		"ResourceQuota/" + platform.QuotaName:                              {"argocd.argoproj.io/sync-wave": "-1"},
		"LimitRange/" + platform.LimitRangeName:                            {"argocd.argoproj.io/sync-wave": "-1"},
		"networking.k8s.io/NetworkPolicy/" + platform.PolicyDenyIngress:    {"argocd.argoproj.io/sync-wave": "-1"},
		"networking.k8s.io/NetworkPolicy/" + platform.PolicyServingIngress: {"argocd.argoproj.io/sync-wave": "-1"},
		"networking.k8s.io/NetworkPolicy/" + platform.PolicyDNSEgress:      {"argocd.argoproj.io/sync-wave": "-1"},
		"networking.k8s.io/NetworkPolicy/tfjob-fashion-mnist-r3":           {"argocd.argoproj.io/sync-wave": "-1"},
		"ServiceAccount/dmls-training":                                     {"argocd.argoproj.io/sync-wave": "-1"},
		"ServiceAccount/dmls-serving":                                      {"argocd.argoproj.io/sync-wave": "-1"},
		"rbac.authorization.k8s.io/Role/" + platform.RoleName:              {"argocd.argoproj.io/sync-wave": "-1"},
		"rbac.authorization.k8s.io/RoleBinding/" + platform.RoleName:       {"argocd.argoproj.io/sync-wave": "-1"},
		"PersistentVolumeClaim/fashion-mnist-model": {
			"argocd.argoproj.io/sync-wave":       "0",
			"argocd.argoproj.io/sync-options":    "Prune=false,Delete=false",
			"argocd.argoproj.io/compare-options": "IgnoreExtraneous",
		},
		"kubeflow.org/TFJob/fashion-mnist-r3":       {"argocd.argoproj.io/sync-wave": "0"},
		"serving.knative.dev/Service/fashion-mnist": {"argocd.argoproj.io/sync-wave": "0"},
	}
	if !reflect.DeepEqual(first, want) {
		t.Errorf("annotations:\n got %v\nwant %v", first, want)
	}

	Annotate(objs)
	for _, o := range objs {
		if !reflect.DeepEqual(o.GetAnnotations(), first[o.ID()]) {
			t.Errorf("%s: a second Annotate changed %v to %v", o.ID(), first[o.ID()], o.GetAnnotations())
		}
	}
}

// guardRailsInput is the guard rails' input for the fixture: the
// fixture's TFJob in ml-research, and the team kinds.
func guardRailsInput(p *spec.Platform, env *spec.Environment) platform.Input {
	var kinds []platform.ManagedKind
	for _, gk := range TeamKinds() {
		kinds = append(kinds, platform.ManagedKind{GroupKind: gk, Resource: platform.Resource(gk.Kind)})
	}
	return platform.Input{Platform: p, Env: env, Jobs: map[string][]string{"ml-research": {"fashion-mnist-r3"}}, Kinds: kinds}
}
