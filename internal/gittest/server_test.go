package gittest_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/dmls-project/dmls/internal/gittest"
)

func TestPushAndInspect(t *testing.T) {
	s := gittest.Start(t)
	url := s.CreateRepo(t, "team/config")
	if want := s.URL + "/team/config.git"; url != want {
		t.Fatalf("url = %q, want %q", url, want)
	}
	if got := s.Head(t, "team/config", ""); got != "" {
		t.Fatalf("head of empty repo = %q, want empty", got)
	}
	if got := s.Git(t, "team/config", "symbolic-ref", "HEAD"); strings.TrimSpace(got) != "refs/heads/main" {
		t.Fatalf("HEAD = %q, want refs/heads/main", got)
	}

	first := s.Push(t, "team/config", gittest.Change{
		Files:   map[string]string{"a.txt": "A\n", "dir/b.txt": "B"},
		Message: "first",
	})
	second := s.Push(t, "team/config", gittest.Change{
		Files:    map[string]string{"c.txt": "C"},
		Symlinks: map[string]string{"dir/link": "b.txt"},
		Delete:   []string{"a.txt"},
		Message:  "second\n\nbody",
	})
	if first == second || len(second) != 40 {
		t.Fatalf("commits %q and %q", first, second)
	}
	if got := s.Head(t, "team/config", "main"); got != second {
		t.Fatalf("head = %q, want %q", got, second)
	}
	if got := s.Head(t, "team/config", "main~1"); got != first {
		t.Fatalf("main~1 = %q, want %q", got, first)
	}
	if got := s.Files(t, "team/config", first)["a.txt"]; got != "A\n" {
		t.Fatalf("a.txt at the first commit = %q", got)
	}
	if got := s.Head(t, "team/config", "refs/heads/nope"); got != "" {
		t.Fatalf("missing ref resolves to %q", got)
	}
	if got := s.CommitCount(t, "team/config", "main"); got != 2 {
		t.Fatalf("commit count = %d, want 2", got)
	}
	if got, want := s.Messages(t, "team/config", "main"), []string{"second\n\nbody", "first"}; !slices.Equal(got, want) {
		t.Fatalf("messages = %q, want %q", got, want)
	}
	files := s.Files(t, "team/config", "main")
	want := map[string]string{"c.txt": "C", "dir/b.txt": "B", "dir/link": "b.txt"}
	if len(files) != len(want) {
		t.Fatalf("files = %q, want %q", files, want)
	}
	for p, c := range want {
		if files[p] != c {
			t.Fatalf("files[%q] = %q, want %q", p, files[p], c)
		}
	}
	if got := s.Pushes("team/config"); got != 2 {
		t.Fatalf("pushes = %d, want 2", got)
	}
}

func TestOtherBranch(t *testing.T) {
	s := gittest.Start(t)
	s.CreateRepo(t, "r")
	s.Push(t, "r", gittest.Change{Branch: "env/prod", Files: map[string]string{"x": "1"}})
	if got := s.CommitCount(t, "r", "main"); got != 0 {
		t.Fatalf("main has %d commits, want 0", got)
	}
	if got := s.Files(t, "r", "env/prod")["x"]; got != "1" {
		t.Fatalf("x = %q", got)
	}
}

// A pack above the git CLI's 1 MiB http.postBuffer is sent chunked, which net/http/cgi refuses.
func TestLargePushIsSpooled(t *testing.T) {
	s := gittest.Start(t)
	s.CreateRepo(t, "big")
	buf := make([]byte, 2<<20)
	if _, err := rand.Read(buf); err != nil {
		t.Fatal(err)
	}
	content := hex.EncodeToString(buf) // incompressible enough to stay above the buffer
	s.Push(t, "big", gittest.Change{Files: map[string]string{"blob": content}})
	if got := s.Files(t, "big", "main")["blob"]; got != content {
		t.Fatalf("blob has %d bytes, want %d", len(got), len(content))
	}
}

func TestBasicAuth(t *testing.T) {
	s := gittest.Start(t, gittest.WithBasicAuth("alice", "s3cret"))
	s.CreateRepo(t, "r")
	tests := []struct {
		name       string
		user, pass string
		noAuth     bool
		wantStatus int
	}{
		{name: "no credentials", noAuth: true, wantStatus: http.StatusUnauthorized},
		{name: "wrong password", user: "alice", pass: "nope", wantStatus: http.StatusUnauthorized},
		{name: "wrong user", user: "bob", pass: "s3cret", wantStatus: http.StatusUnauthorized},
		{name: "right", user: "alice", pass: "s3cret", wantStatus: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, s.RepoURL("r")+"/info/refs?service=git-upload-pack", nil)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.noAuth {
				req.SetBasicAuth(tt.user, tt.pass)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
				t.Fatalf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestWithoutAuth(t *testing.T) {
	s := gittest.Start(t, gittest.WithoutAuth())
	s.CreateRepo(t, "open")
	s.Push(t, "open", gittest.Change{Files: map[string]string{"f": "x"}})
	if got := s.CommitCount(t, "open", ""); got != 1 {
		t.Fatalf("commit count = %d, want 1", got)
	}
}

func TestHookRejects(t *testing.T) {
	s := gittest.Start(t)
	s.CreateRepo(t, "guarded")
	s.SetHook(t, "guarded", "pre-receive", "#!/bin/sh\necho 'policy says no' >&2\nexit 1\n")
	_, err := s.PushChange("guarded", gittest.Change{Files: map[string]string{"f": "x"}})
	if err == nil {
		t.Fatal("push succeeded, want the hook to refuse it")
	}
	if !strings.Contains(err.Error(), "pre-receive hook declined") {
		t.Fatalf("error = %v, want the hook's refusal", err)
	}
	if strings.Contains(err.Error(), gittest.DefaultPassword) {
		t.Fatalf("error leaks the password: %v", err)
	}
	if got := s.Head(t, "guarded", ""); got != "" {
		t.Fatalf("head = %q, want none", got)
	}
	if got := s.Pushes("guarded"); got != 1 {
		t.Fatalf("pushes = %d, want 1", got)
	}
}

func TestNewRepoNames(t *testing.T) {
	s := gittest.Start(t)
	tests := []struct {
		name    string
		repo    string
		wantErr bool
	}{
		{name: "simple", repo: "config"},
		{name: "nested", repo: "org/team.config"},
		{name: "empty", repo: "", wantErr: true},
		{name: "dotdot", repo: "../x", wantErr: true},
		{name: "inner dotdot", repo: "a/../b", wantErr: true},
		{name: "absolute", repo: "/abs", wantErr: true},
		{name: "git suffix", repo: "x.git", wantErr: true},
		{name: "hidden", repo: ".hidden", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.NewRepo(tt.repo)
			if (err != nil) != tt.wantErr {
				t.Fatalf("NewRepo(%q) error = %v, wantErr %v", tt.repo, err, tt.wantErr)
			}
			if tt.wantErr && !errors.Is(err, gittest.ErrBadName) {
				t.Fatalf("error = %v, want ErrBadName", err)
			}
		})
	}
	if _, err := s.NewRepo("config"); !errors.Is(err, os.ErrExist) {
		t.Fatalf("second NewRepo error = %v, want os.ErrExist", err)
	}
}

func TestListenOutsideTests(t *testing.T) {
	s, err := gittest.Listen("127.0.0.1:0", "", gittest.WithLog(testWriter{t}))
	if err != nil {
		t.Fatal(err)
	}
	root := s.Root()
	if _, err := s.NewRepo("r"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PushChange("r", gittest.Change{Files: map[string]string{"f": "x"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(root); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("root %s still exists after Close: %v", root, err)
	}
}

func TestMissingBackend(t *testing.T) {
	_, err := gittest.Listen("127.0.0.1:0", t.TempDir(), gittest.WithBackend("/nonexistent/git-http-backend"))
	if !errors.Is(err, gittest.ErrNoBackend) {
		t.Fatalf("error = %v, want ErrNoBackend", err)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

func TestSSH(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	_, strangerPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := ssh.NewSignerFromKey(strangerPriv)
	if err != nil {
		t.Fatal(err)
	}
	s := gittest.Start(t)
	s.CreateRepo(t, "r")
	sha := s.Push(t, "r", gittest.Change{Files: map[string]string{"f": "x"}})
	ss := s.StartSSH(t, signer.PublicKey())
	hostKeys, err := knownhosts.New(ss.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		signer  ssh.Signer
		command string
		want    string
		wantErr bool
	}{
		{name: "upload-pack advertises the branch", signer: signer, command: "git-upload-pack '/r.git'", want: sha + " HEAD"},
		{name: "receive-pack advertises the branch", signer: signer, command: "git-receive-pack '/r.git'", want: sha + " refs/heads/main"},
		{name: "unknown repository", signer: signer, command: "git-upload-pack '/nope.git'", wantErr: true},
		{name: "other commands", signer: signer, command: "sh -c id", wantErr: true},
		{name: "unauthorized key", signer: stranger, command: "git-upload-pack '/r.git'", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ssh.Dial("tcp", ss.Addr, &ssh.ClientConfig{
				User:            "git",
				Auth:            []ssh.AuthMethod{ssh.PublicKeys(tt.signer)},
				HostKeyCallback: hostKeys,
			})
			if err != nil {
				if !tt.wantErr {
					t.Fatal(err)
				}
				return
			}
			defer c.Close()
			sess, err := c.NewSession()
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Close()
			stdin, err := sess.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			sess.Stdout = &out
			if err := sess.Start(tt.command); err != nil {
				t.Fatal(err)
			}
			// Read the ref advertisement, then end the conversation with a flush packet.
			_, _ = stdin.Write([]byte("0000"))
			_ = stdin.Close()
			err = sess.Wait()
			if (err != nil) != tt.wantErr {
				t.Fatalf("exit: %v (output %q), wantErr %v", err, out.String(), tt.wantErr)
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Fatalf("output %q does not contain %q", out.String(), tt.want)
			}
		})
	}
}
