// Package components generates the kubeflow-config repo: an Argo CD
// Application per platform component and cluster, and the plain manifests
// of the components whose Helm charts dmls renders itself.
//
// Layout, under the repo's path prefix:
//
//	argocd/             the components' Applications, synced by the
//	                    dmls-components root in k8s-config's argocd/shared
//	components/<name>/  the rendered manifests of a workspace chart
//
// # Waves
//
// A component's Application is in sync wave 1 + the highest wave of the
// components it depends on (dependsOn), so CRDs and controllers come
// before what needs them: cert-manager and Knative before KServe. Inside
// a rendered chart, CustomResourceDefinitions and Namespaces are in wave
// -1, custom resources of the chart's own CRDs in wave 1, and everything
// else (controllers, RBAC, webhooks) in wave 0. The dmls-components root
// is in wave -1 of dmls-root, before the environment roots, and Argo CD's
// Application health check makes it wait for every component to be
// healthy, so the team Applications wait for the platform.
//
// # Sync
//
// Every Application syncs by server-side apply. That is required, not
// only house style: the last-applied annotation of client-side apply may
// hold at most 256 KiB, and the upstream CRDs of the training operator
// (pytorchjobs, paddlejobs) and of KServe (inferenceservices) are larger
// (see docs/platform.md). CRDs are never pruned or deleted by Argo CD, since
// that deletes every object of the kind; the component Applications have
// no resources finalizer, so removing a component leaves what it
// installed for a person to remove.
package components

import (
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	synccommon "github.com/argoproj/argo-cd/gitops-engine/v3/pkg/sync/common"
	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/generators/argocd"
	"github.com/dmls-project/dmls/generators/kustomize"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/repourl"
	"github.com/dmls-project/dmls/internal/spec"
)

// ConfigFeaturesName is Knative Serving's feature flags ConfigMap.
const ConfigFeaturesName = "config-features"

// LabelComponent names the platform component of an Application.
const LabelComponent = "dmls.dev/component"

// Input is what Generate needs.
type Input struct {
	Platform *spec.Platform
	// Envs are the environments; each distinct cluster gets every component.
	Envs []*spec.Environment
	// Repo is the kubeflow-config repo; Repo.Path is its path prefix.
	Repo argocd.Source
	// Rendered are the objects of each workspace-chart component, as
	// helmrender rendered them, in order.
	Rendered map[string][]*unstructured.Unstructured
	// Features is the Knative config-features data the generated Services
	// use (kservice.Features over every Service).
	Features map[string]string
	// TFJobsUnderKueue says that a TFJob queues through Kueue somewhere,
	// which turns Kueue's TFJob integration on (Values).
	TFJobsUnderKueue bool
}

// Output is the kubeflow-config tree and its root in k8s-config.
type Output struct {
	// Tree is relative to the kubeflow-config path prefix.
	Tree generators.Tree
	// Root is what argocd.Tree needs for the dmls-components root and the
	// dmls-platform project.
	Root *argocd.KubeflowRoot
}

type cluster struct{ server, suffix string }

// clusters are the distinct destination servers of envs, in env order.
// With one cluster Applications are named after the component; with more,
// after the component and the first environment on that cluster.
func clusters(envs []*spec.Environment) []cluster {
	var out []cluster
	seen := map[string]bool{}
	for _, e := range envs {
		if !seen[e.Cluster.Server] {
			seen[e.Cluster.Server] = true
			out = append(out, cluster{e.Cluster.Server, e.Name})
		}
	}
	if len(out) == 1 {
		out[0].suffix = ""
	}
	return out
}

// Generate returns the kubeflow-config tree. A platform without
// components gives nil.
func Generate(in Input) (*Output, error) {
	p := in.Platform
	if p == nil || len(p.Components) == 0 {
		return nil, nil
	}
	if in.Repo.RepoURL == "" {
		return nil, fmt.Errorf("platform repos.%q.url is not set: the components are published there", layout.RepoKubeflowConfig)
	}
	waves, err := spec.ComponentWaves(p.Components)
	if err != nil {
		return nil, err
	}
	cls := clusters(in.Envs)
	tree := generators.Tree{}
	in.Repo.RepoURL = repourl.Public(in.Repo.RepoURL)
	root := &argocd.KubeflowRoot{Source: in.Repo}
	root.Source.Path = path.Join(in.Repo.Path, layout.ArgoCDDir)
	var apps []generators.Object
	for _, name := range slices.Sorted(maps.Keys(p.Components)) {
		c := p.Components[name]
		src, err := source(name, c, in)
		if err != nil {
			return nil, err
		}
		if c.Git != nil {
			root.Access.SourceRepos = append(root.Access.SourceRepos, repourl.Public(c.Git.URL))
		}
		if c.Helm != nil {
			root.Access.SourceRepos = append(root.Access.SourceRepos, helmRepoURL(c.Helm.Repo))
		}
		if c.Chart != nil {
			objs, ok := in.Rendered[name]
			if !ok {
				return nil, fmt.Errorf("components.%s: chart %s was not rendered", name, c.Chart.Path)
			}
			t, err := manifests(name, c, objs, in.Features)
			if err != nil {
				return nil, fmt.Errorf("components.%s: %w", name, err)
			}
			tree.Add(layout.ComponentDir(name), t)
		}
		for _, cl := range cls {
			for _, ns := range append([]string{c.Namespace}, c.AlsoNamespaces...) {
				root.Access.Destinations = append(root.Access.Destinations, v1alpha1.ApplicationDestination{Server: cl.server, Namespace: ns})
			}
			// Cluster-scoped objects (CRDs, webhooks, cluster roles) have
			// no namespace.
			root.Access.Destinations = append(root.Access.Destinations, v1alpha1.ApplicationDestination{Server: cl.server})
			app, err := application(p, name, c, cl, waves[name], src)
			if err != nil {
				return nil, err
			}
			apps = append(apps, app)
		}
	}
	t, err := kustomize.Plain(apps)
	if err != nil {
		return nil, err
	}
	tree.Add(layout.ArgoCDDir, t)
	return &Output{Tree: tree, Root: root}, nil
}

// ApplicationName names a component's Application on one cluster.
func ApplicationName(component, suffix string) string {
	if suffix == "" {
		return component
	}
	return component + "-" + suffix
}

func application(p *spec.Platform, name string, c spec.Component, cl cluster, wave int, src *v1alpha1.ApplicationSource) (generators.Object, error) {
	policy := argocd.SyncPolicy()
	policy.SyncOptions = append(policy.SyncOptions, "CreateNamespace=true")
	labels := argocd.PlatformLabels(p)
	labels[LabelComponent] = name
	app := &v1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{
			Name: ApplicationName(name, cl.suffix), Namespace: p.ArgoCD.Namespace, Labels: labels,
			Annotations: map[string]string{synccommon.AnnotationSyncWave: strconv.Itoa(wave)},
		},
		Spec: v1alpha1.ApplicationSpec{
			Project:     argocd.PlatformProject,
			Source:      src,
			Destination: v1alpha1.ApplicationDestination{Server: cl.server, Namespace: c.Namespace},
			SyncPolicy:  policy,
		},
	}
	if why := spec.ApplicationNameProblem(app.Name); why != "" {
		return generators.Object{}, fmt.Errorf("components.%s: %s; shorten the component or environment name", name, why)
	}
	return generators.New(app, v1alpha1.ApplicationSchemaGroupVersionKind, nil)
}

// helmRepoURL is a chart repository as Argo CD names it: OCI registries
// without their oci:// scheme (their repository secret sets enableOCI).
// Credentials never reach git (repourl.Public).
func helmRepoURL(repo string) string { return repourl.Public(strings.TrimPrefix(repo, "oci://")) }

func source(name string, c spec.Component, in Input) (*v1alpha1.ApplicationSource, error) {
	switch {
	case c.Git != nil:
		s := &v1alpha1.ApplicationSource{RepoURL: repourl.Public(c.Git.URL), Path: c.Git.Path, TargetRevision: c.Git.Revision}
		if c.Git.Kind == spec.GitDirectory {
			s.Directory = &v1alpha1.ApplicationSourceDirectory{Recurse: true}
			if c.KnativeServing {
				return nil, fmt.Errorf("components.%s: dmls sets Knative's config-features with a kustomize patch; plain manifests (kind: directory) cannot take one, so use a kustomization (kind: kustomize) or a workspace chart", name)
			}
			return s, nil
		}
		if c.KnativeServing {
			patch, err := featuresPatch(c.Namespace, in.Features)
			if err != nil {
				return nil, err
			}
			s.Kustomize = &v1alpha1.ApplicationSourceKustomize{Patches: v1alpha1.KustomizePatches{{
				Patch: patch,
				Target: &v1alpha1.KustomizeSelector{KustomizeResId: v1alpha1.KustomizeResId{
					KustomizeGvk: v1alpha1.KustomizeGvk{Version: "v1", Kind: "ConfigMap"},
					Name:         ConfigFeaturesName, Namespace: c.Namespace,
				}},
			}}}
		}
		return s, nil
	case c.Helm != nil:
		if c.KnativeServing {
			return nil, fmt.Errorf("components.%s: dmls cannot set Knative's config-features in a chart Argo CD renders; use a git kustomization or a workspace chart", name)
		}
		s := &v1alpha1.ApplicationSource{RepoURL: helmRepoURL(c.Helm.Repo), Chart: c.Helm.Chart, TargetRevision: c.Helm.Version,
			Helm: &v1alpha1.ApplicationSourceHelm{ReleaseName: name}}
		values, err := Values(name, c, in.TFJobsUnderKueue)
		if err != nil {
			return nil, err
		}
		if len(values) > 0 {
			raw, err := json.Marshal(values)
			if err != nil {
				return nil, fmt.Errorf("components.%s.helm.values: %w", name, err)
			}
			s.Helm.ValuesObject = &runtime.RawExtension{Raw: raw}
		}
		return s, nil
	case c.Chart != nil:
		return &v1alpha1.ApplicationSource{RepoURL: in.Repo.RepoURL, TargetRevision: in.Repo.Branch,
			Path: path.Join(in.Repo.Path, layout.ComponentDir(name))}, nil
	}
	return nil, fmt.Errorf("components.%s: no source: set git, helm or chart", name)
}

// configFeatures is Knative's config-features ConfigMap with data.
func configFeatures(namespace string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: ConfigFeaturesName, Namespace: namespace},
		Data:       data,
	}
}

// featuresPatch is a strategic-merge patch of config-features that sets
// every PodSpec flag dmls knows.
func featuresPatch(namespace string, features map[string]string) (string, error) {
	b, err := yaml.Marshal(configFeatures(namespace, features))
	if err != nil {
		return "", err
	}
	// TypeMeta and ObjectMeta serialise an empty creationTimestamp.
	m := map[string]any{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		return "", err
	}
	unstructured.RemoveNestedField(m, "metadata", "creationTimestamp")
	b, err = yaml.Marshal(m)
	return string(b), err
}

// manifests lays out a rendered chart: its objects, with config-features
// set when it installs Knative Serving, each with its sync wave.
func manifests(name string, c spec.Component, rendered []*unstructured.Unstructured, features map[string]string) (generators.Tree, error) {
	var objs []generators.Object
	crdGroups := map[string]bool{}
	for _, u := range rendered {
		if u.GetKind() == "CustomResourceDefinition" {
			g, _, _ := unstructured.NestedString(u.Object, "spec", "group")
			crdGroups[g] = true
		}
	}
	found := false
	for _, u := range rendered {
		u = u.DeepCopy()
		if c.KnativeServing && u.GetKind() == "ConfigMap" && u.GetAPIVersion() == "v1" && u.GetName() == ConfigFeaturesName &&
			(u.GetNamespace() == "" || u.GetNamespace() == c.Namespace) {
			found = true
			setFeatures(u, features)
		}
		objs = append(objs, generators.Object{Unstructured: u})
	}
	if c.KnativeServing && !found {
		o, err := generators.New(configFeatures(c.Namespace, features), corev1.SchemeGroupVersion.WithKind("ConfigMap"), nil)
		if err != nil {
			return nil, err
		}
		objs = append(objs, o)
	}
	files := map[string]string{}
	for _, o := range objs {
		annotate(o, crdGroups)
		f := kustomize.FileName(o.Unstructured)
		if ns := o.GetNamespace(); ns != "" {
			f = strings.TrimSuffix(f, ".yaml") + "." + ns + ".yaml"
		}
		if other, dup := files[f]; dup {
			return nil, fmt.Errorf("chart %s renders %s twice (%s and %s)", c.Chart.Path, f, other, o.GetAPIVersion())
		}
		files[f] = o.GetAPIVersion()
	}
	return kustomize.Plain(objs)
}

// setFeatures replaces the PodSpec flags of a rendered config-features
// with features and keeps its other keys.
func setFeatures(u *unstructured.Unstructured, features map[string]string) {
	data, _, _ := unstructured.NestedStringMap(u.Object, "data")
	if data == nil {
		data = map[string]string{}
	}
	for k := range data {
		if strings.HasPrefix(k, "kubernetes.podspec-") {
			delete(data, k)
		}
	}
	for k, v := range features {
		data[k] = v
	}
	_ = unstructured.SetNestedStringMap(u.Object, data, "data")
}

// Sync waves inside a rendered chart.
const (
	waveDefinitions = "-1"
	waveControllers = "0"
	waveResources   = "1"
)

func annotate(o generators.Object, crdGroups map[string]bool) {
	ann := o.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	if _, set := ann[synccommon.AnnotationSyncWave]; set {
		o.SetAnnotations(ann)
		return
	}
	gv := o.GroupVersionKind()
	switch {
	case o.GetKind() == "CustomResourceDefinition":
		ann[synccommon.AnnotationSyncWave] = waveDefinitions
		// Deleting a CRD deletes every object of its kind.
		opts := strings.Split(ann[synccommon.AnnotationSyncOptions], ",")
		opts = slices.DeleteFunc(opts, func(s string) bool { return s == "" })
		for _, want := range []string{argocd.DisablePrune, argocd.DisableDeletion} {
			if !slices.Contains(opts, want) {
				opts = append(opts, want)
			}
		}
		ann[synccommon.AnnotationSyncOptions] = strings.Join(opts, ",")
	case gv.Group == "" && gv.Kind == "Namespace":
		ann[synccommon.AnnotationSyncWave] = waveDefinitions
	case crdGroups[gv.Group]:
		ann[synccommon.AnnotationSyncWave] = waveResources
	default:
		ann[synccommon.AnnotationSyncWave] = waveControllers
	}
	o.SetAnnotations(ann)
}
