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
	"strconv"
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

// TestAnnotateRequest checks the requests Annotate makes: a read of the
// Application, then a merge patch of the annotation with its
// resourceVersion as a precondition, in Argo CD's namespace. The e2e test
// checks that Argo CD acts on it.
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
	refreshed, warnings := n.Notify(context.Background(), []Push{{URL: apps[0].RepoURL, Modified: []string{"apps/fashion-mnist/overlays/prod/kustomization.yaml"}}})
	if len(warnings) > 0 || !slices.Equal(refreshed, []string{"fashion-mnist-prod"}) {
		t.Fatalf("refreshed %v, warnings %v", refreshed, warnings)
	}
	want := []string{
		`GET /apis/argoproj.io/v1alpha1/namespaces/argocd/applications/fashion-mnist-prod`,
		`PATCH /apis/argoproj.io/v1alpha1/namespaces/argocd/applications/fashion-mnist-prod application/merge-patch+json {"metadata":{"annotations":{"argocd.argoproj.io/refresh":"normal"},"resourceVersion":"7"}}`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("requests %q, want %q", got, want)
	}
	n.Cluster = nil
	if _, warnings := n.Notify(context.Background(), []Push{{URL: apps[0].RepoURL, Modified: []string{"apps/fashion-mnist/base/x"}}}); len(warnings) != 1 {
		t.Errorf("no cluster: warnings %v", warnings)
	}
}

// application is one Application as an API server keeps it, enough for
// Annotate: its annotation and resourceVersion, with merge patches that
// honour a resourceVersion precondition (409 otherwise), as the
// kube-apiserver does.
type application struct {
	mu        sync.Mutex
	rv        int
	refresh   bool
	patches   []string
	conflicts int
	// beforePatch runs before each patch is applied.
	beforePatch func(a *application)
}

func (a *application) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodPatch {
		if a.beforePatch != nil {
			a.beforePatch(a)
		}
		var p struct {
			Metadata struct {
				ResourceVersion string            `json:"resourceVersion"`
				Annotations     map[string]string `json:"annotations"`
			} `json:"metadata"`
		}
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &p)
		if rv := p.Metadata.ResourceVersion; rv != "" && rv != strconv.Itoa(a.rv) {
			a.conflicts++
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"apiVersion":"v1","kind":"Status","status":"Failure","reason":"Conflict","code":409,"message":"the object has been modified"}`))
			return
		}
		a.patches = append(a.patches, p.Metadata.ResourceVersion)
		if !a.refresh && p.Metadata.Annotations[AnnotationRefresh] != "" {
			a.refresh = true
			a.rv++
		}
	}
	ann := ""
	if a.refresh {
		ann = `,"annotations":{"` + AnnotationRefresh + `":"normal"}`
	}
	fmt.Fprintf(w, `{"apiVersion":"argoproj.io/v1alpha1","kind":"Application","metadata":{"name":"a","namespace":"argocd","resourceVersion":"%d"%s}}`, a.rv, ann)
}

// refreshed is the controller finishing a refresh: it removes the
// annotation.
func (a *application) refreshed() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.refresh = false
	a.rv++
}

// TestAnnotateDuringRefresh is the race behind a push that waited for
// Argo CD's poll: the annotation of an earlier refresh is still there
// (the controller is refreshing, and will remove it), so setting it again
// would change nothing. Annotate waits until the controller removed it,
// then sets it anew; and a change between its read and its patch makes
// it read again rather than patch blindly.
func TestAnnotateDuringRefresh(t *testing.T) {
	t.Run("a refresh in progress", func(t *testing.T) {
		a := &application{rv: 1, refresh: true}
		srv := httptest.NewServer(a)
		defer srv.Close()
		time.AfterFunc(500*time.Millisecond, a.refreshed)
		start := time.Now()
		if err := Annotate(context.Background(), clientFor(t, srv.URL), "argocd", []string{"a"}); err != nil {
			t.Fatal(err)
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		if took := time.Since(start); took < 500*time.Millisecond || !a.refresh || !slices.Equal(a.patches, []string{"2"}) {
			t.Errorf("after %s: annotation %v, patches at resourceVersions %v; want one patch at 2, after the controller removed the annotation", took, a.refresh, a.patches)
		}
	})
	t.Run("a change between read and patch", func(t *testing.T) {
		a := &application{rv: 1}
		once := sync.Once{}
		a.beforePatch = func(a *application) { once.Do(func() { a.rv++ }) }
		srv := httptest.NewServer(a)
		defer srv.Close()
		if err := Annotate(context.Background(), clientFor(t, srv.URL), "argocd", []string{"a"}); err != nil {
			t.Fatal(err)
		}
		if !a.refresh || a.conflicts != 1 || !slices.Equal(a.patches, []string{"2"}) {
			t.Errorf("annotation %v, %d conflicts, patches at %v; want one conflict, then a patch at 2", a.refresh, a.conflicts, a.patches)
		}
	})
	t.Run("a refresh that never ends", func(t *testing.T) {
		defer func(d time.Duration) { PendingWait = d }(PendingWait)
		PendingWait = 300 * time.Millisecond
		a := &application{rv: 1, refresh: true}
		srv := httptest.NewServer(a)
		defer srv.Close()
		if err := Annotate(context.Background(), clientFor(t, srv.URL), "argocd", []string{"a"}); err != nil {
			t.Fatal(err)
		}
		if !a.refresh || len(a.patches) != 1 {
			t.Errorf("annotation %v, patches %v: want the annotation left set after the wait", a.refresh, a.patches)
		}
	})
}
