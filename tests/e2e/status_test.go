//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/dmls-project/dmls/internal/api"
	"github.com/dmls-project/dmls/internal/cli"
	"github.com/dmls-project/dmls/internal/gittest"
	"github.com/dmls-project/dmls/internal/status"
	"github.com/dmls-project/dmls/internal/status/kube"
	"github.com/dmls-project/dmls/internal/status/reads"
)

// statusOf runs dmls status for fashion-mnist in dev and decodes its view.
func statusOf(t *testing.T, ws, url string) status.Environment {
	t.Helper()
	out := dmls(t, "status", "fashion-mnist", "--env", "dev", "-w", ws, "--repo", "k8s-config="+url, "-o", "json")
	var v status.View
	if err := json.Unmarshal([]byte(out), &v); err != nil || len(v.Environments) != 1 {
		t.Fatalf("dmls status: %v\n%s", err, out)
	}
	return v.Environments[0]
}

// TestStatusAndRefresh is issue 14 end to end: dmls status --wait follows
// a published app, the states follow the TFJob's and the Knative
// Service's status (written here as their controllers would), the API's
// status route and event stream say the same, dmls serve's Roles are
// enough to read it all, and a publish reaches Synced within seconds
// because dmls publish refreshes the changed Applications, with the
// controller polling git at Argo CD's default of 180 s.
func TestStatusAndRefresh(t *testing.T) {
	c := connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	srv := gittest.Start(t)
	url := srv.CreateRepo(t, "k8s-config")
	docs := srv.CreateRepo(t, "docs")
	infra := srv.CreateRepo(t, "infra")
	kf := srv.CreateRepo(t, "kubeflow-config")
	user, pass := srv.Credentials()
	t.Setenv("DMLS_GIT_USERNAME", user)
	t.Setenv("DMLS_GIT_PASSWORD", pass)
	repoSecret(t, c, srv, "k8s-config")
	repoSecret(t, c, srv, "kubeflow-config")
	ws := copyExample(t)
	dmls(t, "publish", "-w", ws, "--repo", "k8s-config="+url, "--repo", "docs="+docs, "--repo", "infra="+infra, "--repo", "kubeflow-config="+kf)
	bootstrap(t, c, srv, "k8s-config")
	apps := c.Dynamic.Resource(applicationGVR).Namespace(ArgoCDNamespace)

	// dmls status --wait, in the background, until the end of the story.
	type result struct {
		code     int
		out, err string
	}
	waited := make(chan result, 1)
	waitStart := time.Now()
	go func() {
		var out, errb bytes.Buffer
		code := cli.Main([]string{"status", "fashion-mnist", "--env", "dev", "--wait", "--timeout", "8m", "-w", ws, "--repo", "k8s-config=" + url}, &out, &errb)
		waited <- result{code, out.String(), errb.String()}
	}()

	published := srv.Head(t, "k8s-config", "main")
	// Until the new root takes over from the previous test's (the CI run
	// of cd08e5a waited here 6 minutes: the old root had put back its
	// AppProject, which refused this test's repo).
	again := rebootstrap(t, c, srv, "k8s-config")
	eventually(ctx, t, apps, "dmls status: fashion-mnist in dev at the published commit", 6*time.Minute, func() (bool, string) {
		again()
		e := statusOf(t, ws, url)
		ok := e.Application != nil && e.Application.Sync == "Synced" && e.Application.Revision == e.Commit && e.Commit == published
		return ok, fmt.Sprintf("%s: %s", e.State, e.Reason)
	})
	// No controller runs: the TFJob and the Service have no status yet.
	if e := statusOf(t, ws, url); e.State != status.Deploying || e.Training.State != status.Deploying {
		t.Errorf("before any status: %s (%s)", e.State, e.Reason)
	}

	// Play Knative: the Service is ready, with the traffic of the spec.
	ksvcs := c.Dynamic.Resource(kserviceGVR).Namespace("ml-research-dev")
	svc, err := ksvcs.Get(ctx, "fashion-mnist", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.Now().UTC().Format(time.RFC3339)
	svc.Object["status"] = map[string]any{
		"observedGeneration": svc.GetGeneration(),
		"conditions": []any{
			map[string]any{"type": "ConfigurationsReady", "status": "True", "lastTransitionTime": now},
			map[string]any{"type": "Ready", "status": "True", "lastTransitionTime": now},
			map[string]any{"type": "RoutesReady", "status": "True", "lastTransitionTime": now},
		},
		"url":                       "http://fashion-mnist.ml-research-dev.example.com",
		"latestCreatedRevisionName": "fashion-mnist-v2",
		"latestReadyRevisionName":   "fashion-mnist-v2",
		"traffic":                   []any{map[string]any{"revisionName": "fashion-mnist-v2", "percent": int64(100), "latestRevision": false}},
	}
	if _, err := ksvcs.UpdateStatus(ctx, svc, metav1.UpdateOptions{FieldManager: FieldManager}); err != nil {
		t.Fatalf("update Service status: %v", err)
	}
	// Play the training operator: Running.
	tfjobs := c.Dynamic.Resource(tfjobGVR).Namespace("ml-research-dev")
	setJob := func(conds []any, replicas map[string]any) {
		t.Helper()
		job, err := tfjobs.Get(ctx, "fashion-mnist-r1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		job.Object["status"] = map[string]any{"conditions": conds, "replicaStatuses": replicas, "startTime": now}
		if _, err := tfjobs.UpdateStatus(ctx, job, metav1.UpdateOptions{FieldManager: FieldManager}); err != nil {
			t.Fatalf("update TFJob status: %v", err)
		}
	}
	cond := func(typ, status, reason string) map[string]any {
		return map[string]any{"type": typ, "status": status, "reason": reason, "lastUpdateTime": now, "lastTransitionTime": now}
	}
	setJob([]any{cond("Created", "True", "TFJobCreated"), cond("Running", "True", "TFJobRunning")},
		map[string]any{"Worker": map[string]any{"active": int64(2)}})
	eventually(ctx, t, apps, "dmls status: Running", time.Minute, func() (bool, string) {
		e := statusOf(t, ws, url)
		return e.State == status.Running && e.Training.Replicas["Worker"].Active == 2 && e.Serving.State == status.Serving, fmt.Sprintf("%s: %s", e.State, e.Reason)
	})

	// The API says the same, and streams the change.
	base, stopAPI := startStatusAPI(t, ctx, srv, ws)
	get := func() status.Environment {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/teams/ml-research/trainingjobs/fashion-mnist/status?env=dev", nil)
		req.Header.Set("Authorization", "Bearer "+statusToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v status.View
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != 200 || len(v.Environments) != 1 {
			t.Fatalf("status route: %d %v", resp.StatusCode, err)
		}
		return v.Environments[0]
	}
	// The API server published the config too, which changed only its
	// own component: the app's commit is still the one dmls published.
	if e := get(); e.State != status.Running || e.Commit != published {
		t.Errorf("the API says %s (%s) at %s", e.State, e.Reason, e.Commit)
	}
	events := streamStatus(t, ctx, base+"/v1/teams/ml-research/trainingjobs/fashion-mnist/status?env=dev&watch=true")
	if e := <-events; e.State != status.Running {
		t.Errorf("first event: %s (%s)", e.State, e.Reason)
	}

	// Succeeded: the app is trained and serves.
	setJob([]any{cond("Created", "True", "TFJobCreated"), cond("Running", "False", "TFJobRunning"), cond("Succeeded", "True", "TFJobSucceeded")},
		map[string]any{"Worker": map[string]any{"succeeded": int64(2)}})
	select {
	case e := <-events:
		if e.Training.State != status.Succeeded {
			t.Errorf("event after Succeeded: training %s, state %s (%s)", e.Training.State, e.State, e.Reason)
		}
	case <-time.After(time.Minute):
		t.Error("no event within a minute of the TFJob's success")
	}
	eventually(ctx, t, apps, "dmls status: trained and Serving", time.Minute, func() (bool, string) {
		e := statusOf(t, ws, url)
		return e.State == status.Serving && e.Training.State == status.Succeeded, fmt.Sprintf("%s: %s", e.State, e.Reason)
	})
	select {
	case r := <-waited:
		t.Logf("dmls status --wait returned %d after %s:\n%s%s", r.code, time.Since(waitStart).Round(time.Second), r.out, r.err)
		if r.code != 0 || !strings.Contains(r.out, "Running") || !strings.Contains(r.out, "Serving") {
			t.Errorf("dmls status --wait: exit %d", r.code)
		}
	case <-time.After(time.Minute):
		t.Error("dmls status --wait did not return once the app served")
	}
	if e := get(); e.State != status.Serving {
		t.Errorf("the API says %s (%s)", e.State, e.Reason)
	}

	// The API server would put back what its ml-model generates (its
	// reconcile), so it stops before the workspace changes below.
	stopAPI()

	// dmls serve's Roles (synced by Argo CD from platform/dmls-api) are
	// enough to read all this, and allow no write.
	checkServeRoles(t, ctx, c, apps)

	// Refresh after push: with the controller polling git every 180 s,
	// the change is Synced within seconds because dmls publish set the
	// refresh annotation on exactly the changed Application.
	editFile(t, filepath.Join(ws, "apps/fashion-mnist/training.cue"), "overrides: dev: training: replicas: worker: replicas: 2", "overrides: dev: training: replicas: worker: replicas: 3")
	start := time.Now()
	out := dmls(t, "publish", "-w", ws, "--repo", "k8s-config="+url, "--repo", "docs="+docs, "--repo", "infra="+infra, "--repo", "kubeflow-config="+kf)
	tip := srv.Head(t, "k8s-config", "main")
	t.Logf("dmls publish:\n%s", out)
	// Exactly the Applications whose sources changed: dev's, and the API
	// server's component, which the API server had published with its own
	// repo URLs.
	if !strings.Contains(out, "argocd: refreshed ") || !strings.Contains(out, "fashion-mnist-dev") || strings.Contains(out, "fashion-mnist-staging") || strings.Contains(out, "fashion-mnist-prod") {
		t.Errorf("publish did not refresh exactly the changed Applications:\n%s", out)
	}
	var synced time.Duration
	for synced == 0 {
		a, err := apps.Get(ctx, "fashion-mnist-dev", metav1.GetOptions{})
		if err == nil && str(a, "status", "sync", "status") == "Synced" && str(a, "status", "sync", "revision") == tip {
			synced = time.Since(start)
			break
		}
		if time.Since(start) > 90*time.Second {
			t.Fatalf("fashion-mnist-dev not Synced at %s within 90 s of publishing\n%s", tip, appSummary(ctx, apps))
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("publish → Synced in %s (Argo CD polls every %ss)", synced.Round(100*time.Millisecond), os.Getenv("E2E_APP_RESYNC_SECONDS"))
	if synced > 10*time.Second {
		t.Errorf("publish → Synced took %s, want ≤ 10 s", synced)
	}
	if got, err := tfjobs.Get(ctx, "fashion-mnist-r1", metav1.GetOptions{}); err != nil || num(got, "spec", "tfReplicaSpecs", "Worker", "replicas") != 3 {
		t.Errorf("dev workers not 3 after the sync: %v", err)
	}

	webhookRefresh(t, ctx, srv, ws, url, docs, infra, apps, tfjobs)
}

// webhookRefresh is the webhook mode of refresh after push: with
// argocd.refresh.webhook, dmls publish posts a signed GitHub push event
// to Argo CD's real webhook endpoint (argocd-server's /api/webhook, which
// checks the signature with webhook.github.secret of argocd-secret, finds
// the Applications of the pushed repo and branch, and refreshes them),
// and touches no Application itself. With the controller polling git
// every 180 s, the change is Synced within seconds.
func webhookRefresh(t *testing.T, ctx context.Context, srv *gittest.Server, ws, url, docs, infra string, apps dynamic.ResourceInterface, tfjobs dynamicGetter) {
	t.Helper()
	kf := srv.RepoURL("kubeflow-config")
	endpoint, secretFile := os.Getenv("E2E_ARGOCD_WEBHOOK_URL"), os.Getenv("E2E_ARGOCD_WEBHOOK_SECRET_FILE")
	if endpoint == "" || secretFile == "" {
		t.Fatal("E2E_ARGOCD_WEBHOOK_URL and E2E_ARGOCD_WEBHOOK_SECRET_FILE are not set: run the tests with make e2e (cluster.sh env)")
	}
	secret, err := os.ReadFile(secretFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("DMLS_ARGOCD_WEBHOOK_SECRET", strings.TrimSpace(string(secret)))
	editFile(t, filepath.Join(ws, "platform.cue"), "refresh: annotation: true", "refresh: webhook: url: "+strconv.Quote(endpoint))

	// A wrong secret: Argo CD refuses the event, which is a warning, not a
	// failed publish.
	t.Setenv("DMLS_ARGOCD_WEBHOOK_SECRET", "not-the-secret")
	editFile(t, filepath.Join(ws, "apps/fashion-mnist/training.cue"), "overrides: dev: training: replicas: worker: replicas: 3", "overrides: dev: training: replicas: worker: replicas: 4")
	var out, errb bytes.Buffer
	if code := cli.Main([]string{"publish", "-w", ws, "--repo", "k8s-config=" + url, "--repo", "docs=" + docs, "--repo", "infra=" + infra, "--repo", "kubeflow-config=" + kf}, &out, &errb); code != 0 ||
		!strings.Contains(errb.String(), "dmls: warning: Argo CD not notified: webhook "+endpoint) || strings.Contains(errb.String(), "not-the-secret") {
		t.Errorf("publish with a wrong webhook secret: exit %d\n%s%s", code, out.String(), errb.String())
	}
	t.Logf("with a wrong secret:\n%s", errb.String())
	t.Setenv("DMLS_ARGOCD_WEBHOOK_SECRET", strings.TrimSpace(string(secret)))

	// (dev allows at most 4 workers.)
	editFile(t, filepath.Join(ws, "apps/fashion-mnist/training.cue"), "overrides: dev: training: replicas: worker: replicas: 4", "overrides: dev: training: replicas: worker: replicas: 1")
	start := time.Now()
	pub := dmls(t, "publish", "-w", ws, "--repo", "k8s-config="+url, "--repo", "docs="+docs, "--repo", "infra="+infra, "--repo", "kubeflow-config="+kf)
	tip := srv.Head(t, "k8s-config", "main")
	t.Logf("dmls publish (webhook):\n%s", pub)
	if strings.Contains(pub, "argocd: refreshed") {
		t.Errorf("in webhook mode, publish annotated Applications itself:\n%s", pub)
	}
	var synced time.Duration
	for synced == 0 {
		a, err := apps.Get(ctx, "fashion-mnist-dev", metav1.GetOptions{})
		if err == nil && str(a, "status", "sync", "status") == "Synced" && str(a, "status", "sync", "revision") == tip {
			synced = time.Since(start)
			break
		}
		if time.Since(start) > 90*time.Second {
			t.Fatalf("fashion-mnist-dev not Synced at %s within 90 s of publishing with the webhook\n%s\n%s", tip, appSummary(ctx, apps), argoServerLog(t))
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("publish → Synced through Argo CD's webhook in %s (Argo CD polls every %ss)", synced.Round(100*time.Millisecond), os.Getenv("E2E_APP_RESYNC_SECONDS"))
	if synced > 10*time.Second {
		t.Errorf("publish → Synced through the webhook took %s, want ≤ 10 s", synced)
	}
	if got, err := tfjobs.Get(ctx, "fashion-mnist-r1", metav1.GetOptions{}); err != nil || num(got, "spec", "tfReplicaSpecs", "Worker", "replicas") != 1 {
		t.Errorf("dev workers not 1 after the sync: %v", err)
	}
	if log := argoServerLog(t); !strings.Contains(log, "Received push event repo: "+strings.TrimSuffix(url, ".git")) {
		t.Errorf("argocd-server's log does not show the push event for %s:\n%s", url, log)
	}
}

// argoServerLog is the end of argocd-server's log (cluster.sh's run
// directory).
func argoServerLog(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(os.Getenv("E2E_RUN_DIR"), "logs", "argocd-server.log"))
	if err != nil {
		return err.Error()
	}
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	return string(b)
}

const statusToken = "e2e-status-token-0123456789"

var roleGVR = schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"}

// startStatusAPI runs dmls serve's API with live status from the e2e
// cluster, on an ml-model repo holding the workspace ws.
func startStatusAPI(t *testing.T, ctx context.Context, srv *gittest.Server, ws string) (string, func()) {
	t.Helper()
	srv.CreateRepo(t, "ml-model") // kubeflow-config exists: the test published to it
	files := map[string]string{}
	err := filepath.Walk(ws, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(ws, p)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Push(t, "ml-model", gittest.Change{Files: files, Message: "the workspace"})
	return serveAPI(t, newAPIServer(t, srv, api.Config{Tokens: researchTokens(t, statusToken), Status: clusterStatus(t)}))
}

// streamStatus opens a status event stream and sends the environment of
// each event.
func streamStatus(t *testing.T, ctx context.Context, url string) <-chan status.Environment {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+statusToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	ch := make(chan status.Environment, 16)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var v status.View
				if json.Unmarshal([]byte(data), &v) == nil && len(v.Environments) == 1 {
					ch <- v.Environments[0]
				}
			}
		}
	}()
	return ch
}

// checkServeRoles reads the status as dmls serve's ServiceAccount
// (impersonated), once Argo CD has synced its Roles: no read is refused,
// and a write is.
func checkServeRoles(t *testing.T, ctx context.Context, c *Cluster, apps appLister) {
	t.Helper()
	roles := c.Dynamic.Resource(roleGVR)
	eventually(ctx, t, apps, "dmls serve's Roles synced", 4*time.Minute, func() (bool, string) {
		refreshApps(ctx, apps)
		for _, ns := range []string{ArgoCDNamespace, "ml-research-dev"} {
			if _, err := roles.Namespace(ns).Get(ctx, "dmls-api-status", metav1.GetOptions{}); err != nil {
				return false, err.Error()
			}
		}
		return true, ""
	})
	cfg := rest.CopyConfig(c.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:dmls-system:dmls-api"}
	as, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cl := &kube.Clusters{ArgoCD: as, ArgoCDNamespace: ArgoCDNamespace}
	e := cl.Read(ctx, kube.Target{Env: "dev", Namespace: "ml-research-dev", Application: "fashion-mnist-dev", TFJob: "fashion-mnist-r1", Run: 1,
		ServingKind: reads.KindKnativeService, ServingName: "fashion-mnist"}, nil)
	if e.Error != "" || e.State != status.Serving {
		t.Errorf("as dmls serve: %s (%s) %s", e.State, e.Reason, e.Error)
	}
	_, err = as.Resource(tfjobGVR).Namespace("ml-research-dev").Patch(ctx, "fashion-mnist-r1", types.MergePatchType, []byte(`{"metadata":{"labels":{"x":"y"}}}`), metav1.PatchOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("dmls serve may patch a TFJob: %v", err)
	}
}
