package api

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/dmls-project/dmls/internal/gitops"
	"github.com/dmls-project/dmls/internal/gittest"
)

// TestUnreachableGit is issue 8, section 9: git that cannot be reached,
// over any transport, answers 503 with Retry-After, /readyz says so, and
// both recover when git is back. A missing file:// repo used to answer 502
// without Retry-After while /readyz said ok.
func TestUnreachableGit(t *testing.T) {
	type transport struct {
		name string
		// setup returns the ml-model URL, the auth, and functions that take
		// git away and bring it back.
		setup func(t *testing.T, r *repos) (url string, auth gitops.Auth, down, up func())
	}
	transports := []transport{
		{"http server stopped", func(t *testing.T, r *repos) (string, gitops.Auth, func(), func()) {
			// A second server on the same root, so that the first keeps
			// serving k8s-config.
			g, err := gittest.Listen("127.0.0.1:0", r.git.Root())
			if err != nil {
				t.Fatal(err)
			}
			port := strings.TrimPrefix(g.URL, "http://")
			url := g.RepoURL("ml-model")
			u, p := g.Credentials()
			return url, gitops.Auth{Username: u, Password: p},
				func() { _ = g.Close() },
				func() {
					var err error
					if g, err = gittest.Listen(port, r.git.Root()); err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { _ = g.Close() })
				}
		}},
		{"file repo moved away", func(t *testing.T, r *repos) (string, gitops.Auth, func(), func()) {
			dir := r.git.RepoDir("ml-model")
			return "file://" + dir, r.auth(),
				func() { noErr(t, os.Rename(dir, dir+".away")) },
				func() { noErr(t, os.Rename(dir+".away", dir)) }
		}},
		{"ssh server stopped", func(t *testing.T, r *repos) (string, gitops.Auth, func(), func()) {
			pub, priv, err := ed25519.GenerateKey(rand.Reader)
			noErr(t, err)
			block, err := ssh.MarshalPrivateKey(priv, "test")
			noErr(t, err)
			spub, err := ssh.NewPublicKey(pub)
			noErr(t, err)
			ss, err := r.git.ListenSSH("127.0.0.1:0", spub)
			noErr(t, err)
			addr := ss.Addr
			auth := r.auth()
			auth.SSHKey = pem.EncodeToMemory(block)
			auth.SSHKnownHostsFile = ss.KnownHosts
			return ss.RepoURL("ml-model"), auth,
				func() { _ = ss.Close() },
				func() {
					ss2, err := r.git.ListenSSH(addr, spub)
					noErr(t, err)
					t.Cleanup(func() { _ = ss2.Close() })
					// The new server has a new host key, in the same file.
					if ss2.KnownHosts != auth.SSHKnownHostsFile {
						t.Fatalf("known hosts moved: %s", ss2.KnownHosts)
					}
				}
		}},
	}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			r := startRepos(t)
			url, auth, down, up := tr.setup(t, r)
			ts := startServer(t, r, func(c *Config) {
				c.MLModel.URL = url
				c.URLs["ml-model"] = url
				c.Auth = auth
			})
			c := ts.client(researchToken)
			if _, err := c.SubmitTrainingJob(context.Background(), "ml-research", trainingJob("before")); err != nil {
				t.Fatalf("submit while git is up: %v", err)
			}
			if code, _, body := ts.do(t, "GET", "/readyz", "", nil); code != 200 || string(body) != "ok\n" {
				t.Fatalf("readyz while git is up: %d %q", code, body)
			}

			down()
			body, _ := json.Marshal(trainingJob("during"))
			code, h, b := ts.do(t, "POST", "/v1/teams/ml-research/trainingjobs", researchToken, body)
			if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
				t.Fatalf("submit while git is down: %d, Retry-After %q, %s; want 503 with Retry-After", code, h.Get("Retry-After"), b)
			}
			if !strings.Contains(string(b), "unreachable") || !strings.Contains(string(b), "nothing was committed") {
				t.Errorf("503 body does not say git is unreachable and nothing was committed: %s", b)
			}
			code, h, b = ts.do(t, "GET", "/readyz", "", nil)
			if code != http.StatusServiceUnavailable || !strings.Contains(string(b), "ml-model unreachable") || h.Get("Retry-After") == "" {
				t.Fatalf("readyz while git is down: %d %q", code, b)
			}
			if got := ts.metric(t, "dmls_api_git_unreachable"); !strings.Contains(got, `repo="ml-model"} 1`) {
				t.Errorf("metrics while git is down:\n%s", got)
			}

			up()
			if code, _, b := ts.do(t, "GET", "/readyz", "", nil); code != 200 || string(b) != "ok\n" {
				t.Fatalf("readyz after git is back: %d %q", code, b)
			}
			if _, err := c.SubmitTrainingJob(context.Background(), "ml-research", trainingJob("after")); err != nil {
				t.Fatalf("submit after git is back: %v", err)
			}
			files := r.git.Files(t, "ml-model", "")
			for app, want := range map[string]bool{"before": true, "during": false, "after": true} {
				if _, ok := files["apps/"+app+"/app.json"]; ok != want {
					t.Errorf("apps/%s in ml-model: %v, want %v", app, ok, want)
				}
			}
		})
	}

	t.Run("file repo missing from the start", func(t *testing.T) {
		r := startRepos(t)
		missing := t.TempDir() + "/nowhere.git"
		ts := newServer(t, r, func(c *Config) {
			c.MLModel.URL = "file://" + missing
			c.URLs["ml-model"] = "file://" + missing
		})
		ts.Start()
		body, _ := json.Marshal(trainingJob("x"))
		code, h, b := ts.do(t, "POST", "/v1/teams/ml-research/trainingjobs", researchToken, body)
		if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
			t.Fatalf("submit: %d, Retry-After %q, %s; want 503 with Retry-After", code, h.Get("Retry-After"), b)
		}
		if code, _, b := ts.do(t, "GET", "/readyz", "", nil); code != http.StatusServiceUnavailable {
			t.Fatalf("readyz: %d %q, want 503", code, b)
		}
	})
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// metric returns the lines of /metrics that start with name.
func (ts *testServer) metric(t *testing.T, name string) string {
	t.Helper()
	_, _, b := ts.do(t, "GET", "/metrics", "", nil)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, name) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestReadyzProbesEachTime is issue 18, section 4: /readyz answered 200
// for 18 s after ml-model's repo was moved away, until a request failed,
// and then kept reporting an old error. Each probe now lists the refs of
// the repos (git ls-remote) and reports what it finds now.
func TestReadyzProbesEachTime(t *testing.T) {
	r := startRepos(t)
	g, err := gittest.Listen("127.0.0.1:0", r.git.Root())
	noErr(t, err)
	port := strings.TrimPrefix(g.URL, "http://")
	defer func() { _ = g.Close() }()
	u, p := g.Credentials()
	ts := startServer(t, r, func(c *Config) {
		c.MLModel.URL = g.RepoURL("ml-model")
		c.URLs["ml-model"] = g.RepoURL("ml-model")
		c.Auth = gitops.Auth{Username: u, Password: p}
	})
	readyz := func(token string) (int, string) {
		code, _, b := ts.do(t, "GET", "/readyz", token, nil)
		return code, string(b)
	}
	if code, b := readyz(""); code != 200 || b != "ok\n" {
		t.Fatalf("readyz while git is up: %d %q", code, b)
	}

	// The repo moves away: the next probe says so, with no request first.
	dir := r.git.RepoDir("ml-model")
	noErr(t, os.Rename(dir, dir+".away"))
	if code, b := readyz(""); code != http.StatusServiceUnavailable || b != "not ready: git repo ml-model unreachable\n" {
		t.Errorf("readyz after the repo moved away: %d %q, want 503 naming ml-model only", code, b)
	}
	if code, b := readyz(researchToken); code != http.StatusServiceUnavailable || !strings.Contains(b, "ls-remote ml-model") {
		t.Errorf("readyz with a token after the repo moved away: %d %q, want the probe's error", code, b)
	}
	noErr(t, os.Rename(dir+".away", dir))
	if code, b := readyz(""); code != 200 || b != "ok\n" {
		t.Errorf("readyz after the repo is back: %d %q", code, b)
	}

	// The server stops, then comes back refusing the credentials: the
	// error reported is the current one, not the first.
	noErr(t, g.Close())
	if code, b := readyz(researchToken); code != http.StatusServiceUnavailable || !strings.Contains(b, "connection refused") {
		t.Errorf("readyz with the server down: %d %q", code, b)
	}
	g, err = gittest.Listen(port, r.git.Root(), gittest.WithBasicAuth("someone", "else"))
	noErr(t, err)
	code, b := readyz(researchToken)
	if code != http.StatusServiceUnavailable || strings.Contains(b, "connection refused") || !strings.Contains(b, gitops.ErrAuth.Error()) {
		t.Errorf("readyz with the credentials refused: %d %q, want the authentication error and not the old one", code, b)
	}
}

// TestUnknownTeamInTokens is issue 18, section 5: a token of a team the
// platform does not hold (a typo) was accepted silently. The server
// refuses to start, naming the file and the line.
func TestUnknownTeamInTokens(t *testing.T) {
	r := startRepos(t)
	tokens, err := ParseTokens(strings.NewReader("# tokens\nml-research="+researchToken+"\nml-reserch/bob=typo-token-0123456789\n"), "tokens.txt")
	noErr(t, err)
	ts := newServer(t, r, func(c *Config) { c.Tokens = tokens })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	noErr(t, err)
	done := make(chan error, 1)
	go func() { done <- ts.Serve(context.Background(), ln) }()
	select {
	case err := <-done:
		if err == nil || !errors.Is(err, ErrTokens) || !strings.Contains(err.Error(), "tokens.txt:3: team ml-reserch is not a team of the platform; its teams are ml-research, ml-serving") {
			t.Errorf("Serve: %v, want the unknown team at tokens.txt:3", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the server started with a token of an unknown team")
	}
	if ts.Ready() {
		t.Error("the server is ready")
	}
}
