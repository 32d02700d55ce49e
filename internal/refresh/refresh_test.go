package refresh

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	argocdv1alpha1 "github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"github.com/go-playground/webhooks/v6/github"

	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/spec"
	"github.com/dmls-project/dmls/internal/workspace"
)

// exampleApplications are the Applications dmls generates for the bundled
// example.
func exampleApplications(t *testing.T) []Application {
	t.Helper()
	ws, err := workspace.Load(os.DirFS("../.."), ".", workspace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := build.Workspace(ws, build.Options{})
	if err != nil {
		t.Fatal(err)
	}
	apps := Applications(res.ArgoCD)
	if len(apps) < 7 {
		t.Fatalf("only %d Applications: %+v", len(apps), apps)
	}
	return apps
}

func TestAffected(t *testing.T) {
	apps := exampleApplications(t)
	url := apps[0].RepoURL
	for _, tc := range []struct {
		name string
		push Push
		want []string
	}{
		{"one overlay", Push{URL: url, Modified: []string{"apps/fashion-mnist/overlays/staging/kustomization.yaml"}}, []string{"fashion-mnist-staging"}},
		{"the base: every environment", Push{URL: url, Modified: []string{"apps/fashion-mnist/base/tfjob-fashion-mnist-r1.yaml"}}, []string{"fashion-mnist-dev", "fashion-mnist-prod", "fashion-mnist-staging"}},
		{"an environment's Applications", Push{URL: url, Added: []string{"argocd/dev/application-fashion-mnist-dev.argocd.yaml"}}, []string{"dmls-root-dev"}},
		{"team namespaces", Push{URL: url, Deleted: []string{"platform/prod/namespace-ml-serving-prod.yaml"}}, []string{"platform-prod"}},
		{"another repo", Push{URL: "https://git.example.com/other.git", Modified: []string{"apps/fashion-mnist/base/x.yaml"}}, nil},
		{"same repo, other spelling", Push{URL: strings.TrimSuffix(url, ".git") + "/", Modified: []string{"apps/fashion-mnist/overlays/dev/x.yaml"}}, []string{"fashion-mnist-dev"}},
		{"a prefix that is not the folder", Push{URL: url, Modified: []string{"apps/fashion-mnist-2/overlays/dev/x.yaml"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Affected(apps, tc.push); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// argoWebhook parses requests with the parser Argo CD's webhook endpoint
// uses (go-playground/webhooks' GitHub hook, with the shared secret).
type argoWebhook struct {
	mu       sync.Mutex
	payloads []github.PushPayload
	hook     *github.Webhook
}

func (a *argoWebhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, err := a.hook.Parse(r, github.PushEvent)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	a.payloads = append(a.payloads, p.(github.PushPayload))
	a.mu.Unlock()
}

func TestWebhook(t *testing.T) {
	hook, err := github.New(github.Options.Secret("s3cret-shared"))
	if err != nil {
		t.Fatal(err)
	}
	aw := &argoWebhook{hook: hook}
	srv := httptest.NewServer(aw)
	defer srv.Close()
	push := Push{URL: "https://user:tok@git.example.com/dmls/k8s-config.git", Branch: "main", Before: strings.Repeat("a", 40), After: strings.Repeat("b", 40),
		Modified: []string{"apps/fashion-mnist/overlays/dev/kustomization.yaml"}, Added: []string{"apps/x/base/a.yaml"}}
	n := &Notifier{Config: &spec.Refresh{Webhook: &spec.Webhook{URL: srv.URL + "/api/webhook", SecretEnv: "HOOK_SECRET"}},
		Getenv: func(k string) string { return map[string]string{"HOOK_SECRET": "s3cret-shared"}[k] }}
	if _, warnings := n.Notify(context.Background(), []Push{push, {URL: push.URL}}); len(warnings) > 0 {
		t.Fatalf("warnings %v", warnings)
	}
	if len(aw.payloads) != 1 {
		t.Fatalf("%d events, want one (the push that changed nothing is skipped)", len(aw.payloads))
	}
	p := aw.payloads[0]
	// What Argo CD matches Applications with: the web URL (without
	// credentials), the branch and the changed files.
	if p.Repository.HTMLURL != "https://git.example.com/dmls/k8s-config" || p.Ref != "refs/heads/main" || p.Repository.DefaultBranch != "main" ||
		p.After != push.After || len(p.Commits) != 1 || !slices.Equal(p.Commits[0].Modified, push.Modified) || !slices.Equal(p.Commits[0].Added, push.Added) {
		t.Errorf("payload %+v", p)
	}

	// A wrong secret, no secret, an unreachable endpoint: warnings only.
	for name, n := range map[string]*Notifier{
		"wrong secret": {Config: n.Config, Getenv: func(string) string { return "wrong" }},
		"no secret":    {Config: n.Config},
		"unreachable":  {Config: &spec.Refresh{Webhook: &spec.Webhook{URL: "http://127.0.0.1:1/api/webhook", SecretEnv: "X"}}, Getenv: func(string) string { return "s3cret-shared" }},
	} {
		t.Run(name, func(t *testing.T) {
			_, warnings := n.Notify(context.Background(), []Push{push})
			if len(warnings) != 1 || strings.Contains(warnings[0], "s3cret") || strings.Contains(warnings[0], "tok@") {
				t.Errorf("warnings %q", warnings)
			}
		})
	}
}

// TestAnnotateRequest checks the request Annotate makes: one merge patch
// of the refresh annotation and its timestamp, in Argo CD's namespace, as
// Argo CD's util/argo.RefreshApp makes it. The e2e tests check that Argo
// CD acts on it.
func TestAnnotateRequest(t *testing.T) {
	var got []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, strings.TrimSpace(r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type")+" "+string(b)))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"apiVersion":"argoproj.io/v1alpha1","kind":"Application","metadata":{"name":"x","resourceVersion":"7"}}`))
	}))
	defer srv.Close()
	cl := clientFor(t, srv.URL)
	apps := exampleApplications(t)
	n := &Notifier{Config: &spec.Refresh{Annotation: true}, Namespace: "argocd", Applications: apps, Cluster: cl}
	before := time.Now().UTC()
	refreshed, warnings := n.Notify(context.Background(), []Push{{URL: apps[0].RepoURL, Modified: []string{"apps/fashion-mnist/overlays/prod/kustomization.yaml"}}})
	if len(warnings) > 0 || !slices.Equal(refreshed, []string{"fashion-mnist-prod"}) {
		t.Fatalf("refreshed %v, warnings %v", refreshed, warnings)
	}
	if len(got) != 1 {
		t.Fatalf("requests %q, want one patch", got)
	}
	const want = `PATCH /apis/argoproj.io/v1alpha1/namespaces/argocd/applications/fashion-mnist-prod application/merge-patch+json `
	body, ok := strings.CutPrefix(got[0], want)
	if !ok {
		t.Fatalf("request %q, want %q and a body", got[0], want)
	}
	ann := patchedAnnotations(t, []byte(body))
	ts, err := time.Parse(time.RFC3339Nano, ann[AnnotationRefreshTimestamp])
	if len(ann) != 2 || ann[AnnotationRefresh] != "normal" || err != nil || ts.Before(before) || ts.After(time.Now()) {
		t.Errorf("annotations %v (timestamp: %v), want %s normal and the time of the request in %s", ann, err, AnnotationRefresh, AnnotationRefreshTimestamp)
	}
	n.Cluster = nil
	if _, warnings := n.Notify(context.Background(), []Push{{URL: apps[0].RepoURL, Modified: []string{"apps/fashion-mnist/base/x"}}}); len(warnings) != 1 {
		t.Errorf("no cluster: warnings %v", warnings)
	}
}

// TestAnnotationNames holds the annotations to Argo CD's own names.
func TestAnnotationNames(t *testing.T) {
	if AnnotationRefresh != argocdv1alpha1.AnnotationKeyRefresh || AnnotationRefreshTimestamp != argocdv1alpha1.AnnotationKeyRefreshTimestamp {
		t.Errorf("%s and %s; Argo CD reads %s and %s", AnnotationRefresh, AnnotationRefreshTimestamp, argocdv1alpha1.AnnotationKeyRefresh, argocdv1alpha1.AnnotationKeyRefreshTimestamp)
	}
}

func patchedAnnotations(t *testing.T, body []byte) map[string]string {
	t.Helper()
	var p struct {
		Metadata struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("patch %s: %v", body, err)
	}
	return p.Metadata.Annotations
}

// application is one Application as an API server keeps it, enough for
// Annotate: its annotations and resourceVersion, which a merge patch
// advances only when it changes them, as the kube-apiserver does (an
// unchanged object is no event for Argo CD's informer).
type application struct {
	mu          sync.Mutex
	rv          int
	annotations map[string]string
	// conflicts is how many patches to refuse with 409 before accepting.
	conflicts, refused, patches int
}

func (a *application) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodPatch {
		a.patches++
		if a.refused < a.conflicts {
			a.refused++
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"apiVersion":"v1","kind":"Status","status":"Failure","reason":"Conflict","code":409,"message":"the object has been modified"}`))
			return
		}
		b, _ := io.ReadAll(r.Body)
		var p struct {
			Metadata struct {
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
		}
		_ = json.Unmarshal(b, &p)
		changed := false
		for k, v := range p.Metadata.Annotations {
			if a.annotations[k] != v {
				a.annotations[k] = v
				changed = true
			}
		}
		if changed {
			a.rv++
		}
	}
	ann, _ := json.Marshal(a.annotations)
	fmt.Fprintf(w, `{"apiVersion":"argoproj.io/v1alpha1","kind":"Application","metadata":{"name":"a","namespace":"argocd","resourceVersion":"%d","annotations":%s}}`, a.rv, ann)
}

// TestAnnotateWhileRefreshPending: the annotation of an earlier request is
// still there (the controller is refreshing, or lost the request), so
// setting the annotation alone would change nothing, wake nothing, and
// leave the push to Argo CD's next poll of git. Each request of Annotate
// changes the Application at once, without waiting for the controller,
// and a conflict is retried.
func TestAnnotateWhileRefreshPending(t *testing.T) {
	const earlier = "2026-12-07T11:27:18.000000001Z"
	a := &application{rv: 1, annotations: map[string]string{AnnotationRefresh: "normal", AnnotationRefreshTimestamp: earlier}}
	srv := httptest.NewServer(a)
	defer srv.Close()
	cl := clientFor(t, srv.URL)
	var stamps []string
	for i := range 2 {
		if err := Annotate(context.Background(), cl, "argocd", []string{"a"}); err != nil {
			t.Fatal(err)
		}
		a.mu.Lock()
		rv, ts := a.rv, a.annotations[AnnotationRefreshTimestamp]
		a.mu.Unlock()
		if rv != 2+i || slices.Contains(stamps, ts) || ts == earlier {
			t.Fatalf("request %d: resourceVersion %d, timestamp %s after %v: want a change of the Application, with a timestamp of its own", i+1, rv, ts, stamps)
		}
		stamps = append(stamps, ts)
	}

	a.conflicts = 2
	start := time.Now()
	if err := Annotate(context.Background(), cl, "argocd", []string{"a"}); err != nil {
		t.Fatalf("after 2 conflicts: %v", err)
	}
	if a.rv != 4 || a.patches != 5 || time.Since(start) < 2*conflictWait {
		t.Errorf("resourceVersion %d after %d patches in %s, want 4 after 5 (2 refused, each retried after %s)", a.rv, a.patches, time.Since(start), conflictWait)
	}
	a.conflicts, a.refused = conflictRetries, 0
	if err := Annotate(context.Background(), cl, "argocd", []string{"a"}); err == nil || !strings.Contains(err.Error(), "a: ") {
		t.Errorf("refused %d times: err %v, want the Application named", conflictRetries, err)
	}
}
