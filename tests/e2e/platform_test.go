//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/dmls-project/dmls/generators/argocd"
	"github.com/dmls-project/dmls/generators/components"
	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/kbuild"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/workspace"
)

// componentsMarker starts the components section of the example's
// platform.cue; withoutComponents cuts it off.
const componentsMarker = "\n// The platform components,"

// withoutComponents returns the example's platform.cue without its
// components. The tests that sync through Argo CD need it: no component
// controller can become healthy here (no kubelet, no network for the
// upstream sources), and the team Applications wait for the platform.
// Trainer and Kueue stay, as stubs that install nothing (the cluster
// serves their CRDs already): the TrainJob app and the Kueue queues of
// the example need them to validate.
func withoutComponents(t *testing.T, platform string) string {
	t.Helper()
	i := strings.Index(platform, componentsMarker)
	if i < 0 {
		t.Fatalf("platform.cue has no %q section to cut", strings.TrimSpace(componentsMarker))
	}
	end := strings.Index(platform[i:], "\n}\n")
	if end < 0 {
		t.Fatal("platform.cue: the components section does not end")
	}
	return platform[:i+1] + stubComponents + platform[i+end+3:]
}

// stubComponents are the Trainer and Kueue components of the e2e
// workspaces: a workspace chart without templates (stubChart), so that
// their Applications are Healthy with nothing to run.
const stubComponents = `components: {
	trainer: {
		namespace: "kubeflow-system"
		trainer: runtimes: ["torch-distributed"]
		chart: path: "charts/e2e-stub"
	}
	kueue: {
		namespace: "kueue-system"
		kueue: version: "0.19.2"
		chart: path: "charts/e2e-stub"
	}
}
`

// stubChart is the chart of stubComponents, by file.
var stubChart = map[string]string{
	"charts/e2e-stub/Chart.yaml":          "apiVersion: v2\nname: e2e-stub\nversion: 0.1.0\n",
	"charts/e2e-stub/templates/NOTES.txt": "The e2e cluster serves Trainer's and Kueue's CRDs; no controller runs.\n",
}

// objects splits a multi-document YAML stream.
func objects(t *testing.T, name string, y []byte) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, doc := range strings.Split(string(y), "\n---\n") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(m) > 0 {
			out = append(out, &unstructured.Unstructured{Object: m})
		}
	}
	return out
}

// ensureNamespaces creates the namespaces objs live in that do not exist,
// as the Applications' CreateNamespace=true would.
func ensureNamespaces(t *testing.T, c *Cluster, objs []*unstructured.Unstructured) {
	t.Helper()
	seen := map[string]bool{}
	for _, o := range objs {
		ns := o.GetNamespace()
		if ns == "" || seen[ns] {
			continue
		}
		seen[ns] = true
		obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}}
		if _, err := c.Dynamic.Resource(namespaceGVR).Create(context.Background(), obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("create namespace %s: %v", ns, err)
		}
	}
}

// TestDryRunPlatform server-side dry-runs the platform of the example
// (issue 9): the kubeflow-config tree (every component's Application and
// the manifests dmls renders from the workspace chart), the
// dmls-components root and the widened dmls-platform project, and the
// guard rails of every team namespace in every environment. The
// components' controllers cannot run here (no kubelet), and the git and
// chart-repository sources cannot be fetched (no network), so what Argo CD
// would render from them is not checked; see docs/platform.md.
func TestDryRunPlatform(t *testing.T) {
	c := connect(t)
	ws, err := workspace.Load(os.DirFS("../.."), ".", workspace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := build.Workspace(ws, build.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Kubeflow == nil {
		t.Fatal("the example has no components")
	}
	var objs []*unstructured.Unstructured
	count := map[string]int{}
	add := func(name string, y []byte) {
		for _, o := range objects(t, name, y) {
			count[o.GetKind()]++
			objs = append(objs, o)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(ws.Platform.Components)) {
		dir := layout.ComponentDir(name)
		if _, ok := res.Kubeflow[dir+"/kustomization.yaml"]; !ok {
			continue
		}
		y, err := kbuild.Build(res.Kubeflow, dir)
		if err != nil {
			t.Fatal(err)
		}
		add(dir, y)
	}
	apps, err := kbuild.Build(res.Kubeflow, layout.ArgoCDDir)
	if err != nil {
		t.Fatal(err)
	}
	add(layout.ArgoCDDir, apps)
	for _, f := range []string{"application-" + argocd.ComponentsRootName + ".argocd.yaml", "appproject-" + argocd.PlatformProject + ".argocd.yaml"} {
		b, ok := res.ArgoCD[argocd.SharedDir+"/"+f]
		if !ok {
			t.Fatalf("argocd/shared has no %s", f)
		}
		add(f, b)
	}
	for _, env := range ws.Envs {
		y, err := kbuild.Build(res.Platform, layout.PlatformDir(env.Name))
		if err != nil {
			t.Fatal(err)
		}
		add(layout.PlatformDir(env.Name), y)
	}
	for kind, min := range map[string]int{"Application": len(ws.Platform.Components) + 1, "AppProject": 1, "DaemonSet": 1,
		"Namespace": 6, "ResourceQuota": 6, "LimitRange": 6, "NetworkPolicy": 21, "ServiceAccount": 12, "Role": 6, "RoleBinding": 6,
		"ClusterQueue": 2, "LocalQueue": 2, "ResourceFlavor": 2, "WorkloadPriorityClass": 2} {
		if count[kind] < min {
			t.Errorf("%d %s objects, want at least %d", count[kind], kind, min)
		}
	}
	ensureNamespaces(t, c, objs)
	if err := c.DryRunAll(context.Background(), objs); err != nil {
		t.Fatalf("the API server rejects platform objects:\n%v", err)
	}
	t.Logf("%d platform objects pass a server-side dry run: %v", len(objs), count)
}

// TestClientSideApplyLimit measures which upstream CRDs client-side apply
// cannot handle: each gets the last-applied annotation kubectl would give
// it (the object as JSON) and is dry-run created, or updated if it
// exists, so that the API server itself judges the 256 KiB annotation
// limit. The components' Applications sync by server-side apply for the
// ones it refuses.
func TestClientSideApplyLimit(t *testing.T) {
	c := connect(t)
	cache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	root := strings.TrimSpace(string(cache))
	// The module versions are cluster.sh's (cluster.sh env), the ones whose
	// CRDs it installs.
	mod := func(env string) string {
		m := os.Getenv(env)
		if m == "" {
			t.Fatalf("%s is not set: run the tests with make e2e (cluster.sh env)", env)
		}
		return m
	}
	globs := []string{
		mod("E2E_MODULE_TRAINING_OPERATOR") + "/manifests/base/crds/kubeflow.org_*.yaml",
		mod("E2E_MODULE_KNATIVE_SERVING") + "/config/core/300-resources/*.yaml",
		mod("E2E_MODULE_ARGOCD") + "/manifests/crds/*-crd.yaml",
		mod("E2E_MODULE_KSERVE") + "/config/crd/full/serving.kserve.io_*.yaml",
	}
	var refused, accepted []string
	for _, g := range globs {
		files, _ := filepath.Glob(filepath.Join(root, g))
		if len(files) == 0 {
			t.Logf("%s: not in the module cache, skipped", g)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, crd := range objects(t, f, b) {
				if crd.GetKind() != "CustomResourceDefinition" {
					continue
				}
				raw, err := json.Marshal(crd.Object)
				if err != nil {
					t.Fatal(err)
				}
				n, err := components.LastAppliedBytes(crd)
				if err != nil {
					t.Fatal(err)
				}
				ann := crd.GetAnnotations()
				if ann == nil {
					ann = map[string]string{}
				}
				ann[components.LastAppliedAnnotation] = string(raw)
				crd.SetAnnotations(ann)
				res, err := c.Resource(crd)
				if err != nil {
					t.Fatal(err)
				}
				ctx := context.Background()
				_, err = res.Create(ctx, crd, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
				if apierrors.IsAlreadyExists(err) {
					live, gerr := res.Get(ctx, crd.GetName(), metav1.GetOptions{})
					if gerr != nil {
						t.Fatal(gerr)
					}
					crd.SetResourceVersion(live.GetResourceVersion())
					_, err = res.Update(ctx, crd, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}})
				}
				switch {
				case err == nil:
					accepted = append(accepted, crd.GetName())
				case strings.Contains(err.Error(), "Too long"):
					refused = append(refused, crd.GetName())
					t.Logf("refused: %s (%d bytes of annotations)", crd.GetName(), n)
				default:
					t.Errorf("%s: %v", crd.GetName(), err)
				}
			}
		}
	}
	sort.Strings(refused)
	t.Logf("client-side apply refused %d CRDs: %v; accepted %d", len(refused), refused, len(accepted))
	if len(accepted)+len(refused) == 0 {
		t.Fatal("no CRDs measured")
	}
}
