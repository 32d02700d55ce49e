package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dmls-project/dmls/internal/api"
	"github.com/dmls-project/dmls/internal/gitops"
	"github.com/dmls-project/dmls/internal/gittest"
)

const (
	cliToken  = "cli-research-token-0123"
	cliTokens = "ml-research=" + cliToken + "\n"
)

// apiRepos starts a git server with an ml-model repo holding the bundled
// example workspace and an empty k8s-config repo.
func apiRepos(t *testing.T) *gittest.Server {
	t.Helper()
	g := gittest.Start(t)
	g.CreateRepo(t, "ml-model")
	g.CreateRepo(t, "k8s-config")
	g.CreateRepo(t, "kubeflow-config")
	g.CreateRepo(t, "docs")
	g.Push(t, "ml-model", gittest.Change{Files: apiWorkspace(t), Message: "seed"})
	return g
}

// apiWorkspace is the workspace apiRepos seeds ml-model with: the bundled
// example without its apps.
func apiWorkspace(t *testing.T) map[string]string {
	t.Helper()
	files := map[string]string{}
	for _, p := range []string{"platform.cue", "overlays/dev.cue", "overlays/staging.cue", "overlays/prod.cue",
		"charts/nvidia-device-plugin/Chart.yaml", "charts/nvidia-device-plugin/values.yaml", "charts/nvidia-device-plugin/templates/daemonset.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", p))
		if err != nil {
			t.Fatal(err)
		}
		files[p] = string(b)
	}
	// The submitted jobs set no requests and limits; prod's
	// policy.resources reports them instead of refusing them here.
	files["overlays/prod.cue"] = strings.Replace(files["overlays/prod.cue"], `resources:          "error"`, `resources:          "warn"`, 1)
	return files
}

// startAPI runs an API server in the test process.
func startAPI(t *testing.T, g *gittest.Server) string {
	t.Helper()
	tokens, err := api.ParseTokens(strings.NewReader(cliTokens), "test")
	if err != nil {
		t.Fatal(err)
	}
	return startAPIWith(t, g, tokens)
}

// startAPIWith is startAPI with tokens (nil: none).
func startAPIWith(t *testing.T, g *gittest.Server, tokens *api.Tokens) string {
	t.Helper()
	u, p := g.Credentials()
	s, err := api.New(api.Config{
		MLModel: gitops.Target{Name: "ml-model", URL: g.RepoURL("ml-model")},
		URLs:    map[string]string{"ml-model": g.RepoURL("ml-model"), "k8s-config": g.RepoURL("k8s-config"), "kubeflow-config": g.RepoURL("kubeflow-config"), "docs": g.RepoURL("docs")},
		Auth:    gitops.Auth{Username: u, Password: p},
		Tokens:  tokens,
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	s.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = s.Shutdown(ctx)
		hs.Close()
	})
	for deadline := time.Now().Add(time.Minute); !s.Ready(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("API server not ready")
		}
	}
	return hs.URL
}

// dmls runs the CLI and returns its exit code, stdout and stderr.
func dmls(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestClientCommands drives the API through the client commands.
func TestClientCommands(t *testing.T) {
	g := apiRepos(t)
	url := startAPI(t, g)
	t.Setenv(envServer, url)
	t.Setenv(envToken, cliToken)
	t.Setenv(envTeam, "")
	dir := t.TempDir()
	spec := filepath.Join(dir, "mnist.yaml")
	if err := os.WriteFile(spec, []byte(`name: mnist
training:
  image: registry.example.com/trainer:1.0
  replicas:
    worker: {replicas: 2}
serving:
  model: {storageUri: "pvc://mnist-model/saved"}
overrides:
  prod:
    training: {replicas: {worker: {replicas: 4}}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		args     []string
		code     int
		stdout   []string
		stderr   []string
		notInOut string
	}{
		{args: []string{"whoami"}, stdout: []string{"team ml-research"}},
		{args: []string{"submit", "-f", spec}, stdout: []string{"submit-training-job ml-research/mnist: changed", "submit-model-service ml-research/mnist: changed", "ml-model: ", "k8s-config: ", "Argo CD: mnist-dev, mnist-staging, mnist-prod"}},
		{args: []string{"get", "tj", "mnist"}, stdout: []string{"ml-research/mnist: run 1 (mnist-r1)", "prod: mnist-r1 in ml-research-prod, registry.example.com/trainer:1.0, worker=4"}},
		{args: []string{"set", "mnist", "--replicas", "worker=3", "--hp", "learning_rate=0.2", "--image", "registry.example.com/trainer:1.1"}, stdout: []string{"set-training-job ml-research/mnist: changed"}},
		{args: []string{"retrain", "mnist"}, stdout: []string{"TFJob: mnist-r2"}},
		{args: []string{"set", "mnist", "--env", "dev", "--cpu", "2", "--retrain"}, stdout: []string{"TFJob: mnist-r3"}},
		{args: []string{"list", "trainingjobs"}, stdout: []string{"ml-research/mnist: run 3"}},
		{args: []string{"rollout", "mnist", "--storage-uri", "pvc://mnist-model/v2", "--canary", "20"}, stdout: []string{"rollout ml-research/mnist: changed", "dev: revision v2, traffic mnist-v1 80%, mnist-v2 20%"}},
		{args: []string{"canary", "set", "mnist", "40"}, stdout: []string{"mnist-v1 60%, mnist-v2 40%"}},
		{args: []string{"canary", "promote", "mnist"}, stdout: []string{"dev: revision v2, traffic latest 100%, mnist-v1 0%"}},
		{args: []string{"rollback", "mnist"}, stdout: []string{"mnist-v1 100%, mnist-v2 0%"}},
		{args: []string{"rollout", "mnist", "--env", "dev", "--storage-uri", "pvc://mnist-model/v3"}, stdout: []string{"dev: revision v3"}},
		{args: []string{"promote", "mnist", "--from", "dev"}, stdout: []string{"promote ml-research/mnist: changed", "staging: revision v3"}},
		{args: []string{"get", "ms", "mnist", "-o", "json"}, stdout: []string{`"app": "mnist"`, `"storageUri": "pvc://mnist-model/v3"`}},
		{args: []string{"delete", "modelservice", "mnist"}, stdout: []string{"delete-model-service ml-research/mnist: changed"}},
		// Errors: the API's findings, with their fields, and exit codes.
		{args: []string{"set", "mnist", "--replicas", "worker=0"}, code: 1, stderr: []string{"400 Bad Request", "replicas.worker.replicas: "}},
		{args: []string{"retrain", "nothing"}, code: 1, stderr: []string{"404 Not Found", "no app nothing"}},
		{args: []string{"set", "mnist"}, code: 2, stderr: []string{"nothing to set"}},
		{args: []string{"get", "pods", "x"}, code: 2, stderr: []string{"unknown kind"}},
		{args: []string{"retrain", "mnist", "--team", "ml-serving"}, code: 1, stderr: []string{"403 Forbidden"}},
	}
	for _, s := range steps {
		code, out, errOut := dmls(t, s.args...)
		if code != s.code {
			t.Fatalf("dmls %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(s.args, " "), code, s.code, out, errOut)
		}
		for _, want := range s.stdout {
			if !strings.Contains(out, want) {
				t.Errorf("dmls %s: stdout lacks %q:\n%s", strings.Join(s.args, " "), want, out)
			}
		}
		for _, want := range s.stderr {
			if !strings.Contains(errOut, want) {
				t.Errorf("dmls %s: stderr lacks %q:\n%s", strings.Join(s.args, " "), want, errOut)
			}
		}
		if strings.Contains(out+errOut, cliToken) {
			t.Errorf("dmls %s printed the token", strings.Join(s.args, " "))
		}
	}

	t.Run("token file", func(t *testing.T) {
		t.Setenv(envToken, "")
		if code, _, errOut := dmls(t, "whoami"); code != 2 || !strings.Contains(errOut, "no token") {
			t.Errorf("without a token: %d %s", code, errOut)
		}
		f := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(f, []byte(cliToken+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, out, errOut := dmls(t, "whoami", "--token-file", f, "-o", "json"); code != 0 || !strings.Contains(out, `"team": "ml-research"`) {
			t.Errorf("with --token-file: %d %s %s", code, out, errOut)
		}
	})
}

// TestServe runs dmls serve, waits until it is ready, sends a change with
// the client commands and stops it as SIGTERM would.
func TestServe(t *testing.T) {
	g := apiRepos(t)
	u, p := g.Credentials()
	t.Setenv("DMLS_GIT_USERNAME", u)
	t.Setenv("DMLS_GIT_PASSWORD", p)
	t.Setenv(api.EnvTokens, "")
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte(cliTokens), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := make(chan string, 1)
	serveContext = func() (context.Context, context.CancelFunc) { return ctx, cancel }
	serveListening = func(a string) { addr <- a }
	t.Cleanup(func() {
		serveContext = func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }
		serveListening = func(string) {}
	})
	stderr := &lockedWriter{}
	done := make(chan int, 1)
	go func() {
		done <- Main([]string{"serve", "--listen", "127.0.0.1:0", "--tokens", tokens, "-w", t.TempDir(),
			"--repo", "ml-model=" + g.RepoURL("ml-model"), "--repo", "k8s-config=" + g.RepoURL("k8s-config"), "--repo", "kubeflow-config=" + g.RepoURL("kubeflow-config"),
			"--repo", "docs=" + g.RepoURL("docs")}, io.Discard, stderr)
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case code := <-done:
		t.Fatalf("serve exited with %d: %s", code, stderr.String())
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("dmls serve not ready")
		}
	}
	t.Setenv(envServer, base)
	t.Setenv(envToken, cliToken)
	code, out, errOut := dmls(t, "submit", "-f", writeFile(t, `{"name":"svc","serving":{"image":"registry.example.com/svc:1.0"}}`), "-o", "json")
	if code != 0 {
		t.Fatalf("submit: %d %s", code, errOut)
	}
	var res struct{ Commits []struct{ Repo, SHA string } }
	// ml-model, k8s-config and kubeflow-config (the platform components);
	// the catalog in docs follows the answer.
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Commits) != 3 || res.Commits[1].Repo != "k8s-config" || res.Commits[2].Repo != "kubeflow-config" {
		t.Fatalf("submit answer %s: %v", out, err)
	}
	if res.Commits[0].SHA != g.Head(t, "ml-model", "") {
		t.Errorf("ml-model commit %s, tip %s", res.Commits[0].SHA, g.Head(t, "ml-model", ""))
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exited with %d: %s", code, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("serve did not stop")
	}
	log := stderr.String()
	for _, want := range []string{`"msg":"dmls API listening"`, `"log":"audit"`, `"outcome":"committed"`} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %s:\n%s", want, log)
		}
	}
	if strings.Contains(log, cliToken) || strings.Contains(log, p) {
		t.Error("the log holds a secret")
	}
}

// lockedWriter is a buffer that serve and the test may use at once.
type lockedWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "spec.json")
	if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestServeUsage checks serve's usage errors.
func TestServeUsage(t *testing.T) {
	t.Setenv(api.EnvTokens, "")
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte(cliTokens), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--tokens", tokens}, "--listen ADDR is required"},
		{[]string{"serve", "--listen", "127.0.0.1:0", "-w", "../.."}, "no tokens"},
		{[]string{"serve", "--listen", "127.0.0.1:0", "--tokens", tokens, "-w", t.TempDir()}, "no ml-model repo"},
		{[]string{"serve", "--listen", "127.0.0.1:0", "--tokens", tokens, "--repo", "nope"}, "want NAME=URL"},
		{[]string{"serve", "--listen", "127.0.0.1:0", "--tokens", tokens, "-w", "../..", "--repo", "k8s-confg=x"}, "no repo of that name"},
	}
	for _, tt := range tests {
		code, _, errOut := dmls(t, tt.args...)
		if code != ExitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("dmls %s: exit %d, stderr %q; want %d and %q", strings.Join(tt.args, " "), code, errOut, ExitUsage, tt.want)
		}
	}
}
