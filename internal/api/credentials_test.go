package api

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dmls-project/dmls/internal/gitops"
	"github.com/dmls-project/dmls/internal/gittest"
)

// TestTokenInURLNeverLeaks is issue 18, section 1: with a repo URL in
// GitHub's documented form, the token as the user name
// (http://ghp_…:x-oauth-basic@host/r.git), only the password part was
// masked, and once the git server went down the POST answer, /readyz
// without a token and the server log all held the token.
func TestTokenInURLNeverLeaks(t *testing.T) {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	secret := "ghp_SECRET" + hex.EncodeToString(b)
	r := startRepos(t)
	// A second server on the same root, which takes the token from the
	// URL, and which the test then stops.
	g, err := gittest.Listen("127.0.0.1:0", r.git.Root(), gittest.WithBasicAuth(secret, "x-oauth-basic"), gittest.WithLog(testWriter{t}))
	noErr(t, err)
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = g.Close()
		}
	})
	withToken := func(repo string) string {
		return strings.Replace(g.RepoURL(repo), "http://", "http://"+secret+":x-oauth-basic@", 1)
	}
	var log syncBuffer
	ts := startServer(t, r, func(c *Config) {
		c.MLModel.URL = withToken("ml-model")
		for _, repo := range []string{"ml-model", "k8s-config", "kubeflow-config", "docs"} {
			c.URLs[repo] = withToken(repo)
		}
		c.Auth = gitops.Auth{} // the URL's user info is the only credential
		c.Log = slog.New(slog.NewJSONHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	texts := map[string]string{}
	body, _ := json.Marshal(trainingJob("before"))
	code, _, b2 := ts.do(t, "POST", "/v1/teams/ml-research/trainingjobs", researchToken, body)
	if code != http.StatusAccepted && code != http.StatusCreated {
		t.Fatalf("submit while git is up: %d %s", code, b2)
	}
	texts["answer while up"] = string(b2)
	if dep := r.git.Files(t, "k8s-config", "")["platform/dmls-api/deployment-dmls-api.dmls-system.yaml"]; !strings.Contains(dep, "ml-model="+g.RepoURL("ml-model")) {
		t.Errorf("the dmls-api Deployment does not name ml-model by its URL without the token:\n%s", dep)
	}

	noErr(t, g.Close())
	stopped = true
	body, _ = json.Marshal(trainingJob("during"))
	code, _, b2 = ts.do(t, "POST", "/v1/teams/ml-research/trainingjobs", researchToken, body)
	if code != http.StatusServiceUnavailable || !strings.Contains(string(b2), "127.0.0.1") {
		t.Errorf("submit while git is down: %d %s, want 503 naming the server", code, b2)
	}
	texts["answer while down"] = string(b2)
	code, _, b2 = ts.do(t, "GET", "/readyz", "", nil)
	if code != http.StatusServiceUnavailable || !strings.HasPrefix(string(b2), "not ready: git repo ml-model unreachable\n") {
		t.Errorf("readyz without a token: %d %q", code, b2)
	}
	if strings.Contains(string(b2), "refused") || strings.Contains(string(b2), "http") {
		t.Errorf("readyz without a token tells the error: %q", b2)
	}
	texts["readyz"] = string(b2)
	code, _, b2 = ts.do(t, "GET", "/readyz", researchToken, nil)
	if code != http.StatusServiceUnavailable || !strings.Contains(string(b2), "connection refused") {
		t.Errorf("readyz with a token: %d %q, want the current error", code, b2)
	}
	texts["readyz with a token"] = string(b2)
	texts["metrics"] = ts.metric(t, "dmls_")
	texts["audit"] = ts.audit.String()
	// The server says so in its log from its background loops (the
	// reconciler's read, the readiness probe), which a loaded machine
	// runs late: wait for it.
	for deadline := time.Now().Add(15 * time.Second); !strings.Contains(log.String(), "unreachable") && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	texts["log"] = log.String()
	if !strings.Contains(texts["log"], "unreachable") {
		t.Errorf("the log does not say git is unreachable:\n%s", texts["log"])
	}
	for name, text := range texts {
		if strings.Contains(text, secret) {
			t.Errorf("%s holds the token:\n%s", name, text)
		}
	}
	for _, repo := range []string{"ml-model", "k8s-config", "docs"} {
		if all := r.git.Git(t, repo, "cat-file", "--batch-all-objects", "--batch"); strings.Contains(all, secret) {
			t.Errorf("an object of %s (a file or a commit message) holds the token", repo)
		}
	}
}
