package refresh

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

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

// TestAnnotateRequest checks the requests Annotate makes: a look at the
// Application, then a merge patch of the annotation, on the Application,
// in Argo CD's namespace. While a refresh is already pending (the
// annotation is there), it waits for Argo CD to consume it before asking
// again. The e2e test checks that Argo CD acts on it.
func TestAnnotateRequest(t *testing.T) {
	var got []string
	var mu sync.Mutex
	pending := 0 // GETs that still see a pending refresh
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		got = append(got, strings.TrimSpace(r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type")+" "+string(b)))
		w.Header().Set("Content-Type", "application/json")
		annotations := `{}`
		if r.Method == http.MethodGet && pending > 0 {
			pending--
			annotations = `{"argocd.argoproj.io/refresh":"normal"}`
		}
		_, _ = w.Write([]byte(`{"apiVersion":"argoproj.io/v1alpha1","kind":"Application","metadata":{"name":"x","annotations":` + annotations + `}}`))
	}))
	defer srv.Close()
	pendingPoll = time.Millisecond
	cl := clientFor(t, srv.URL)
	apps := exampleApplications(t)
	n := &Notifier{Config: &spec.Refresh{Annotation: true}, Namespace: "argocd", Applications: apps, Cluster: cl}
	const (
		get   = `GET /apis/argoproj.io/v1alpha1/namespaces/argocd/applications/fashion-mnist-prod`
		patch = `PATCH /apis/argoproj.io/v1alpha1/namespaces/argocd/applications/fashion-mnist-prod application/merge-patch+json {"metadata":{"annotations":{"argocd.argoproj.io/refresh":"normal"}}}`
	)
	for _, tc := range []struct {
		pending int
		want    []string
	}{
		{0, []string{get, patch}},
		// A pending refresh: Annotate looks again until it is gone.
		{2, []string{get, get, get, patch}},
	} {
		mu.Lock()
		got, pending = nil, tc.pending
		mu.Unlock()
		refreshed, warnings := n.Notify(context.Background(), []Push{{URL: apps[0].RepoURL, Modified: []string{"apps/fashion-mnist/overlays/prod/kustomization.yaml"}}})
		if len(warnings) > 0 || !slices.Equal(refreshed, []string{"fashion-mnist-prod"}) {
			t.Fatalf("refreshed %v, warnings %v", refreshed, warnings)
		}
		mu.Lock()
		if !slices.Equal(got, tc.want) {
			t.Errorf("with %d pending: requests\n%q\nwant\n%q", tc.pending, got, tc.want)
		}
		mu.Unlock()
	}
	// A refresh that stays pending past PendingWait: the patch goes out anyway.
	defer func(d time.Duration) { PendingWait = d }(PendingWait)
	PendingWait = 20 * time.Millisecond
	mu.Lock()
	got, pending = nil, 1<<30
	mu.Unlock()
	if _, warnings := n.Notify(context.Background(), []Push{{URL: apps[0].RepoURL, Modified: []string{"apps/fashion-mnist/overlays/prod/kustomization.yaml"}}}); len(warnings) > 0 {
		t.Errorf("warnings %v", warnings)
	}
	mu.Lock()
	if len(got) < 2 || got[len(got)-1] != patch {
		t.Errorf("a refresh pending for good: requests end with %q, want the patch", got[len(got)-1])
	}
	mu.Unlock()
	n.Cluster = nil
	if _, warnings := n.Notify(context.Background(), []Push{{URL: apps[0].RepoURL, Modified: []string{"apps/fashion-mnist/base/x"}}}); len(warnings) != 1 {
		t.Errorf("no cluster: warnings %v", warnings)
	}
}
