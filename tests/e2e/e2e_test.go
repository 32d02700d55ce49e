//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/yaml"
)

// ArgoCDNamespace is where cluster.sh runs Argo CD and where Applications live.
const ArgoCDNamespace = "argocd"

var (
	applicationGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}
	tfjobGVR       = schema.GroupVersionResource{Group: "kubeflow.org", Version: "v1", Resource: "tfjobs"}
	namespaceGVR   = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
)

func connect(t *testing.T) *Cluster {
	t.Helper()
	c, err := Default()
	if err != nil {
		t.Fatalf("connect to the e2e cluster: %v", err)
	}
	return c
}

// newNamespace creates a namespace with a random suffix. It is not deleted:
// no namespace controller runs, so it would stay Terminating anyway, and the
// whole cluster is thrown away after the run.
func newNamespace(t *testing.T, c *Cluster, prefix string) string {
	t.Helper()
	ns := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace",
		"metadata": map[string]any{"name": prefix + "-" + rand.String(6)},
	}}
	if _, err := c.Dynamic.Resource(namespaceGVR).Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.GetName()
}

func mustObj(t *testing.T, manifest string) *unstructured.Unstructured {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(manifest), &m); err != nil {
		t.Fatalf("parse manifest: %v\n%s", err, manifest)
	}
	return &unstructured.Unstructured{Object: m}
}

func tfjobManifest(ns, name, replicas string) string {
	return fmt.Sprintf(`apiVersion: kubeflow.org/v1
kind: TFJob
metadata:
  name: %s
  namespace: %s
spec:
  runPolicy:
    cleanPodPolicy: None
  tfReplicaSpecs:
    Worker:
      replicas: %s
      restartPolicy: OnFailure
      template:
        spec:
          containers:
          - name: tensorflow
            image: docker.io/kubeflowkatib/tf-mnist-with-summaries:latest
            command: ["python", "/opt/tf-mnist-with-summaries/mnist.py", "--epochs=1"]
            resources:
              limits:
                cpu: "1"
                memory: 1Gi
`, name, ns, replicas)
}

func kserviceManifest(ns, name string) string {
	return fmt.Sprintf(`apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: %s
  namespace: %s
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/min-scale: "0"
    spec:
      containers:
      - image: docker.io/tensorflow/serving:2.14.0
        ports:
        - containerPort: 8501
        env:
        - name: MODEL_NAME
          value: mnist
`, name, ns)
}

// TestDryRunWorkloads proves that the API server knows the upstream TFJob and
// Knative Service schemas: valid objects pass a server-side dry run without
// being stored, and invalid ones are rejected with the server's reason.
func TestDryRunWorkloads(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	ns := newNamespace(t, c, "dryrun")

	valid := []*unstructured.Unstructured{
		mustObj(t, tfjobManifest(ns, "mnist", "2")),
		mustObj(t, kserviceManifest(ns, "mnist")),
	}
	if err := DryRunAll(ctx, valid); err != nil {
		t.Fatalf("DryRunAll(valid objects) = %v, want nil", err)
	}
	// A dry run must not store anything.
	if _, err := c.Dynamic.Resource(tfjobGVR).Namespace(ns).Get(ctx, "mnist", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after a dry run, get TFJob mnist: err = %v, want NotFound", err)
	}

	// An object that already exists is checked as an update (a dry-run apply)
	// rather than reported as AlreadyExists.
	if _, err := c.Dynamic.Resource(tfjobGVR).Namespace(ns).Create(ctx, valid[0], metav1.CreateOptions{}); err != nil {
		t.Fatalf("create TFJob mnist: %v", err)
	}
	if err := DryRunAll(ctx, valid); err != nil {
		t.Errorf("DryRunAll(valid objects, TFJob exists) = %v, want nil", err)
	}

	tests := []struct {
		name       string
		obj        *unstructured.Unstructured
		wantReason metav1.StatusReason
		wantInMsg  string
	}{
		{
			name:       "replicas is a string",
			obj:        mustObj(t, tfjobManifest(ns, "bad-replicas", `"two"`)),
			wantReason: metav1.StatusReasonInvalid,
			wantInMsg:  "spec.tfReplicaSpecs.Worker.replicas",
		},
		{
			name:       "unknown field under strict validation",
			obj:        mustObj(t, strings.Replace(tfjobManifest(ns, "typo", "1"), "restartPolicy:", "restartPolicyy:", 1)),
			wantReason: metav1.StatusReasonBadRequest,
			wantInMsg:  "restartPolicyy",
		},
		{
			// Knative's schema checks types; its semantic rules (an empty
			// image, traffic over 100%) live in its webhook, which is not run.
			name:       "Knative containerPort is a string",
			obj:        mustObj(t, strings.Replace(kserviceManifest(ns, "bad-port"), "containerPort: 8501", "containerPort: http", 1)),
			wantReason: metav1.StatusReasonInvalid,
			wantInMsg:  "containerPort",
		},
		{
			name: "kind without a CRD",
			obj: mustObj(t, `apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata: {name: torch, namespace: `+ns+`}
spec: {}
`),
			wantInMsg: "no matches for kind",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The valid objects go along to show that only the bad one is named.
			err := DryRunAll(ctx, append([]*unstructured.Unstructured{tt.obj}, valid...))
			t.Logf("DryRunAll: %v", err)
			var dre *DryRunError
			if !errors.As(err, &dre) {
				t.Fatalf("DryRunAll = %v, want a *DryRunError", err)
			}
			if len(dre.Rejected) != 1 {
				t.Fatalf("rejected %d objects, want 1:\n%v", len(dre.Rejected), err)
			}
			r := dre.Rejected[0]
			if r.Kind != tt.obj.GetKind() || r.Namespace != ns || r.Name != tt.obj.GetName() {
				t.Errorf("rejected %s/%s/%s, want %s/%s/%s", r.Kind, r.Namespace, r.Name, tt.obj.GetKind(), ns, tt.obj.GetName())
			}
			if r.Reason != tt.wantReason {
				t.Errorf("reason = %q, want %q (message: %s)", r.Reason, tt.wantReason, r.Message)
			}
			if !strings.Contains(r.Message, tt.wantInMsg) {
				t.Errorf("message = %q, want it to mention %q", r.Message, tt.wantInMsg)
			}
			if !strings.Contains(err.Error(), tt.obj.GetKind()+"/"+ns+"/"+tt.obj.GetName()) {
				t.Errorf("error text does not name the object:\n%v", err)
			}
		})
	}
}

// gitServer serves the bare repositories under a temp dir over smart HTTP on
// 127.0.0.1 (the Argo CD repo-server, another process, clones from it).
func gitServer(t *testing.T) (root, url string) {
	t.Helper()
	const backend = "/usr/lib/git-core/git-http-backend"
	if _, err := os.Stat(backend); err != nil {
		t.Fatalf("git http backend: %v (install git)", err)
	}
	root = t.TempDir()
	srv := httptest.NewServer(&cgi.Handler{
		Path: backend,
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	})
	t.Cleanup(srv.Close)
	return root, srv.URL
}

// git runs the git CLI in dir, isolated from the user's configuration.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=dmls e2e", "GIT_AUTHOR_EMAIL=e2e@dmls.invalid",
		"GIT_COMMITTER_NAME=dmls e2e", "GIT_COMMITTER_EMAIL=e2e@dmls.invalid")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestArgoCDSyncsFromGit pushes a TFJob to a git repository served over HTTP
// and checks that Argo CD's controller syncs it into the cluster, and that the
// TFJob health check from argocd-cm follows the job's status.
func TestArgoCDSyncsFromGit(t *testing.T) {
	c := connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ns := newNamespace(t, c, "argocd-sync")
	applySettings(t, c)

	root, base := gitServer(t)
	git(t, root, "init", "--quiet", "--bare", "--initial-branch=main", "train.git")
	git(t, filepath.Join(root, "train.git"), "config", "http.receivepack", "true")
	work := t.TempDir()
	git(t, work, "init", "--quiet", "--initial-branch=main")
	if err := os.MkdirAll(filepath.Join(work, "jobs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "jobs", "tfjob.yaml"), []byte(tfjobManifest(ns, "mnist", "2")), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, work, "add", ".")
	git(t, work, "commit", "--quiet", "-m", "add mnist TFJob")
	want := git(t, work, "rev-parse", "HEAD")
	repoURL := base + "/train.git"
	git(t, work, "push", "--quiet", repoURL, "refs/heads/main:refs/heads/main")

	app := mustObj(t, fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: %s
  namespace: %s
spec:
  project: default
  source:
    repoURL: %s
    targetRevision: main
    path: jobs
  destination:
    server: https://kubernetes.default.svc
    namespace: %s
  syncPolicy:
    automated:
      prune: true
      selfHeal: true
`, ns, ArgoCDNamespace, repoURL, ns))
	apps := c.Dynamic.Resource(applicationGVR).Namespace(ArgoCDNamespace)
	if _, err := apps.Create(ctx, app, metav1.CreateOptions{FieldManager: FieldManager}); err != nil {
		t.Fatalf("create Application: %v", err)
	}
	t.Cleanup(func() {
		_ = apps.Delete(context.Background(), app.GetName(), metav1.DeleteOptions{})
	})

	// waitApp polls the Application until cond holds, logging its status if it never does.
	var last *unstructured.Unstructured
	waitApp := func(what string, timeout time.Duration, cond func(app *unstructured.Unstructured) bool) {
		t.Helper()
		err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
			got, err := apps.Get(ctx, app.GetName(), metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			last = got
			return cond(got), nil
		})
		if err != nil {
			var status map[string]any
			if last != nil {
				status, _, _ = unstructured.NestedMap(last.Object, "status")
			}
			dump, _ := yaml.Marshal(status)
			t.Fatalf("Application %s: %s: %v; last status:\n%s", app.GetName(), what, err, dump)
		}
	}
	field := func(obj *unstructured.Unstructured, path ...string) string {
		s, _, _ := unstructured.NestedString(obj.Object, path...)
		return s
	}

	start := time.Now()
	waitApp("want Synced at "+want, 3*time.Minute, func(a *unstructured.Unstructured) bool {
		return field(a, "status", "sync", "status") == "Synced" && field(a, "status", "sync", "revision") == want
	})
	t.Logf("Synced after %s", time.Since(start).Round(time.Second))

	tfjobs := c.Dynamic.Resource(tfjobGVR).Namespace(ns)
	job, err := tfjobs.Get(ctx, "mnist", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("TFJob synced by Argo CD: %v", err)
	}
	wantTracked(t, job, app.GetName())
	// No training operator runs, so the job has no status and the health
	// check in argocd-cm keeps it Progressing.
	waitApp("want health Progressing", time.Minute, func(a *unstructured.Unstructured) bool {
		return field(a, "status", "health", "status") == "Progressing"
	})

	// Play the training operator: mark the job Succeeded through its status
	// subresource, and the Application turns Healthy.
	now := metav1.Now().UTC().Format(time.RFC3339)
	job.Object["status"] = map[string]any{
		"conditions": []any{map[string]any{
			"type": "Succeeded", "status": "True", "reason": "TFJobSucceeded",
			"message": "TFJob mnist successfully completed.", "lastUpdateTime": now, "lastTransitionTime": now,
		}},
		"replicaStatuses": map[string]any{"Worker": map[string]any{"succeeded": int64(2)}},
	}
	if _, err := tfjobs.UpdateStatus(ctx, job, metav1.UpdateOptions{FieldManager: FieldManager}); err != nil {
		t.Fatalf("update TFJob status: %v", err)
	}
	waitApp("want health Healthy", 2*time.Minute, func(a *unstructured.Unstructured) bool {
		return field(a, "status", "health", "status") == "Healthy"
	})
}
