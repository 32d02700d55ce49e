//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dmls-project/dmls/internal/api"
	"github.com/dmls-project/dmls/internal/apiclient"
	"github.com/dmls-project/dmls/internal/gitops"
	"github.com/dmls-project/dmls/internal/gittest"
	"github.com/dmls-project/dmls/internal/status/kube"
)

// TestAPISubmissionReachesCluster is issue 5, step 8: a data scientist
// submits a training job through the API (dmls serve) and re-trains it;
// each request becomes commits, and Argo CD brings them to the cluster.
func TestAPISubmissionReachesCluster(t *testing.T) {
	c := connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	// The workspace lives in the ml-model repo: the platform and the
	// environments, and no app yet. Argo CD syncs this workspace; see
	// withoutComponents.
	srv := apiRepos(t, func(platform string) string { return withoutComponents(t, platform) }, stubChart)
	repoSecret(t, c, srv, "k8s-config")

	const token = "e2e-research-token-0123456789"
	url := startAPIServer(t, srv, api.Config{Tokens: researchTokens(t, token)})
	client := &apiclient.Client{BaseURL: url, Token: token}

	job := map[string]any{
		"name": "mnist-api",
		"training": map[string]any{
			"image":           "registry.example.com/ml-research/mnist:1.0.0",
			"command":         []string{"python", "/train.py"},
			"hyperparameters": map[string]any{"learning_rate": 0.01},
			// prod's policy requires requests and limits on every container.
			"replicas": map[string]any{"worker": map[string]any{"replicas": 3, "resources": map[string]any{
				"cpu": "500m", "memory": "1Gi", "limits": map[string]any{"cpu": "1", "memory": "2Gi"},
			}}},
		},
	}
	res, err := client.SubmitTrainingJob(ctx, "ml-research", job)
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	t.Logf("submitted: commits %+v, applications %v", res.Commits, res.Applications)
	var k8sSHA string
	for _, cm := range res.Commits {
		if cm.Repo == "k8s-config" {
			k8sSHA = cm.SHA
		}
	}
	if k8sSHA == "" || k8sSHA != srv.Head(t, "k8s-config", "main") {
		t.Fatalf("the answer's k8s-config commit %q is not the repo's tip", k8sSHA)
	}

	// The platform team bootstraps Argo CD from the config repo once.
	bootstrap(t, c, srv, "k8s-config")
	apps := c.Dynamic.Resource(applicationGVR).Namespace(ArgoCDNamespace)
	tfjobs := func(ns string) dynamicGetter { return c.Dynamic.Resource(tfjobGVR).Namespace(ns) }

	// dev trains on one worker (overlays/dev.cue); staging and prod run
	// the three the request asked for.
	want := map[string]int64{"ml-research-dev": 1, "ml-research-staging": 3, "ml-research-prod": 3}
	// Until the new root takes over from the previous test's.
	again := rebootstrap(t, c, srv, "k8s-config")
	eventually(ctx, t, apps, "the submitted job runs in every environment", 6*time.Minute, func() (bool, string) {
		again()
		refreshApps(ctx, apps)
		for ns, workers := range want {
			j, err := tfjobs(ns).Get(ctx, "mnist-api-r1", metav1.GetOptions{})
			if err != nil {
				return false, fmt.Sprintf("%s: %v", ns, err)
			}
			if got := num(j, "spec", "tfReplicaSpecs", "Worker", "replicas"); got != workers {
				return false, fmt.Sprintf("%s: %d workers, want %d", ns, got, workers)
			}
		}
		return true, ""
	})

	// A re-training is a new run: mnist-api-r2 replaces mnist-api-r1.
	if _, err := client.Retrain(ctx, "ml-research", "mnist-api"); err != nil {
		t.Fatalf("retrain: %v", err)
	}
	eventually(ctx, t, apps, "the re-training replaces the run", 4*time.Minute, func() (bool, string) {
		refreshApps(ctx, apps)
		for ns := range want {
			if _, err := tfjobs(ns).Get(ctx, "mnist-api-r2", metav1.GetOptions{}); err != nil {
				return false, fmt.Sprintf("%s: r2: %v", ns, err)
			}
			if _, err := tfjobs(ns).Get(ctx, "mnist-api-r1", metav1.GetOptions{}); err == nil {
				return false, ns + ": r1 still there"
			}
		}
		return true, ""
	})
}

// apiRepos starts a git server whose ml-model repo holds the example's
// platform (as edit changes it), its environments and the files of extra,
// and no app yet; and empty config repos.
func apiRepos(t *testing.T, edit func(platform string) string, extra map[string]string) *gittest.Server {
	t.Helper()
	srv := gittest.Start(t)
	for _, repo := range []string{"ml-model", "k8s-config", "kubeflow-config", "docs"} {
		srv.CreateRepo(t, repo)
	}
	seed := map[string]string{}
	for _, p := range []string{"platform.cue", "overlays/dev.cue", "overlays/staging.cue", "overlays/prod.cue",
		"charts/nvidia-device-plugin/Chart.yaml", "charts/nvidia-device-plugin/values.yaml", "charts/nvidia-device-plugin/templates/daemonset.yaml"} {
		b, err := os.ReadFile("../../" + p)
		if err != nil {
			t.Fatal(err)
		}
		seed[p] = string(b)
	}
	seed["platform.cue"] = edit(seed["platform.cue"])
	for p, data := range extra {
		seed[p] = data
	}
	srv.Push(t, "ml-model", gittest.Change{Files: seed, Message: "seed the workspace"})
	return srv
}

// startAPIServer runs an API server over srv's repos with cfg's tokens
// and reviewer until the test ends, and returns its URL once it is ready.
func startAPIServer(t *testing.T, srv *gittest.Server, cfg api.Config) string {
	t.Helper()
	url, _ := serveAPI(t, newAPIServer(t, srv, cfg))
	return url
}

// newAPIServer is api.New of cfg with the repos of srv (their URLs and
// credentials) and a discarded log.
func newAPIServer(t *testing.T, srv *gittest.Server, cfg api.Config) *api.Server {
	t.Helper()
	user, pass := srv.Credentials()
	cfg.MLModel = gitops.Target{Name: "ml-model", URL: srv.RepoURL("ml-model")}
	cfg.URLs = map[string]string{"ml-model": srv.RepoURL("ml-model"), "k8s-config": srv.RepoURL("k8s-config"), "kubeflow-config": srv.RepoURL("kubeflow-config"), "docs": srv.RepoURL("docs")}
	cfg.Auth = gitops.Auth{Username: user, Password: pass}
	name := "dmls serve"
	if cfg.Lease != nil {
		name += " " + cfg.Lease.Identity
	}
	cfg.Log = slog.New(slog.NewTextHandler(serverLogs(t, name), nil))
	s, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// serverLog keeps the last lines an API server of a test logged, to be
// shown when the test fails (see eventually), without the answers to
// successful reads, which a test polls with.
type serverLog struct {
	mu    sync.Mutex
	lines []string
	part  []byte
}

// serverLogLines is how many of a server's last lines a failure shows.
const serverLogLines = 40

func (l *serverLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.part = append(l.part, p...)
	for {
		i := bytes.IndexByte(l.part, '\n')
		if i < 0 {
			break
		}
		if line := string(l.part[:i]); !strings.Contains(line, `msg="api request"`) || !strings.Contains(line, " method=GET ") || !strings.Contains(line, " status=200 ") {
			l.lines = append(l.lines, line)
		}
		l.part = l.part[i+1:]
		if len(l.lines) > 2*serverLogLines {
			l.lines = slices.Clone(l.lines[len(l.lines)-serverLogLines:])
		}
	}
	return len(p), nil
}

func (l *serverLog) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines[max(0, len(l.lines)-serverLogLines):], "\n")
}

// serverLogs returns the writer of the log of API server name in test t,
// whose last lines a failure of eventually shows.
func serverLogs(t *testing.T, name string) io.Writer {
	l := &serverLog{}
	onFailure(t, func() string { return name + ", its last lines:\n" + l.tail() })
	return l
}

// researchTokens are the API tokens of one ml-research token.
func researchTokens(t *testing.T, token string) *api.Tokens {
	t.Helper()
	tokens, err := api.ParseTokens(strings.NewReader("ml-research/e2e="+token+"\n"), "e2e")
	if err != nil {
		t.Fatal(err)
	}
	return tokens
}

// clusterStatus reads live status from the e2e cluster (KUBECONFIG).
func clusterStatus(t *testing.T) *kube.Clusters {
	t.Helper()
	clusters, err := kube.New(kube.Options{Kubeconfig: os.Getenv("KUBECONFIG")})
	if err != nil {
		t.Fatal(err)
	}
	return clusters
}

// serveAPI starts s on an httptest server until the test ends (or stop),
// and returns its URL once it is ready.
func serveAPI(t *testing.T, s *api.Server) (url string, stop func()) {
	t.Helper()
	hs := httptest.NewServer(s.Handler())
	s.Start()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
			defer scancel()
			_ = s.Shutdown(sctx)
			hs.Close()
		})
	}
	t.Cleanup(stop)
	for deadline := time.Now().Add(time.Minute); !s.Ready(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("API server not ready")
		}
	}
	return hs.URL, stop
}
