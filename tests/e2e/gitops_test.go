//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/yaml"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/generators/argocd"
	"github.com/dmls-project/dmls/internal/cli"
	"github.com/dmls-project/dmls/internal/gittest"
	"github.com/dmls-project/dmls/internal/kbuild"
	"github.com/dmls-project/dmls/internal/refresh"
	"github.com/dmls-project/dmls/internal/spec"
)

var (
	kserviceGVR = schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "services"}
	isvcGVR     = schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1beta1", Resource: "inferenceservices"}
	secretGVR   = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
)

// applySettings server-side applies the argocd-cm keys that dmls
// generates, so that the checks under test are dmls's own.
func applySettings(t *testing.T, c *Cluster) {
	t.Helper()
	cm, err := argocd.ConfigMap(&spec.Platform{Name: "e2e", ArgoCD: spec.ArgoCD{Namespace: ArgoCDNamespace}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := cm.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	force := true
	_, err = c.Dynamic.Resource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).Namespace(ArgoCDNamespace).
		Patch(context.Background(), "argocd-cm", types.ApplyPatchType, b, metav1.PatchOptions{FieldManager: "dmls-settings", Force: &force})
	if err != nil {
		t.Fatalf("apply argocd-cm settings: %v", err)
	}
}

// copyExample copies the example workspace at the repo root into a
// temporary folder that the test may edit.
func copyExample(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	root := os.DirFS("../..")
	for _, pattern := range []string{"platform.cue", "overlays/*.cue", "apps/*/*.cue", "charts/*/*.yaml", "charts/*/templates/*"} {
		names, err := fs.Glob(root, pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			b, err := fs.ReadFile(root, n)
			if err != nil {
				t.Fatal(err)
			}
			if n == "platform.cue" {
				b = []byte(withoutComponents(t, string(b)))
			}
			dst := filepath.Join(dir, filepath.FromSlash(n))
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for n, data := range stubChart {
		dst := filepath.Join(dir, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// dmls runs the CLI in-process and fails the test on a non-zero exit.
func dmls(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := cli.Main(args, &out, &errOut); code != 0 {
		t.Fatalf("dmls %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
	}
	return out.String()
}

func editFile(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	if err := os.WriteFile(path, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPublishDeploysThroughArgoCD is the product's promise end to end
// (issue 5, steps 5 to 7): dmls publish writes the example workspace into
// a git server, the platform team applies the bootstrap folder once, and
// from then on Argo CD deploys, follows changes and prunes removed apps,
// all from git.
func TestPublishDeploysThroughArgoCD(t *testing.T) {
	c := connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()

	srv := gittest.Start(t)
	url := srv.CreateRepo(t, "k8s-config")
	docs := srv.CreateRepo(t, "docs")
	infraURL := srv.CreateRepo(t, "infra")
	kfURL := srv.CreateRepo(t, "kubeflow-config")
	user, pass := srv.Credentials()
	t.Setenv("DMLS_GIT_USERNAME", user)
	t.Setenv("DMLS_GIT_PASSWORD", pass)

	repoSecret(t, c, srv, "k8s-config")
	repoSecret(t, c, srv, "kubeflow-config")

	ws := copyExample(t)
	out := dmls(t, "publish", "-w", ws, "--repo", "k8s-config="+url, "--repo", "docs="+docs, "--repo", "infra="+infraURL, "--repo", "kubeflow-config="+kfURL)
	t.Logf("dmls publish:\n%s", out)
	if !strings.Contains(out, "k8s-config: committed") {
		t.Fatalf("first publish made no commit:\n%s", out)
	}
	// The kops manifests reach the infra repo. They are not applied: kops
	// keeps its Cluster and InstanceGroups in its S3 state store, there is
	// no kops controller or CRD in a cluster (see tests/e2e/README.md).
	if f := srv.Files(t, "infra", "main")["kops/mycluster/cluster.yaml"]; !strings.Contains(f, "kind: Cluster") {
		t.Errorf("the infra repo lacks the kops Cluster:\n%s", f)
	}

	// Bootstrap: apply argocd/bootstrap once. Everything after this
	// arrives by git.
	bootstrap(t, c, srv, "k8s-config")

	apps := c.Dynamic.Resource(applicationGVR).Namespace(ArgoCDNamespace)
	tfjobs := func(ns string) dynamicGetter { return c.Dynamic.Resource(tfjobGVR).Namespace(ns) }
	ksvcs := func(ns string) dynamicGetter { return c.Dynamic.Resource(kserviceGVR).Namespace(ns) }
	envs := []string{"dev", "staging", "prod"}

	waitFor := func(what string, timeout time.Duration, cond func() (bool, string)) {
		t.Helper()
		eventually(ctx, t, apps, what, timeout, cond)
	}
	refresh := func() { refreshApps(ctx, apps) }

	// Step 5: the Applications become Synced and the workloads exist with
	// what the specs asked for.
	waitFor("every fashion-mnist Application Synced", 6*time.Minute, func() (bool, string) {
		for _, env := range envs {
			a, err := apps.Get(ctx, "fashion-mnist-"+env, metav1.GetOptions{})
			if err != nil {
				return false, fmt.Sprintf("fashion-mnist-%s: %v", env, err)
			}
			if s := str(a, "status", "sync", "status"); s != "Synced" {
				return false, fmt.Sprintf("fashion-mnist-%s sync %s", env, s)
			}
		}
		return true, ""
	})
	wantWorkers := map[string]int64{"dev": 2, "staging": 2, "prod": 8}
	for _, env := range envs {
		ns := "ml-research-" + env
		job, err := tfjobs(ns).Get(ctx, "fashion-mnist-r1", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("TFJob in %s: %v", ns, err)
		}
		if got := num(job, "spec", "tfReplicaSpecs", "Worker", "replicas"); got != wantWorkers[env] {
			t.Errorf("%s: %d workers, want %d", env, got, wantWorkers[env])
		}
		ctr := firstContainer(job, "spec", "tfReplicaSpecs", "Worker", "template", "spec", "containers")
		if ctr["name"] != "tensorflow" || ctr["image"] != "kubeflow/multi-worker-strategy:v0.1" {
			t.Errorf("%s: TFJob container %v/%v", env, ctr["name"], ctr["image"])
		}
		if !strings.Contains(fmt.Sprint(ctr["volumeMounts"]), "/trained_model") {
			t.Errorf("%s: TFJob lacks the /trained_model mount: %v", env, ctr["volumeMounts"])
		}
		svc, err := ksvcs(ns).Get(ctx, "fashion-mnist", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("Knative Service in %s: %v", ns, err)
		}
		ann, _, _ := unstructured.NestedStringMap(svc.Object, "spec", "template", "metadata", "annotations")
		wantMin := map[string]string{"dev": "0", "staging": "1", "prod": "2"}[env]
		if ann["autoscaling.knative.dev/min-scale"] != wantMin {
			t.Errorf("%s: min-scale %q, want %q", env, ann["autoscaling.knative.dev/min-scale"], wantMin)
		}
	}
	if got := trafficPercents(t, ksvcs("ml-research-staging")); got != "stable=90,canary=10" {
		t.Errorf("staging traffic %s, want stable=90,canary=10", got)
	}

	// The KServe app: Argo CD syncs its InferenceServices, and its
	// built-in InferenceService health check (dmls ships none) reads
	// them: Progressing without status, Healthy once KServe says Ready.
	isvcs := func(ns string) dynamicGetter { return c.Dynamic.Resource(isvcGVR).Namespace(ns) }
	waitFor("every tensorflow-serving Application Synced", 4*time.Minute, func() (bool, string) {
		for _, env := range []string{"dev", "prod"} {
			a, err := apps.Get(ctx, "tensorflow-serving-"+env, metav1.GetOptions{})
			if err != nil {
				return false, fmt.Sprintf("tensorflow-serving-%s: %v", env, err)
			}
			if s := str(a, "status", "sync", "status"); s != "Synced" {
				return false, fmt.Sprintf("tensorflow-serving-%s sync %s", env, s)
			}
		}
		return true, ""
	})
	for env, want := range map[string]int64{"dev": 20, "prod": 0} {
		isvc, err := isvcs("ml-serving-"+env).Get(ctx, "tensorflow-serving", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("InferenceService in ml-serving-%s: %v", env, err)
		}
		if got := num(isvc, "spec", "predictor", "canaryTrafficPercent"); got != want {
			t.Errorf("%s: canaryTrafficPercent %d, want %d", env, got, want)
		}
		if m := isvc.GetAnnotations()["serving.kserve.io/deploymentMode"]; m != "Knative" {
			t.Errorf("%s: deploymentMode %q, want Knative", env, m)
		}
	}
	// Argo CD 3 keeps each object's health in the Application's resource
	// tree, not in status.resources (issue 19): read it from the API server.
	tree := argoAPI(t)
	isvcHealth := func() string {
		h, err := tree.Health(ctx, "tensorflow-serving-prod", "InferenceService", "tensorflow-serving")
		if err != nil {
			return err.Error()
		}
		return h
	}
	waitFor("InferenceService health Progressing", 2*time.Minute, func() (bool, string) {
		h := isvcHealth()
		return h == "Progressing", h
	})
	isvc, err := isvcs("ml-serving-prod").Get(ctx, "tensorflow-serving", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stamp := metav1.Now().UTC().Format(time.RFC3339)
	isvc.Object["status"] = map[string]any{"conditions": []any{
		map[string]any{"type": "IngressReady", "status": "True", "lastTransitionTime": stamp},
		map[string]any{"type": "PredictorReady", "status": "True", "lastTransitionTime": stamp},
		map[string]any{"type": "Ready", "status": "True", "lastTransitionTime": stamp},
	}}
	if _, err := isvcs("ml-serving-prod").UpdateStatus(ctx, isvc, metav1.UpdateOptions{FieldManager: FieldManager}); err != nil {
		t.Fatalf("update InferenceService status: %v", err)
	}
	refresh()
	waitFor("InferenceService health Healthy", 2*time.Minute, func() (bool, string) {
		h := isvcHealth()
		return h == "Healthy", h
	})

	// The TFJob health check that dmls publishes in argocd-cm is in effect:
	// with no training operator the job is Progressing, and once its status
	// says Succeeded it is Healthy.
	tfjobHealth := func() string {
		h, err := tree.Health(ctx, "fashion-mnist-dev", "TFJob", "fashion-mnist-r1")
		if err != nil {
			return err.Error()
		}
		return h
	}
	waitFor("TFJob health Progressing", 2*time.Minute, func() (bool, string) {
		h := tfjobHealth()
		return h == "Progressing", h
	})
	job, err := tfjobs("ml-research-dev").Get(ctx, "fashion-mnist-r1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.Now().UTC().Format(time.RFC3339)
	job.Object["status"] = map[string]any{"conditions": []any{
		map[string]any{"type": "Created", "status": "True", "reason": "TFJobCreated", "lastUpdateTime": now, "lastTransitionTime": now},
		map[string]any{"type": "Succeeded", "status": "True", "reason": "TFJobSucceeded", "message": "TFJob fashion-mnist-r1 successfully completed.", "lastUpdateTime": now, "lastTransitionTime": now},
	}}
	if _, err := tfjobs("ml-research-dev").UpdateStatus(ctx, job, metav1.UpdateOptions{FieldManager: FieldManager}); err != nil {
		t.Fatalf("update TFJob status: %v", err)
	}
	refresh()
	waitFor("TFJob health Healthy", 2*time.Minute, func() (bool, string) {
		h := tfjobHealth()
		return h == "Healthy", h
	})
	argo3Semantics(ctx, t, apps, tfjobs("ml-research-dev"))
	kueueNeverFights(ctx, t, c, apps, tree)

	// Step 6: change the specs, publish, and the cluster follows.
	editFile(t, filepath.Join(ws, "apps/fashion-mnist/training.cue"), "overrides: dev: training: replicas: worker: replicas: 2", "overrides: dev: training: replicas: worker: replicas: 3")
	editFile(t, filepath.Join(ws, "apps/fashion-mnist/serving.cue"), "canaryPercent: 10", "canaryPercent: 50")
	out = dmls(t, "publish", "-w", ws, "--repo", "k8s-config="+url, "--repo", "docs="+docs, "--repo", "infra="+infraURL, "--repo", "kubeflow-config="+kfURL)
	t.Logf("dmls publish:\n%s", out)
	refresh()
	waitFor("dev workers 2→3 and staging canary 10→50%", 4*time.Minute, func() (bool, string) {
		refresh()
		job, err := tfjobs("ml-research-dev").Get(ctx, "fashion-mnist-r1", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		w := num(job, "spec", "tfReplicaSpecs", "Worker", "replicas")
		tr := trafficPercents(t, ksvcs("ml-research-staging"))
		return w == 3 && tr == "stable=50,canary=50", fmt.Sprintf("workers %d, traffic %s", w, tr)
	})

	// Step 7: delete the app from the workspace, publish, and Argo CD
	// prunes its Applications and their objects.
	if err := os.RemoveAll(filepath.Join(ws, "apps/fashion-mnist")); err != nil {
		t.Fatal(err)
	}
	out = dmls(t, "publish", "-w", ws, "--repo", "k8s-config="+url, "--repo", "docs="+docs, "--repo", "infra="+infraURL, "--repo", "kubeflow-config="+kfURL)
	t.Logf("dmls publish:\n%s", out)
	waitFor("fashion-mnist pruned", 4*time.Minute, func() (bool, string) {
		refresh()
		for _, env := range envs {
			ns := "ml-research-" + env
			if _, err := apps.Get(ctx, "fashion-mnist-"+env, metav1.GetOptions{}); err == nil {
				return false, "Application fashion-mnist-" + env + " still exists"
			}
			if _, err := tfjobs(ns).Get(ctx, "fashion-mnist-r1", metav1.GetOptions{}); err == nil {
				return false, "TFJob still in " + ns
			}
			if _, err := ksvcs(ns).Get(ctx, "fashion-mnist", metav1.GetOptions{}); err == nil {
				return false, "Knative Service still in " + ns
			}
		}
		return true, ""
	})
}

// repoSecret gives Argo CD the credentials of a repo of srv, as a platform
// team would: a repository secret.
func repoSecret(t *testing.T, c *Cluster, srv *gittest.Server, repo string) {
	t.Helper()
	user, pass := srv.Credentials()
	secret := &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: "dmls-" + repo, Namespace: ArgoCDNamespace,
			Labels: map[string]string{"argocd.argoproj.io/secret-type": "repository"}},
		StringData: map[string]string{"type": "git", "url": srv.RepoURL(repo), "username": user, "password": pass},
	}
	applyTyped(t, c, secret, secretGVR, ArgoCDNamespace)
}

// bootstrap applies argocd/bootstrap, built from what is in repo, once:
// what the platform team does by hand.
func bootstrap(t *testing.T, c *Cluster, srv *gittest.Server, repo string) {
	t.Helper()
	tree := generators.Tree{}
	for p, content := range srv.Files(t, repo, "main") {
		if strings.HasPrefix(p, argocd.BootstrapDir+"/") {
			tree[p] = []byte(content)
		}
	}
	y, err := kbuild.Build(tree, argocd.BootstrapDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(y), "\n---\n") {
		obj := mustObj(t, doc)
		ri, err := c.Resource(obj)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := obj.MarshalJSON()
		force := true
		if _, err := ri.Patch(context.Background(), obj.GetName(), types.ApplyPatchType, b, metav1.PatchOptions{FieldManager: FieldManager, Force: &force}); err != nil {
			t.Fatalf("apply bootstrap %s/%s: %v", obj.GetKind(), obj.GetName(), err)
		}
	}
}

// rebootstrap returns a func for an eventually loop that applies the
// bootstrap again every 20 s: the previous test's root may still re-apply
// its cached AppProject (with that test's repo URL) for a while after the
// bootstrap replaced it, and then refuses this test's root its repo.
func rebootstrap(t *testing.T, c *Cluster, srv *gittest.Server, repo string) func() {
	last := time.Now()
	return func() {
		if time.Since(last) > 20*time.Second {
			bootstrap(t, c, srv, repo)
			last = time.Now()
		}
	}
}

type appLister interface {
	List(context.Context, metav1.ListOptions) (*unstructured.UnstructuredList, error)
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (*unstructured.Unstructured, error)
}

// eventually polls cond until it holds, and fails the test with cond's
// last detail if it never does, after every Application's status and the
// last lines of the test's API servers.
func eventually(ctx context.Context, t *testing.T, apps appLister, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	var last string
	start := time.Now()
	err := wait.PollUntilContextTimeout(ctx, 2*time.Second, timeout, true, func(context.Context) (bool, error) {
		ok, detail := cond()
		last = detail
		return ok, nil
	})
	if err != nil {
		// What failed comes last, so that the tail of a long log shows it.
		t.Logf("Argo CD's Applications:\n%s", appSummary(ctx, apps))
		logFailureNotes(t)
		t.Fatalf("%s: %v\nlast seen: %s", what, err, last)
	}
	t.Logf("%s after %s", what, time.Since(start).Round(time.Second))
}

var (
	failureMu    sync.Mutex
	failureNotes = map[*testing.T][]func() string{}
)

// onFailure adds what eventually logs when test t fails.
func onFailure(t *testing.T, note func() string) {
	failureMu.Lock()
	defer failureMu.Unlock()
	if len(failureNotes[t]) == 0 {
		t.Cleanup(func() {
			failureMu.Lock()
			defer failureMu.Unlock()
			delete(failureNotes, t)
		})
	}
	failureNotes[t] = append(failureNotes[t], note)
}

// logFailureNotes logs the notes of test t.
func logFailureNotes(t *testing.T) {
	t.Helper()
	failureMu.Lock()
	notes := slices.Clone(failureNotes[t])
	failureMu.Unlock()
	for _, note := range notes {
		t.Log(note())
	}
}

// refreshApps asks Argo CD to look at git now rather than at its next poll.
func refreshApps(ctx context.Context, apps appLister) {
	list, err := apps.List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for _, a := range list.Items {
		// As dmls asks (refresh.Annotate), and Argo CD's own clients.
		_, _ = apps.Patch(ctx, a.GetName(), types.MergePatchType, refresh.RequestPatch(time.Now()), metav1.PatchOptions{})
	}
}

type dynamicGetter interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions, subresources ...string) (*unstructured.Unstructured, error)
	UpdateStatus(ctx context.Context, obj *unstructured.Unstructured, opts metav1.UpdateOptions) (*unstructured.Unstructured, error)
}

func applyTyped(t *testing.T, c *Cluster, obj runtime.Object, gvr schema.GroupVersionResource, ns string) {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	b, _ := u.MarshalJSON()
	force := true
	if _, err := c.Dynamic.Resource(gvr).Namespace(ns).Patch(context.Background(), u.GetName(), types.ApplyPatchType, b,
		metav1.PatchOptions{FieldManager: FieldManager, Force: &force}); err != nil {
		t.Fatalf("apply %s: %v", u.GetName(), err)
	}
}

func str(obj *unstructured.Unstructured, path ...string) string {
	s, _, _ := unstructured.NestedString(obj.Object, path...)
	return s
}

func num(obj *unstructured.Unstructured, path ...string) int64 {
	n, _, _ := unstructured.NestedInt64(obj.Object, path...)
	return n
}

func firstContainer(obj *unstructured.Unstructured, path ...string) map[string]any {
	l, _, _ := unstructured.NestedSlice(obj.Object, path...)
	if len(l) == 0 {
		return nil
	}
	m, _ := l[0].(map[string]any)
	return m
}

// trafficPercents summarises a Knative Service's traffic as tag=percent.
func trafficPercents(t *testing.T, ri dynamicGetter) string {
	svc, err := ri.Get(context.Background(), "fashion-mnist", metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	l, _, _ := unstructured.NestedSlice(svc.Object, "spec", "traffic")
	var parts []string
	for _, x := range l {
		m, _ := x.(map[string]any)
		parts = append(parts, fmt.Sprintf("%v=%v", m["tag"], m["percent"]))
	}
	return strings.Join(parts, ",")
}

// appSummary lists every Application's sync and health, for failures.
func appSummary(ctx context.Context, apps appLister) string {
	list, err := apps.List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, a := range list.Items {
		cond, _, _ := unstructured.NestedSlice(a.Object, "status", "conditions")
		op, _, _ := unstructured.NestedString(a.Object, "status", "operationState", "message")
		rev := str(&a, "status", "sync", "revision")
		if len(rev) > 12 {
			rev = rev[:12]
		}
		fmt.Fprintf(&b, "  %s: sync=%s revision=%s reconciledAt=%s refresh=%q health=%s op=%q conditions=%s\n", a.GetName(),
			str(&a, "status", "sync", "status"), rev, str(&a, "status", "reconciledAt"), a.GetAnnotations()[refresh.AnnotationRefresh],
			str(&a, "status", "health", "status"), op, mustYAML(cond))
	}
	return b.String()
}

func mustYAML(v any) string {
	b, _ := yaml.Marshal(v)
	return strings.TrimSpace(string(b))
}

// argo3Semantics checks the Argo CD 3 defaults that dmls relies on (issue
// 19), on fashion-mnist-dev and its TFJob once they are synced:
//   - resource health lives in the resource tree: the Application says
//     status.resourceHealthSource appTree and its status.resources carry
//     no health;
//   - resources are tracked by the argocd.argoproj.io/tracking-id
//     annotation, not the app.kubernetes.io/instance label, so an
//     Application name is not bound to the 63 characters of a label value.
func argo3Semantics(ctx context.Context, t *testing.T, apps dynamicGetter, tfjobs dynamicGetter) {
	t.Helper()
	a, err := apps.Get(ctx, "fashion-mnist-dev", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if src := str(a, "status", "resourceHealthSource"); src != "appTree" {
		t.Errorf("fashion-mnist-dev status.resourceHealthSource %q, want appTree (Argo CD 3 keeps resource health in the tree)", src)
	}
	res, _, _ := unstructured.NestedSlice(a.Object, "status", "resources")
	if len(res) == 0 {
		t.Errorf("fashion-mnist-dev has no status.resources")
	}
	for _, r := range res {
		if m, _ := r.(map[string]any); m["health"] != nil {
			t.Errorf("fashion-mnist-dev status.resources holds health for %v %v: %v", m["kind"], m["name"], m["health"])
		}
	}
	job, err := tfjobs.Get(ctx, "fashion-mnist-r1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantTracked(t, job, "fashion-mnist-dev")
}

// wantTracked checks that Argo CD tracks obj as an object of Application
// app the Argo CD 3 way: with the argocd.argoproj.io/tracking-id
// annotation (<app>:<group>/<kind>:<namespace>/<name>), and without the
// app.kubernetes.io/instance label of label tracking.
func wantTracked(t *testing.T, obj *unstructured.Unstructured, app string) {
	t.Helper()
	gvk := obj.GroupVersionKind()
	want := fmt.Sprintf("%s:%s/%s:%s/%s", app, gvk.Group, gvk.Kind, obj.GetNamespace(), obj.GetName())
	if got := obj.GetAnnotations()["argocd.argoproj.io/tracking-id"]; got != want {
		t.Errorf("%s %s: tracking-id annotation %q, want %q", gvk.Kind, obj.GetName(), got, want)
	}
	if l, ok := obj.GetLabels()["app.kubernetes.io/instance"]; ok {
		t.Errorf("%s %s carries the tracking label app.kubernetes.io/instance=%q; Argo CD 3 tracks by annotation", gvk.Kind, obj.GetName(), l)
	}
}

var (
	trainjobGVR     = schema.GroupVersionResource{Group: "trainer.kubeflow.org", Version: "v1alpha1", Resource: "trainjobs"}
	clusterQueueGVR = schema.GroupVersionResource{Group: "kueue.x-k8s.io", Version: "v1beta2", Resource: "clusterqueues"}
	localQueueGVR   = schema.GroupVersionResource{Group: "kueue.x-k8s.io", Version: "v1beta2", Resource: "localqueues"}
)

// kueueNeverFights checks the example's TrainJob in dev, whose scheduler
// is Kueue (issue 21). Argo CD syncs the platform's queues and the
// TrainJob. With no controller running, the test then does what Kueue and
// Trainer would: Kueue's webhook suspends the job and adds its runtime
// patch, Trainer stamps the patch's time and reports Suspended; Kueue
// admits the job (suspend false) and Trainer reports Complete. The
// Application must stay Synced throughout, a sync must never undo what
// Kueue wrote, and health must go from Progressing (queued) to Healthy.
func kueueNeverFights(ctx context.Context, t *testing.T, c *Cluster, apps dynamicGetter, tree *argocdAPI) {
	t.Helper()
	all := c.Dynamic.Resource(applicationGVR).Namespace(ArgoCDNamespace)
	waitFor := func(what string, timeout time.Duration, cond func() (bool, string)) {
		t.Helper()
		eventually(ctx, t, all, what, timeout, cond)
	}
	refresh := func() { refreshApps(ctx, all) }
	jobs := c.Dynamic.Resource(trainjobGVR).Namespace("ml-research-dev")
	sync := func() string {
		a, err := apps.Get(ctx, "llm-finetune-dev", metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		return str(a, "status", "sync", "status")
	}
	waitFor("llm-finetune-dev Synced", 4*time.Minute, func() (bool, string) {
		s := sync()
		return s == "Synced", s
	})
	// The platform's Kueue objects are in the cluster, from platform-dev.
	if _, err := c.Dynamic.Resource(clusterQueueGVR).Get(ctx, "ml-research-dev", metav1.GetOptions{}); err != nil {
		t.Errorf("ClusterQueue ml-research-dev: %v", err)
	}
	if lq, err := c.Dynamic.Resource(localQueueGVR).Namespace("ml-research-dev").Get(ctx, "ml-research", metav1.GetOptions{}); err != nil {
		t.Errorf("LocalQueue ml-research-dev/ml-research: %v", err)
	} else if cq := str(lq, "spec", "clusterQueue"); cq != "ml-research-dev" {
		t.Errorf("LocalQueue points at %q", cq)
	}
	job, err := jobs.Get(ctx, "llm-finetune-r1", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("TrainJob: %v", err)
	}
	if q := job.GetLabels()["kueue.x-k8s.io/queue-name"]; q != "ml-research" {
		t.Errorf("TrainJob queue label %q", q)
	}
	health := func() string {
		h, err := tree.Health(ctx, "llm-finetune-dev", "TrainJob", "llm-finetune-r1")
		if err != nil {
			return err.Error()
		}
		return h
	}

	// Kueue's webhook: suspend, and its runtime patch; Trainer's webhook
	// stamps the patch's time. Kueue is its own field manager.
	kueuePatch := []byte(`{"apiVersion":"trainer.kubeflow.org/v1alpha1","kind":"TrainJob","metadata":{"name":"llm-finetune-r1","namespace":"ml-research-dev"},` +
		`"spec":{"suspend":true,"runtimePatches":[{"manager":"kueue.x-k8s.io/manager","time":"` + metav1.Now().UTC().Format(time.RFC3339) + `",` +
		`"trainingRuntimeSpec":{"template":{"spec":{"replicatedJobs":[{"name":"node","template":{"spec":{"template":{"spec":{"nodeSelector":{"kops.k8s.io/instancegroup":"gpu-training"}}}}}}]}}}}]}}`)
	force := true
	if _, err := jobs.Patch(ctx, "llm-finetune-r1", types.ApplyPatchType, kueuePatch, metav1.PatchOptions{FieldManager: "kueue", Force: &force}); err != nil {
		t.Fatalf("Kueue's patch: %v", err)
	}
	setStatus := func(conds ...map[string]any) {
		t.Helper()
		j, err := jobs.Get(ctx, "llm-finetune-r1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var cs []any
		for _, c := range conds {
			cs = append(cs, c)
		}
		j.Object["status"] = map[string]any{"conditions": cs}
		if _, err := jobs.UpdateStatus(ctx, j, metav1.UpdateOptions{FieldManager: "trainer"}); err != nil {
			t.Fatalf("update TrainJob status: %v", err)
		}
	}
	now := metav1.Now().UTC().Format(time.RFC3339)
	setStatus(map[string]any{"type": "Suspended", "status": "True", "reason": "Suspended", "message": "TrainJob is suspended", "lastTransitionTime": now})
	refresh()
	waitFor("TrainJob health Progressing (queued)", 2*time.Minute, func() (bool, string) {
		h := health()
		return h == "Progressing", h
	})
	// Synced while queued, and stays so: several refreshes and selfHeal
	// never strip Kueue's suspend or its runtime patch.
	for i := 0; i < 3; i++ {
		refresh()
		time.Sleep(3 * time.Second)
		if s := sync(); s != "Synced" {
			t.Errorf("queued TrainJob: Application %s, want Synced", s)
		}
	}
	j, err := jobs.Get(ctx, "llm-finetune-r1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s, _, _ := unstructured.NestedBool(j.Object, "spec", "suspend"); !s {
		t.Error("a sync undid Kueue's suspend")
	}
	patches, _, _ := unstructured.NestedSlice(j.Object, "spec", "runtimePatches")
	managers := ""
	for _, p := range patches {
		managers += fmt.Sprint(p.(map[string]any)["manager"]) + " "
	}
	if !strings.Contains(managers, "kueue.x-k8s.io/manager") || !strings.Contains(managers, "dmls.dev/dmls") {
		t.Errorf("runtime patches of %s, want dmls's and Kueue's", managers)
	}

	// Kueue admits the job; Trainer reports it Complete.
	admit := []byte(`{"apiVersion":"trainer.kubeflow.org/v1alpha1","kind":"TrainJob","metadata":{"name":"llm-finetune-r1","namespace":"ml-research-dev"},"spec":{"suspend":false}}`)
	if _, err := jobs.Patch(ctx, "llm-finetune-r1", types.ApplyPatchType, admit, metav1.PatchOptions{FieldManager: "kueue", Force: &force}); err != nil {
		t.Fatalf("Kueue's admission: %v", err)
	}
	now = metav1.Now().UTC().Format(time.RFC3339)
	setStatus(
		map[string]any{"type": "Suspended", "status": "False", "reason": "Resumed", "message": "TrainJob is resumed", "lastTransitionTime": now},
		map[string]any{"type": "Complete", "status": "True", "reason": "JobsCompleted", "message": "TrainJob is completed", "lastTransitionTime": now},
	)
	refresh()
	waitFor("TrainJob health Healthy (Complete)", 2*time.Minute, func() (bool, string) {
		h := health()
		return h == "Healthy", h
	})
	if s := sync(); s != "Synced" {
		t.Errorf("admitted TrainJob: Application %s, want Synced", s)
	}
}
