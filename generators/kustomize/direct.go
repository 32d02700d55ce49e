package kustomize

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/kyaml/resid"

	"github.com/dmls-project/dmls/generators"
)

// Build returns, byte for byte, what `kustomize build` of the overlay ov
// of app a renders, without running kustomize. The layout makes that
// possible: an overlay's build is exactly the environment's generated
// objects with the overlay's namespace, env label and source annotation,
// in kustomize's legacy order, as sorted-key YAML. The committed tree stays
// what Argo CD builds; a test compares both ways for every spec feature.
//
// Build is the hot path of render: krusty copies the app's tree into a new
// in-memory filesystem for every overlay and runs serially behind a mutex
// (kustomize#3659), while Build is pure and runs in parallel.
func Build(a App, ov Overlay) ([]byte, error) {
	objs := make([]*unstructured.Unstructured, len(ov.Objects))
	for i, o := range ov.Objects {
		u := annotate(o.Unstructured, a.Source)
		if ov.Namespace != "" && isNamespaced(u) {
			u.SetNamespace(ov.Namespace)
		}
		l := u.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		l[generators.LabelEnv] = ov.Env
		u.SetLabels(l)
		objs[i] = u
	}
	return buildObjects(objs)
}

// BuildPlain returns, byte for byte, what `kustomize build` renders of the
// folder Plain(objs) lays out, without running kustomize: the objects as
// they are, in kustomize's legacy order, as sorted-key YAML.
func BuildPlain(objs []generators.Object) ([]byte, error) {
	us := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		us[i] = o.Unstructured
	}
	return buildObjects(us)
}

// buildObjects sorts objs (a slice of its own) as kustomize does and
// writes them as one YAML stream.
func buildObjects(objs []*unstructured.Unstructured) ([]byte, error) {
	SortLegacy(objs)
	var buf bytes.Buffer
	for i, u := range objs {
		b, err := Marshal(u.Object)
		if err != nil {
			return nil, fmt.Errorf("marshal %s: %w", generators.ID(u.GroupVersionKind(), u.GetName()), err)
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(b)
	}
	return bytes.TrimSpace(buf.Bytes()), nil
}

// isNamespaced tells the kinds kustomize's namespace transformer leaves
// alone: the cluster-scoped kinds dmls can generate.
func isNamespaced(u *unstructured.Unstructured) bool {
	switch u.GroupVersionKind().GroupKind().String() {
	case "Namespace", "ClusterRole.rbac.authorization.k8s.io", "ClusterRoleBinding.rbac.authorization.k8s.io",
		"CustomResourceDefinition.apiextensions.k8s.io", "PersistentVolume", "StorageClass.storage.k8s.io",
		"PriorityClass.scheduling.k8s.io", "MutatingWebhookConfiguration.admissionregistration.k8s.io",
		"ValidatingWebhookConfiguration.admissionregistration.k8s.io":
		return false
	}
	return true
}

// legacyOrderFirst and legacyOrderLast are kustomize's default legacy
// order (api/internal/builtins/SortOrderTransformer.go, marked "DO NOT
// CHANGE" upstream).
var legacyOrderFirst = []string{
	"Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition", "ServiceAccount",
	"PodSecurityPolicy", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ConfigMap",
	"Secret", "Endpoints", "Service", "LimitRange", "PriorityClass", "PersistentVolume",
	"PersistentVolumeClaim", "Deployment", "StatefulSet", "CronJob", "PodDisruptionBudget",
}
var legacyOrderLast = []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}

var legacyRank = func() map[string]int {
	m := map[string]int{}
	for i, k := range legacyOrderFirst {
		m[k] = -len(legacyOrderFirst) + i
	}
	for i, k := range legacyOrderLast {
		m[k] = 1 + i
	}
	return m
}()

// SortLegacy sorts objects as kustomize's legacy reorder does: by kind
// rank, then group_version_kind, then kind.version.group|namespace|name.
func SortLegacy(objs []*unstructured.Unstructured) {
	type key struct {
		gvk resid.Gvk
		id  string
	}
	keys := make(map[*unstructured.Unstructured]key, len(objs))
	for _, u := range objs {
		gvk := u.GroupVersionKind()
		g := resid.Gvk{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind}
		ns, name := u.GetNamespace(), u.GetName()
		if ns == "" {
			ns = "~X"
		}
		if name == "" {
			name = "~N"
		}
		keys[u] = key{g, strings.Join([]string{g.String(), ns, name}, "|")}
	}
	sort.SliceStable(objs, func(i, j int) bool {
		a, b := keys[objs[i]], keys[objs[j]]
		if !a.gvk.Equals(b.gvk) {
			return gvkLess(a.gvk, b.gvk)
		}
		return a.id < b.id
	})
}

func gvkLess(a, b resid.Gvk) bool {
	ra, rb := legacyRank[a.Kind], legacyRank[b.Kind]
	if ra != rb {
		return ra < rb
	}
	if a.Kind == "Namespace" && b.Kind == "Namespace" && (a.Group == "" || b.Group == "") {
		return legacyGVK(a) > legacyGVK(b)
	}
	return legacyGVK(a) < legacyGVK(b)
}

func legacyGVK(x resid.Gvk) string {
	g, v, k := x.Group, x.Version, x.Kind
	if g == "" {
		g = "~G"
	}
	if v == "" {
		v = "~V"
	}
	if k == "" {
		k = "~K"
	}
	return g + "_" + v + "_" + k
}
