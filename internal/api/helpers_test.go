package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/dmls-project/dmls/internal/apiclient"
	"github.com/dmls-project/dmls/internal/gitops"
	"github.com/dmls-project/dmls/internal/gittest"
)

// Tokens of the test teams.
const (
	researchToken = "research-token-0123456789"
	servingToken  = "serving-token-0123456789"
	adminToken    = "admin-token-0123456789ab"
)

const testTokens = `# test tokens
ml-research=` + researchToken + `
ml-serving/ci-bot=` + servingToken + `
*=` + adminToken + `
`

// repos is a git server with an ml-model repo seeded with a workspace, and
// empty k8s-config and docs repos.
type repos struct {
	git *gittest.Server
}

// seedWorkspace is the workspace the tests start from: the bundled
// example's platform and environments (its repo URLs point nowhere; the
// server gets --repo overrides), the hand-written fashion-mnist app and an
// API-managed app, "ranker".
func seedWorkspace(t testing.TB) map[string]string {
	t.Helper()
	files := map[string]string{}
	for _, p := range []string{"platform.cue", "overlays/dev.cue", "overlays/staging.cue", "overlays/prod.cue",
		"apps/fashion-mnist/app.cue", "apps/fashion-mnist/serving.cue", "apps/fashion-mnist/training.cue",
		"charts/nvidia-device-plugin/Chart.yaml", "charts/nvidia-device-plugin/values.yaml", "charts/nvidia-device-plugin/templates/daemonset.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", p))
		if err != nil {
			t.Fatal(err)
		}
		files[p] = string(b)
	}
	files["overlays/prod.cue"] = relaxResources(t, files["overlays/prod.cue"])
	// The load tests submit hundreds of apps for one team: give it the
	// room, or the quota cross-check (rightly) refuses them.
	big := `quota: {cpu: "1000", memory: "4Ti", gpu: 16, pods: 100000, storage: "100Ti"}`
	if files["platform.cue"] = teamQuota.ReplaceAllString(files["platform.cue"], big); !strings.Contains(files["platform.cue"], big) {
		t.Fatal("the example's platform.cue has no team quota to widen")
	}
	files["apps/ranker/app.json"] = `{
  "name": "ranker",
  "team": "ml-serving",
  "serving": {"image": "registry.example.com/ranker:1.0", "revision": "v1"}
}
`
	return files
}

// relaxResources turns prod's policy.resources from "error" to "warn": the
// tests' jobs and services set no requests and limits, and what they test
// is the API, not that policy (internal/cli's policy corpus tests that).
func relaxResources(t testing.TB, prod string) string {
	t.Helper()
	const from, to = `resources:          "error"`, `resources:          "warn"`
	if !strings.Contains(prod, from) {
		t.Fatalf("overlays/prod.cue has no %s", from)
	}
	return strings.Replace(prod, from, to, 1)
}

func startRepos(t testing.TB) *repos {
	t.Helper()
	return startReposWith(t, 2)
}

// startReposWith is startRepos with a workspace of apps apps: the seed's
// two and API-managed training jobs, pre-0000, pre-0001, ...
func startReposWith(t testing.TB, apps int, opts ...gittest.Option) *repos {
	t.Helper()
	g := gittest.Start(t, opts...)
	g.CreateRepo(t, "ml-model")
	g.CreateRepo(t, "k8s-config")
	g.CreateRepo(t, "kubeflow-config")
	g.CreateRepo(t, "docs")
	files := seedWorkspace(t)
	for i := range apps - 2 {
		name := fmt.Sprintf("pre-%04d", i)
		files["apps/"+name+"/app.json"] = fmt.Sprintf(`{
  "name": %q,
  "team": "ml-research",
  "training": {
    "image": "registry.example.com/trainer:1.%d",
    "hyperparameters": {"learning_rate": 0.01},
    "replicas": {"worker": {"replicas": 2}}
  }
}
`, name, i)
	}
	g.Push(t, "ml-model", gittest.Change{Files: files, Message: "seed"})
	return &repos{git: g}
}

func (r *repos) auth() gitops.Auth {
	u, p := r.git.Credentials()
	return gitops.Auth{Username: u, Password: p}
}

// testServer is an API server on an httptest server.
type testServer struct {
	*Server
	http  *httptest.Server
	audit *syncBuffer
}

type option func(*Config)

// startServer starts an API server against r, and waits until it is ready.
func startServer(t testing.TB, r *repos, opts ...option) *testServer {
	t.Helper()
	ts := newServer(t, r, opts...)
	ts.Start()
	ts.waitReady(t)
	return ts
}

// newServer builds a server without starting its writer.
func newServer(t testing.TB, r *repos, opts ...option) *testServer {
	t.Helper()
	tokens, err := ParseTokens(strings.NewReader(testTokens), "test")
	if err != nil {
		t.Fatal(err)
	}
	audit := &syncBuffer{}
	cfg := Config{
		MLModel: gitops.Target{Name: "ml-model", URL: r.git.RepoURL("ml-model")},
		URLs: map[string]string{
			"ml-model":        r.git.RepoURL("ml-model"),
			"k8s-config":      r.git.RepoURL("k8s-config"),
			"kubeflow-config": r.git.RepoURL("kubeflow-config"),
			"docs":            r.git.RepoURL("docs"),
		},
		Auth:              r.auth(),
		Tokens:            tokens,
		Log:               slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Audit:             slog.New(slog.NewJSONHandler(audit, nil)),
		ReconcileInterval: time.Hour,
	}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s, audit: audit}
	ts.http = httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		ts.http.Close()
	})
	return ts
}

func (ts *testServer) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !ts.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("server not ready after a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// client returns a client with token.
func (ts *testServer) client(token string) *apiclient.Client {
	return &apiclient.Client{BaseURL: ts.http.URL, Token: token, Retries: -1}
}

// do sends a raw request and returns the status, the headers and the body.
func (ts *testServer) do(t testing.TB, method, path, token string, body []byte, header ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, ts.http.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// trainingJob is a valid training job submission for app.
func trainingJob(app string) apiclient.TrainingJobSubmission {
	return apiclient.TrainingJobSubmission{
		Name: app,
		Training: map[string]any{
			"image":           "registry.example.com/trainer:1.0",
			"hyperparameters": map[string]any{"learning_rate": 0.01},
			"replicas":        map[string]any{"worker": map[string]any{"replicas": 2}},
		},
	}
}

// appJSON reads apps/<app>/app.json from the tip of ml-model.
func (r *repos) appJSON(t testing.TB, app string) map[string]any {
	t.Helper()
	files := r.git.Files(t, "ml-model", "")
	b, ok := files["apps/"+app+"/app.json"]
	if !ok {
		t.Fatalf("no apps/%s/app.json in ml-model", app)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(b), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lines returns the audit lines, decoded.
func (s *syncBuffer) lines(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func asError(err error, target **apiclient.Error) bool {
	return errors.As(err, target)
}

// counter reads a Prometheus counter.
func counter(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// dtoHistogram reads the count of a Prometheus histogram.
type dtoHistogram struct{ count float64 }

func (h *dtoHistogram) read(c prometheus.Histogram) {
	var m dto.Metric
	if err := c.Write(&m); err == nil {
		h.count = float64(m.GetHistogram().GetSampleCount())
	}
}

// teamQuota matches the first team's quota in the example's platform.cue.
var teamQuota = regexp.MustCompile(`quota: \{cpu: "16", memory: "64Gi"[^}]*\}`)
