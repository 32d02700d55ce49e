package components

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/dmls-project/dmls/generators/argocd"
	"github.com/dmls-project/dmls/internal/golden"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/spec"
)

func obj(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	m := map[string]any{}
	if err := yaml.Unmarshal([]byte(y), &m); err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

// fixture has every source kind: upstream git (kustomize, with Knative's
// config-features patch, and plain manifests), a chart repository (https
// and OCI), and a workspace chart that installs Knative Serving, on two
// clusters.
func fixture(t *testing.T) Input {
	p := &spec.Platform{
		Name:   "ml-platform",
		ArgoCD: spec.ArgoCD{Namespace: "argocd"},
		Components: map[string]spec.Component{
			"training-operator": {Namespace: "kubeflow", Git: &spec.GitSource{URL: "https://github.com/kubeflow/training-operator.git", Path: "manifests/overlays/standalone", Revision: "v1.8.1", Kind: spec.GitKustomize}},
			"cert-manager":      {Namespace: "cert-manager", AlsoNamespaces: []string{"kube-system"}, Helm: &spec.HelmRepoSource{Repo: "https://charts.jetstack.io", Chart: "cert-manager", Version: "v1.16.2", Values: map[string]any{"crds": map[string]any{"enabled": true}}}},
			"knative-serving":   {Namespace: "knative-serving", KnativeServing: true, ServingIngress: true, Chart: &spec.WorkspaceChart{Path: "charts/knative-serving"}},
			"kourier":           {Namespace: "kourier-system", ServingIngress: true, DependsOn: []string{"knative-serving"}, Git: &spec.GitSource{URL: "https://git.example.com/platform/kourier.git", Path: "release", Revision: "v1.15.1", Kind: spec.GitDirectory}},
			"kserve":            {Namespace: "kserve", DependsOn: []string{"cert-manager", "kourier"}, Helm: &spec.HelmRepoSource{Repo: "oci://ghcr.io/kserve/charts", Chart: "kserve", Version: "v0.14.1"}},
		},
	}
	envs := []*spec.Environment{
		{Name: "dev", Cluster: spec.Cluster{Server: "https://kubernetes.default.svc"}},
		{Name: "staging", Cluster: spec.Cluster{Server: "https://kubernetes.default.svc"}},
		{Name: "prod", Cluster: spec.Cluster{Server: "https://prod.k8s.example.com:6443"}},
	}
	rendered := []*unstructured.Unstructured{
		obj(t, "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: services.serving.knative.dev}\nspec: {group: serving.knative.dev}\n"),
		obj(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: knative-serving}\n"),
		obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config-features, namespace: knative-serving}\ndata: {_example: see the docs, kubernetes.podspec-affinity: enabled, multi-container: enabled}\n"),
		obj(t, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: controller, namespace: knative-serving}\nspec: {}\n"),
		obj(t, "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: hello, namespace: knative-serving}\nspec: {}\n"),
	}
	return Input{
		Platform: p, Envs: envs,
		Repo:     argocd.Source{RepoURL: "https://git.example.com/dmls/kubeflow-config.git", Branch: "main", Path: "platform"},
		Rendered: map[string][]*unstructured.Unstructured{"knative-serving": rendered},
		Features: map[string]string{"kubernetes.podspec-persistent-volume-claim": "enabled", "kubernetes.podspec-affinity": "disabled"},
	}
}

func TestGolden(t *testing.T) {
	in := fixture(t)
	out, err := Generate(in)
	if err != nil {
		t.Fatal(err)
	}
	golden.CheckTree(t, "testdata/tree", out.Tree)

	// Two clusters: one Application per component and cluster.
	for _, name := range []string{"cert-manager-dev", "cert-manager-prod", "kserve-dev", "kserve-prod", "knative-serving-dev"} {
		if _, ok := out.Tree[layout.ArgoCDDir+"/application-"+name+".argocd.yaml"]; !ok {
			t.Errorf("no Application %s", name)
		}
	}
	if got := out.Root.Source.Path; got != "platform/argocd" {
		t.Errorf("root path %q", got)
	}
	// config-features: dmls's flags replace the chart's PodSpec flags,
	// other keys stay.
	cf := string(out.Tree["components/knative-serving/configmap-config-features.knative-serving.yaml"])
	for _, want := range []string{"kubernetes.podspec-persistent-volume-claim: enabled", "kubernetes.podspec-affinity: disabled", "multi-container: enabled", "_example: see the docs"} {
		if !strings.Contains(cf, want) {
			t.Errorf("config-features lacks %q:\n%s", want, cf)
		}
	}
	waves := map[string]string{
		"components/knative-serving/customresourcedefinition-services.serving.knative.dev.yaml": `argocd.argoproj.io/sync-wave: "-1"`,
		"components/knative-serving/namespace-knative-serving.yaml":                             `argocd.argoproj.io/sync-wave: "-1"`,
		"components/knative-serving/deployment-controller.knative-serving.yaml":                 `argocd.argoproj.io/sync-wave: "0"`,
		"components/knative-serving/kservice-hello.knative-serving.yaml":                        `argocd.argoproj.io/sync-wave: "1"`,
		layout.ArgoCDDir + "/application-kserve-prod.argocd.yaml":                               `argocd.argoproj.io/sync-wave: "2"`,
		layout.ArgoCDDir + "/application-kourier-prod.argocd.yaml":                              `argocd.argoproj.io/sync-wave: "1"`,
	}
	for f, want := range waves {
		if !strings.Contains(string(out.Tree[f]), want) {
			t.Errorf("%s lacks %s", f, want)
		}
	}
	if crd := string(out.Tree["components/knative-serving/customresourcedefinition-services.serving.knative.dev.yaml"]); !strings.Contains(crd, "Prune=false,Delete=false") {
		t.Errorf("a CRD must never be pruned or deleted:\n%s", crd)
	}
}

// TestKustomizePatch: a git kustomization that installs Knative gets
// config-features as a kustomize patch on its Application.
func TestKustomizePatch(t *testing.T) {
	in := fixture(t)
	in.Platform.Components["knative-serving"] = spec.Component{Namespace: "knative-serving", KnativeServing: true,
		Git: &spec.GitSource{URL: "https://github.com/kubeflow/manifests.git", Path: "common/knative/knative-serving/base", Revision: "v1.9.1", Kind: spec.GitKustomize}}
	out, err := Generate(in)
	if err != nil {
		t.Fatal(err)
	}
	app := string(out.Tree[layout.ArgoCDDir+"/application-knative-serving-dev.argocd.yaml"])
	for _, want := range []string{"patches:", "name: config-features", "kubernetes.podspec-persistent-volume-claim: enabled", "kind: ConfigMap"} {
		if !strings.Contains(app, want) {
			t.Errorf("Application lacks %q:\n%s", want, app)
		}
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name    string
		change  func(in *Input)
		wantErr string
	}{
		{name: "knative from a chart repository", change: func(in *Input) {
			in.Platform.Components["knative-serving"] = spec.Component{Namespace: "knative-serving", KnativeServing: true, Helm: &spec.HelmRepoSource{Repo: "https://x", Chart: "k", Version: "1.0.0"}}
		}, wantErr: "cannot set Knative's config-features in a chart Argo CD renders"},
		{name: "knative as plain manifests", change: func(in *Input) {
			in.Platform.Components["knative-serving"] = spec.Component{Namespace: "knative-serving", KnativeServing: true, Git: &spec.GitSource{URL: "https://x", Path: "p", Revision: "v1", Kind: spec.GitDirectory}}
		}, wantErr: "plain manifests (kind: directory) cannot take one"},
		{name: "chart not rendered", change: func(in *Input) { in.Rendered = nil }, wantErr: "was not rendered"},
		{name: "no repo", change: func(in *Input) { in.Repo.RepoURL = "" }, wantErr: `repos."kubeflow-config".url is not set`},
		{name: "two objects in one file", change: func(in *Input) {
			r := in.Rendered["knative-serving"]
			in.Rendered["knative-serving"] = append(r, r[3].DeepCopy())
		}, wantErr: "renders deployment-controller.knative-serving.yaml twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := fixture(t)
			tt.change(&in)
			_, err := Generate(in)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestNone: no components, no kubeflow-config tree.
func TestNone(t *testing.T) {
	out, err := Generate(Input{Platform: &spec.Platform{}})
	if err != nil || out != nil {
		t.Fatalf("Generate = %v, %v; want nil, nil", out, err)
	}
}
