package gitops_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dmls-project/dmls/internal/gitops"
	"github.com/dmls-project/dmls/internal/gittest"
)

const (
	testUser     = "publisher"
	testPassword = "pw-Zq81-never-print-me"
)

// fixture is a git server requiring basic auth and one empty repository on it.
type fixture struct {
	srv  *gittest.Server
	repo string
	auth gitops.Auth
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	srv := gittest.Start(t, gittest.WithBasicAuth(testUser, testPassword))
	srv.CreateRepo(t, "config")
	return &fixture{srv: srv, repo: "config", auth: gitops.Auth{Username: testUser, Password: testPassword}}
}

func (f *fixture) request(files map[string]string, managed ...string) gitops.Request {
	req := gitops.Request{
		Target:  gitops.Target{Name: "config", URL: f.srv.RepoURL(f.repo)},
		Files:   bytesOf(files),
		Managed: managed,
		Message: "Publish apps",
		Auth:    f.auth,
	}
	gitops.SetBackoff(&req, func(int) time.Duration { return time.Millisecond })
	return req
}

func bytesOf(files map[string]string) map[string][]byte {
	out := make(map[string][]byte, len(files))
	for p, c := range files {
		out[p] = []byte(c)
	}
	return out
}

func publish(t *testing.T, req gitops.Request) gitops.Result {
	t.Helper()
	res, err := gitops.Publish(context.Background(), req)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	return res
}

func assertFiles(t *testing.T, got, want map[string]string) {
	t.Helper()
	for p, c := range want {
		if g, ok := got[p]; !ok || g != c {
			t.Errorf("file %s = %q (present %v), want %q", p, g, ok, c)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("unexpected file %s", p)
		}
	}
}

func assertList(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func TestPublishIntoEmptyRepo(t *testing.T) {
	f := newFixture(t)
	files := map[string]string{
		"apps/train/tfjob.yaml":       "kind: TFJob\n",
		"apps/serve/service.yaml":     "kind: Service\n",
		"apps/kustomization.yaml":     "resources: []\n",
		"apps/train/nested/deep.yaml": "x: 1\n",
	}
	req := f.request(files, "apps")
	req.Trailers = []gitops.Trailer{{Key: "Dmls-Source-Commit", Value: "0123abcd"}}
	req.Author = gitops.Signature{Name: "CI Bot", Email: "ci@example.com"}
	res := publish(t, req)

	if !res.Changed || res.Attempts != 1 || res.Repo != "config" {
		t.Fatalf("result = %+v, want a change in one attempt", res)
	}
	assertList(t, "added", res.Added, []string{"apps/kustomization.yaml", "apps/serve/service.yaml", "apps/train/nested/deep.yaml", "apps/train/tfjob.yaml"})
	assertList(t, "modified", res.Modified, nil)
	assertList(t, "deleted", res.Deleted, nil)
	if head := f.srv.Head(t, f.repo, "main"); res.Commit != head {
		t.Fatalf("result commit %s, remote head %s", res.Commit, head)
	}
	if n := f.srv.CommitCount(t, f.repo, "main"); n != 1 {
		t.Fatalf("commit count = %d, want 1", n)
	}
	assertFiles(t, f.srv.Files(t, f.repo, "main"), files)
	msgs := f.srv.Messages(t, f.repo, "main")
	if want := "Publish apps\n\nDmls-Source-Commit: 0123abcd"; len(msgs) != 1 || msgs[0] != want {
		t.Fatalf("messages = %q, want [%q]", msgs, want)
	}
	// git itself must parse the trailer block, since other tools will read it with git.
	trailer := f.srv.Git(t, f.repo, "log", "-1", "--format=%(trailers:key=Dmls-Source-Commit,valueonly)", "main")
	if strings.TrimSpace(trailer) != "0123abcd" {
		t.Fatalf("git sees trailer %q", trailer)
	}
	author := f.srv.Git(t, f.repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>", "main")
	if strings.TrimSpace(author) != "CI Bot <ci@example.com>|CI Bot <ci@example.com>" {
		t.Fatalf("author|committer = %q", author)
	}
	// The pushed objects must pass git's own consistency check.
	f.srv.Git(t, f.repo, "fsck", "--strict", "--no-dangling")
}

func TestPublishSameFilesMakesNoCommit(t *testing.T) {
	f := newFixture(t)
	files := map[string]string{"apps/a.yaml": "a", "apps/b/c.yaml": "c"}
	first := publish(t, f.request(files, "apps"))
	pushes := f.srv.Pushes(f.repo)

	second := publish(t, f.request(files, "apps"))
	if second.Changed {
		t.Fatalf("second publish changed: %+v", second)
	}
	if second.Commit != first.Commit {
		t.Fatalf("second publish reports commit %s, want the tip %s", second.Commit, first.Commit)
	}
	if len(second.Added)+len(second.Modified)+len(second.Deleted) != 0 {
		t.Fatalf("second publish lists changes: %+v", second)
	}
	if n := f.srv.CommitCount(t, f.repo, "main"); n != 1 {
		t.Fatalf("commit count = %d, want 1", n)
	}
	if got := f.srv.Pushes(f.repo); got != pushes {
		t.Fatalf("second publish pushed (%d pushes, want %d)", got, pushes)
	}
}

func TestPublishEmptyTreeIntoEmptyRepo(t *testing.T) {
	f := newFixture(t)
	res := publish(t, f.request(nil, "apps"))
	if res.Changed || res.Commit != "" {
		t.Fatalf("result = %+v, want no change and no commit", res)
	}
	if head := f.srv.Head(t, f.repo, "main"); head != "" {
		t.Fatalf("head = %s, want none", head)
	}
}

func TestPublishDeletesOnlyUnderManagedPaths(t *testing.T) {
	f := newFixture(t)
	publish(t, f.request(map[string]string{
		"apps/a.yaml":        "a1",
		"apps/b.yaml":        "b",
		"apps/old/deep.yaml": "old",
		"infra/net.yaml":     "net",
	}, "apps", "infra"))
	f.srv.Push(t, f.repo, gittest.Change{
		Files:   map[string]string{"README.md": "hand written", "docs/guide.md": "guide", "appsettings/x": "not apps/"},
		Message: "docs by a human",
	})

	res := publish(t, f.request(map[string]string{
		"apps/a.yaml":    "a2",
		"apps/new.yaml":  "new",
		"infra/net.yaml": "net",
	}, "apps", "infra"))
	assertList(t, "added", res.Added, []string{"apps/new.yaml"})
	assertList(t, "modified", res.Modified, []string{"apps/a.yaml"})
	assertList(t, "deleted", res.Deleted, []string{"apps/b.yaml", "apps/old/deep.yaml"})
	assertFiles(t, f.srv.Files(t, f.repo, "main"), map[string]string{
		"apps/a.yaml":    "a2",
		"apps/new.yaml":  "new",
		"infra/net.yaml": "net",
		"README.md":      "hand written",
		"docs/guide.md":  "guide",
		"appsettings/x":  "not apps/",
	})
	// The emptied directory is gone, not left as an empty tree.
	if out := f.srv.Git(t, f.repo, "ls-tree", "-d", "main:apps"); strings.Contains(out, "old") {
		t.Fatalf("apps/old still listed:\n%s", out)
	}
	if n := f.srv.CommitCount(t, f.repo, "main"); n != 3 {
		t.Fatalf("commit count = %d, want 3", n)
	}

	// An empty Files with the managed prefix removes the whole directory.
	res = publish(t, f.request(map[string]string{"infra/net.yaml": "net"}, "apps", "infra"))
	assertList(t, "deleted", res.Deleted, []string{"apps/a.yaml", "apps/new.yaml"})
	if _, ok := f.srv.Files(t, f.repo, "main")["README.md"]; !ok {
		t.Fatal("README.md outside the managed paths was deleted")
	}
}

func TestPublishWholeRepository(t *testing.T) {
	f := newFixture(t)
	f.srv.Push(t, f.repo, gittest.Change{Files: map[string]string{"stray.txt": "x", "d/e.txt": "y"}})
	res := publish(t, f.request(map[string]string{"kustomization.yaml": "k"}, gitops.RootPrefix))
	assertList(t, "deleted", res.Deleted, []string{"d/e.txt", "stray.txt"})
	assertFiles(t, f.srv.Files(t, f.repo, "main"), map[string]string{"kustomization.yaml": "k"})
}

func TestPublishModeChangeIsModification(t *testing.T) {
	f := newFixture(t)
	f.srv.Push(t, f.repo, gittest.Change{Files: map[string]string{"apps/run.sh": "echo\n"}})
	// Make the file executable with plumbing, as a worktree-less writer would.
	dir := t.TempDir()
	run(t, dir, "git", "clone", "-q", f.srv.RepoDir(f.repo), ".")
	run(t, dir, "git", "update-index", "--chmod=+x", "apps/run.sh")
	run(t, dir, "git", "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-qm", "chmod")
	run(t, dir, "git", "push", "-q", "origin", "main")

	res := publish(t, f.request(map[string]string{"apps/run.sh": "echo\n"}, "apps"))
	if !res.Changed {
		t.Fatal("want the executable bit to be cleared")
	}
	assertList(t, "modified", res.Modified, []string{"apps/run.sh"})
	if out := f.srv.Git(t, f.repo, "ls-tree", "main", "apps/run.sh"); !strings.HasPrefix(out, "100644 ") {
		t.Fatalf("ls-tree = %q, want mode 100644", out)
	}
}

func run(t *testing.T, dir string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, args, err, out)
	}
}

func TestPublishRetriesAfterRace(t *testing.T) {
	f := newFixture(t)
	publish(t, f.request(map[string]string{"apps/a.yaml": "a1"}, "apps"))

	req := f.request(map[string]string{"apps/a.yaml": "a2"}, "apps")
	var writer string
	var calls []int
	gitops.SetBeforePush(&req, func(attempt int) {
		calls = append(calls, attempt)
		if attempt == 1 {
			// Another writer pushes after our fetch and before our push: a real non-fast-forward.
			writer = f.srv.Push(t, f.repo, gittest.Change{
				Files:   map[string]string{"notes/by-human.md": "hello"},
				Message: "human edit",
			})
		}
	})
	res := publish(t, req)
	if res.Attempts != 2 || !slices.Equal(calls, []int{1, 2}) {
		t.Fatalf("attempts = %d, callbacks %v; want 2 and [1 2]", res.Attempts, calls)
	}
	assertList(t, "modified", res.Modified, []string{"apps/a.yaml"})
	assertFiles(t, f.srv.Files(t, f.repo, "main"), map[string]string{"apps/a.yaml": "a2", "notes/by-human.md": "hello"})
	// Our commit sits on top of the other writer's: history is linear and nothing was lost.
	parent := strings.TrimSpace(f.srv.Git(t, f.repo, "rev-parse", res.Commit+"^"))
	if parent != writer {
		t.Fatalf("parent of our commit = %s, want the other writer's %s", parent, writer)
	}
	if n := f.srv.CommitCount(t, f.repo, "main"); n != 3 {
		t.Fatalf("commit count = %d, want 3", n)
	}
	f.srv.Git(t, f.repo, "fsck", "--strict", "--no-dangling")
}

// TestPublishExpectTip checks the compare-and-swap: a change computed from
// a tip commits onto that tip, and fails with ErrStale, without a retry,
// when another writer moved the branch, before the fetch or during the push.
func TestPublishExpectTip(t *testing.T) {
	f := newFixture(t)
	req := f.request(map[string]string{"apps/a.yaml": "a1"}, "apps")
	req.ExpectTip = gitops.NoTip
	first := publish(t, req)

	// Onto the expected tip: commits.
	req = f.request(map[string]string{"apps/a.yaml": "a2"}, "apps")
	req.ExpectTip = first.Commit
	second := publish(t, req)
	if !second.Changed {
		t.Fatalf("publish onto the expected tip made no commit")
	}

	// The tip moved before the fetch: stale, nothing pushed.
	req = f.request(map[string]string{"apps/a.yaml": "a3"}, "apps")
	req.ExpectTip = first.Commit
	if _, err := gitops.Publish(context.Background(), req); !errors.Is(err, gitops.ErrStale) {
		t.Fatalf("err = %v, want ErrStale", err)
	}

	// The tip moves during the push: the race is lost and not re-applied.
	req = f.request(map[string]string{"apps/a.yaml": "a4"}, "apps")
	req.ExpectTip = second.Commit
	gitops.SetBeforePush(&req, func(attempt int) {
		if attempt == 1 {
			f.srv.Push(t, f.repo, gittest.Change{Files: map[string]string{"apps/a.yaml": "by-human"}})
		}
	})
	gitops.SetBackoff(&req, func(int) time.Duration { return 0 })
	res, err := gitops.Publish(context.Background(), req)
	if !errors.Is(err, gitops.ErrStale) || res.Attempts != 2 {
		t.Fatalf("err = %v after %d attempts, want ErrStale after 2", err, res.Attempts)
	}
	if got := f.srv.Files(t, f.repo, "main")["apps/a.yaml"]; got != "by-human" {
		t.Errorf("the other writer's change was overwritten: %q", got)
	}
}

// TestPublishDescribe checks that Describe writes the message from the
// change actually committed.
func TestPublishDescribe(t *testing.T) {
	f := newFixture(t)
	req := f.request(map[string]string{"apps/a.yaml": "a1", "apps/b.yaml": "b1"}, "apps")
	req.Describe = func(r gitops.Result) string {
		return fmt.Sprintf("added %s", strings.Join(r.Added, " "))
	}
	publish(t, req)
	if msg := f.srv.Messages(t, f.repo, "main")[0]; !strings.HasPrefix(msg, "added apps/a.yaml apps/b.yaml") {
		t.Errorf("message = %q", msg)
	}
}

func TestPublishRaceIntoEmptyRepo(t *testing.T) {
	f := newFixture(t)
	req := f.request(map[string]string{"apps/a.yaml": "a"}, "apps")
	gitops.SetBeforePush(&req, func(attempt int) {
		if attempt == 1 {
			f.srv.Push(t, f.repo, gittest.Change{Files: map[string]string{"README.md": "first!"}})
		}
	})
	res := publish(t, req)
	if res.Attempts != 2 {
		t.Fatalf("attempts = %d, want 2", res.Attempts)
	}
	assertFiles(t, f.srv.Files(t, f.repo, "main"), map[string]string{"apps/a.yaml": "a", "README.md": "first!"})
}

// When the other writer already pushed exactly what we wanted, the retry has nothing to commit.
func TestPublishRaceMakesCommitUnnecessary(t *testing.T) {
	f := newFixture(t)
	publish(t, f.request(map[string]string{"apps/a.yaml": "a1"}, "apps"))
	req := f.request(map[string]string{"apps/a.yaml": "a2"}, "apps")
	var writer string
	gitops.SetBeforePush(&req, func(attempt int) {
		if attempt == 1 {
			writer = f.srv.Push(t, f.repo, gittest.Change{Files: map[string]string{"apps/a.yaml": "a2"}})
		}
	})
	res := publish(t, req)
	if res.Changed || res.Attempts != 2 || res.Commit != writer {
		t.Fatalf("result = %+v, want no change on attempt 2 at the writer's commit %s", res, writer)
	}
	if n := f.srv.CommitCount(t, f.repo, "main"); n != 2 {
		t.Fatalf("commit count = %d, want 2", n)
	}
}

func TestPublishConflictRetriesAreBounded(t *testing.T) {
	f := newFixture(t)
	publish(t, f.request(map[string]string{"apps/a.yaml": "a1"}, "apps"))
	req := f.request(map[string]string{"apps/a.yaml": "a2"}, "apps")
	req.MaxAttempts = 3
	var n int
	gitops.SetBeforePush(&req, func(attempt int) {
		n++
		f.srv.Push(t, f.repo, gittest.Change{Files: map[string]string{fmt.Sprintf("other/%d", attempt): "x"}})
	})
	res, err := gitops.Publish(context.Background(), req)
	if !errors.Is(err, gitops.ErrConflict) {
		t.Fatalf("error = %v, want ErrConflict", err)
	}
	if errors.Is(err, gitops.ErrRejected) || errors.Is(err, gitops.ErrAuth) {
		t.Fatalf("conflict also matches a permanent kind: %v", err)
	}
	var gerr *gitops.Error
	if !errors.As(err, &gerr) || gerr.Op != "push" || gerr.Repo != "config" {
		t.Fatalf("error = %#v, want *gitops.Error for push to config", err)
	}
	if res.Attempts != 3 || n != 3 {
		t.Fatalf("attempts = %d, callbacks = %d, want 3", res.Attempts, n)
	}
	if got := f.srv.Files(t, f.repo, "main")["apps/a.yaml"]; got != "a1" {
		t.Fatalf("apps/a.yaml = %q, want the old content", got)
	}
}

func TestPublishHonoursContext(t *testing.T) {
	f := newFixture(t)
	publish(t, f.request(map[string]string{"apps/a.yaml": "a1"}, "apps"))

	ctx, cancel := context.WithCancel(context.Background())
	req := f.request(map[string]string{"apps/a.yaml": "a2"}, "apps")
	gitops.SetBackoff(&req, func(int) time.Duration { return time.Hour })
	gitops.SetBeforePush(&req, func(attempt int) {
		f.srv.Push(t, f.repo, gittest.Change{Files: map[string]string{"other": fmt.Sprint(attempt)}})
		cancel() // while Publish is about to wait an hour
	})
	start := time.Now()
	_, err := gitops.Publish(ctx, req)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Minute {
		t.Fatalf("Publish took %v after cancel", d)
	}

	if _, err := gitops.Publish(ctx, f.request(map[string]string{"apps/a.yaml": "a3"}, "apps")); !errors.Is(err, context.Canceled) {
		t.Fatalf("error with a cancelled context = %v, want context.Canceled", err)
	}
}

// Writers publishing disjoint managed paths at the same time all land, through retries.
func TestPublishConcurrentWriters(t *testing.T) {
	f := newFixture(t)
	const writers = 4
	var wg sync.WaitGroup
	errs := make([]error, writers)
	results := make([]gitops.Result, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dir := fmt.Sprintf("team%d", i)
			req := f.request(map[string]string{dir + "/app.yaml": dir}, dir)
			req.MaxAttempts = 20
			gitops.SetBackoff(&req, func(attempt int) time.Duration { return time.Duration(attempt*(i+1)) * 10 * time.Millisecond })
			results[i], errs[i] = gitops.Publish(context.Background(), req)
		}()
	}
	wg.Wait()
	want := map[string]string{}
	for i := range writers {
		if errs[i] != nil {
			t.Fatalf("writer %d: %v", i, errs[i])
		}
		dir := fmt.Sprintf("team%d", i)
		want[dir+"/app.yaml"] = dir
	}
	assertFiles(t, f.srv.Files(t, f.repo, "main"), want)
	if n := f.srv.CommitCount(t, f.repo, "main"); n != writers {
		t.Fatalf("commit count = %d, want %d", n, writers)
	}
	f.srv.Git(t, f.repo, "fsck", "--strict", "--no-dangling")
	t.Logf("attempts: %d %d %d %d", results[0].Attempts, results[1].Attempts, results[2].Attempts, results[3].Attempts)
}

func TestPublishHookRejectionIsPermanent(t *testing.T) {
	f := newFixture(t)
	log := filepath.Join(t.TempDir(), "hook.log")
	f.srv.SetHook(t, f.repo, "pre-receive", fmt.Sprintf(`#!/bin/sh
echo invoked >> %q
echo "policy: pushes to main need review (non-fast-forward pushes are not the problem)" >&2
exit 1
`, log))

	res, err := gitops.Publish(context.Background(), f.request(map[string]string{"apps/a.yaml": "a"}, "apps"))
	if !errors.Is(err, gitops.ErrRejected) {
		t.Fatalf("error = %v, want ErrRejected", err)
	}
	if errors.Is(err, gitops.ErrConflict) {
		t.Fatalf("rejection matches ErrConflict: %v", err)
	}
	if !strings.Contains(err.Error(), "pre-receive hook declined") || !strings.Contains(err.Error(), "pushes to main need review") {
		t.Fatalf("error = %q, want the hook's verdict and message", err)
	}
	if res.Attempts != 1 {
		t.Fatalf("attempts = %d, want 1", res.Attempts)
	}
	data, rerr := os.ReadFile(log)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if n := strings.Count(string(data), "invoked"); n != 1 {
		t.Fatalf("hook ran %d times, want 1", n)
	}
	if n := f.srv.Pushes(f.repo); n != 1 {
		t.Fatalf("server saw %d pushes, want 1", n)
	}
	if head := f.srv.Head(t, f.repo, "main"); head != "" {
		t.Fatalf("head = %s, want none", head)
	}
}

func TestPublishWrongCredentials(t *testing.T) {
	f := newFixture(t)
	publish(t, f.request(map[string]string{"apps/a.yaml": "a"}, "apps"))
	const token = "tok-Xy7-not-for-logs"
	tests := []struct {
		name    string
		auth    gitops.Auth
		url     string
		secrets []string
	}{
		{name: "wrong password", auth: gitops.Auth{Username: testUser, Password: "wrong-" + testPassword}, secrets: []string{"wrong-" + testPassword}},
		{name: "token", auth: gitops.Auth{Password: token}, secrets: []string{token}},
		{name: "token with user", auth: gitops.Auth{Username: testUser, Password: token}, secrets: []string{token}},
		{name: "anonymous"},
		{
			name:    "credentials in URL",
			url:     strings.Replace(f.srv.RepoURL(f.repo), "://", "://"+testUser+":url-secret-991@", 1),
			secrets: []string{"url-secret-991"},
		},
		{
			name:    "token as URL user",
			url:     strings.Replace(f.srv.RepoURL(f.repo), "://", "://url-token-42@", 1),
			secrets: []string{"url-token-42"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.srv.Pushes(f.repo)
			req := f.request(map[string]string{"apps/a.yaml": "changed"}, "apps")
			req.Auth = tt.auth
			if tt.url != "" {
				req.Target = gitops.Target{URL: tt.url}
			}
			res, err := gitops.Publish(context.Background(), req)
			if !errors.Is(err, gitops.ErrAuth) {
				t.Fatalf("error = %v, want ErrAuth", err)
			}
			if res.Attempts != 1 {
				t.Fatalf("attempts = %d, want 1", res.Attempts)
			}
			for _, s := range append(tt.secrets, testPassword) {
				if strings.Contains(err.Error(), s) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), s) || strings.Contains(res.Repo, s) {
					t.Fatalf("error or result leaks %q: %v (repo %q)", s, err, res.Repo)
				}
				for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
					if strings.Contains(e.Error(), s) {
						t.Fatalf("wrapped error leaks %q: %v", s, e)
					}
				}
				var gerr *gitops.Error
				if errors.As(err, &gerr) {
					for _, c := range gerr.Unwrap() {
						if strings.Contains(c.Error(), s) {
							t.Fatalf("cause leaks %q: %v", s, c)
						}
					}
				}
			}
			if got := f.srv.Pushes(f.repo); got != before {
				t.Fatalf("a push reached the server with bad credentials")
			}
		})
	}

	// ReadTree reports the same way.
	_, _, err := gitops.ReadTree(context.Background(), gitops.Target{URL: f.srv.RepoURL(f.repo)}, gitops.Auth{Password: token}, "")
	if !errors.Is(err, gitops.ErrAuth) || strings.Contains(err.Error(), token) {
		t.Fatalf("ReadTree error = %v, want ErrAuth without the token", err)
	}
}

func TestPublishRepoNotFound(t *testing.T) {
	f := newFixture(t)
	req := f.request(map[string]string{"apps/a.yaml": "a"}, "apps")
	req.Target.URL = f.srv.RepoURL("missing")
	_, err := gitops.Publish(context.Background(), req)
	if !errors.Is(err, gitops.ErrNotFound) {
		t.Fatalf("error = %v, want ErrNotFound", err)
	}
}

func TestPublishDryRun(t *testing.T) {
	f := newFixture(t)
	first := publish(t, f.request(map[string]string{"apps/a.yaml": "a", "apps/b.yaml": "b"}, "apps"))
	pushes := f.srv.Pushes(f.repo)

	req := f.request(map[string]string{"apps/a.yaml": "a2", "apps/c.yaml": "c"}, "apps")
	req.DryRun = true
	res := publish(t, req)
	if !res.Changed || res.Commit != first.Commit {
		t.Fatalf("result = %+v, want a change against tip %s", res, first.Commit)
	}
	assertList(t, "added", res.Added, []string{"apps/c.yaml"})
	assertList(t, "modified", res.Modified, []string{"apps/a.yaml"})
	assertList(t, "deleted", res.Deleted, []string{"apps/b.yaml"})
	if head := f.srv.Head(t, f.repo, "main"); head != first.Commit {
		t.Fatalf("head moved to %s", head)
	}
	if got := f.srv.Pushes(f.repo); got != pushes {
		t.Fatalf("dry run pushed")
	}
	assertFiles(t, f.srv.Files(t, f.repo, "main"), map[string]string{"apps/a.yaml": "a", "apps/b.yaml": "b"})

	// A dry run into an empty repository.
	f.srv.CreateRepo(t, "empty")
	req.Target.URL = f.srv.RepoURL("empty")
	res = publish(t, req)
	if !res.Changed || res.Commit != "" || len(res.Added) != 2 {
		t.Fatalf("result = %+v, want two additions and no commit", res)
	}
	if head := f.srv.Head(t, "empty", "main"); head != "" {
		t.Fatalf("dry run created %s", head)
	}
}

func TestPublishOtherBranch(t *testing.T) {
	f := newFixture(t)
	publish(t, f.request(map[string]string{"apps/a.yaml": "main"}, "apps"))
	req := f.request(map[string]string{"apps/a.yaml": "prod"}, "apps")
	req.Target.Branch = "env/prod"
	res := publish(t, req)
	assertList(t, "added", res.Added, []string{"apps/a.yaml"})
	if got := f.srv.Files(t, f.repo, "env/prod")["apps/a.yaml"]; got != "prod" {
		t.Fatalf("env/prod apps/a.yaml = %q", got)
	}
	if got := f.srv.Files(t, f.repo, "main")["apps/a.yaml"]; got != "main" {
		t.Fatalf("main apps/a.yaml = %q", got)
	}
	if n := f.srv.CommitCount(t, f.repo, "env/prod"); n != 1 {
		t.Fatalf("env/prod has %d commits, want a root commit", n)
	}
}

func TestPublishRefusesUnsafeTrees(t *testing.T) {
	tests := []struct {
		name    string
		change  gittest.Change
		managed []string
		wantErr bool
	}{
		{name: "symlink under managed path", change: gittest.Change{Symlinks: map[string]string{"apps/evil": "/etc/passwd"}}, managed: []string{"apps"}, wantErr: true},
		{name: "deep symlink under managed path", change: gittest.Change{Files: map[string]string{"apps/x/y": "1"}, Symlinks: map[string]string{"apps/x/z/link": "../../.."}}, managed: []string{"apps"}, wantErr: true},
		{name: "symlink dir as managed prefix", change: gittest.Change{Symlinks: map[string]string{"apps": "/tmp"}}, managed: []string{"apps"}, wantErr: true},
		{name: "managed prefix is a file", change: gittest.Change{Files: map[string]string{"apps": "I am a file"}}, managed: []string{"apps"}, wantErr: true},
		{name: "parent of managed prefix is a file", change: gittest.Change{Files: map[string]string{"env": "file"}}, managed: []string{"env/prod"}, wantErr: true},
		{name: "symlink anywhere with root managed", change: gittest.Change{Symlinks: map[string]string{"docs/l": "x"}}, managed: []string{gitops.RootPrefix}, wantErr: true},
		{name: "symlink outside managed paths", change: gittest.Change{Symlinks: map[string]string{"docs/link": "../README"}}, managed: []string{"apps"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			writer := f.srv.Push(t, f.repo, tt.change)
			files := map[string]string{}
			for _, m := range tt.managed {
				if m == gitops.RootPrefix {
					files["gen.yaml"] = "g"
				} else {
					files[m+"/gen.yaml"] = "g"
				}
			}
			_, err := gitops.Publish(context.Background(), f.request(files, tt.managed...))
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				if !errors.Is(err, gitops.ErrUnsafeTree) {
					t.Fatalf("error = %v, want ErrUnsafeTree", err)
				}
				if head := f.srv.Head(t, f.repo, "main"); head != writer {
					t.Fatalf("head moved to %s", head)
				}
				return
			}
			if got := f.srv.Files(t, f.repo, "main")["docs/link"]; got != "../README" {
				t.Fatalf("symlink outside managed paths changed: %q", got)
			}
		})
	}
}

func TestPublishValidatesRequest(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name    string
		edit    func(*gitops.Request)
		wantErr error
	}{
		{name: "valid", edit: func(*gitops.Request) {}},
		{name: "parent escape", edit: func(r *gitops.Request) { r.Files["../x"] = nil }, wantErr: gitops.ErrInvalidPath},
		{name: "absolute", edit: func(r *gitops.Request) { r.Files["/abs"] = nil }, wantErr: gitops.ErrInvalidPath},
		{name: "inner dotdot", edit: func(r *gitops.Request) { r.Files["apps/../b"] = nil }, wantErr: gitops.ErrInvalidPath},
		{name: "backslash", edit: func(r *gitops.Request) { r.Files[`apps\b`] = nil }, wantErr: gitops.ErrInvalidPath},
		{name: "empty path", edit: func(r *gitops.Request) { r.Files[""] = nil }, wantErr: gitops.ErrInvalidPath},
		{name: "outside managed", edit: func(r *gitops.Request) { r.Files["other/x"] = nil }, wantErr: gitops.ErrInvalidPath},
		{name: "managed prefix is not a file path", edit: func(r *gitops.Request) { r.Files["apps"] = nil }, wantErr: gitops.ErrInvalidPath},
		{name: "file and dir", edit: func(r *gitops.Request) { r.Files["apps/a.yaml/x"] = nil }, wantErr: gitops.ErrInvalidPath},
		{name: "dot git", edit: func(r *gitops.Request) { r.Files["apps/.git/config"] = nil }, wantErr: gitops.ErrInvalidPath},
		{name: "no managed", edit: func(r *gitops.Request) { r.Managed = nil }, wantErr: gitops.ErrInvalidRequest},
		{name: "managed escape", edit: func(r *gitops.Request) { r.Managed = append(r.Managed, "../up") }, wantErr: gitops.ErrInvalidPath},
		{name: "managed absolute", edit: func(r *gitops.Request) { r.Managed = append(r.Managed, "/") }, wantErr: gitops.ErrInvalidPath},
		{name: "managed trailing slash", edit: func(r *gitops.Request) { r.Managed = []string{"apps/"} }, wantErr: gitops.ErrInvalidPath},
		{name: "trailer key", edit: func(r *gitops.Request) { r.Trailers = []gitops.Trailer{{Key: "Bad Key", Value: "v"}} }, wantErr: gitops.ErrInvalidRequest},
		{name: "trailer newline", edit: func(r *gitops.Request) { r.Trailers = []gitops.Trailer{{Key: "K", Value: "a\nb"}} }, wantErr: gitops.ErrInvalidRequest},
		{name: "author", edit: func(r *gitops.Request) { r.Author.Email = "a>b" }, wantErr: gitops.ErrInvalidRequest},
		{name: "branch", edit: func(r *gitops.Request) { r.Target.Branch = "bad..branch" }, wantErr: gitops.ErrInvalidRequest},
		{name: "scheme", edit: func(r *gitops.Request) { r.Target.URL = "ftp://example.invalid/x.git" }, wantErr: gitops.ErrInvalidRequest},
		{name: "empty url", edit: func(r *gitops.Request) { r.Target.URL = "" }, wantErr: gitops.ErrInvalidRequest},
		{
			name:    "credentials over plain http to a remote host",
			edit:    func(r *gitops.Request) { r.Target.URL = "http://git.example.invalid/x.git" },
			wantErr: gitops.ErrInvalidRequest,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := f.request(map[string]string{"apps/a.yaml": "a"}, "apps")
			req.DryRun = true
			tt.edit(&req)
			_, err := gitops.Publish(context.Background(), req)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("error = %v", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), testPassword) {
				t.Fatalf("error leaks the password: %v", err)
			}
		})
	}
}

func TestValidatePath(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		wantErr bool
	}{
		{name: "simple", path: "a.yaml"},
		{name: "nested", path: "apps/train/tfjob.yaml"},
		{name: "dotfile", path: "apps/.keep"},
		{name: "dots in name", path: "apps/a..b"},
		{name: "unicode", path: "apps/naïve.yaml"},
		{name: "parent", path: "../x", wantErr: true},
		{name: "absolute", path: "/abs", wantErr: true},
		{name: "inner parent", path: "a/../b", wantErr: true},
		{name: "backslash", path: `a\b`, wantErr: true},
		{name: "empty", path: "", wantErr: true},
		{name: "dot", path: ".", wantErr: true},
		{name: "dot component", path: "a/./b", wantErr: true},
		{name: "leading dot slash", path: "./a", wantErr: true},
		{name: "double slash", path: "a//b", wantErr: true},
		{name: "trailing slash", path: "a/", wantErr: true},
		{name: "dotdot only", path: "..", wantErr: true},
		{name: "NUL", path: "a\x00b", wantErr: true},
		{name: "newline", path: "a\nb", wantErr: true},
		{name: "dot git", path: ".git/config", wantErr: true},
		{name: "dot git upper", path: "a/.GIT/hooks/x", wantErr: true},
		{name: "invalid utf8", path: "a\xffb", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := gitops.ValidatePath(tt.path)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ValidatePath(%q) = %v, wantErr %v", tt.path, err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, gitops.ErrInvalidPath) {
				t.Fatalf("error = %v, want ErrInvalidPath", err)
			}
		})
	}
}

func TestPublishLocalRepositories(t *testing.T) {
	dir := t.TempDir()
	run(t, dir, "git", "init", "-q", "--bare", "--initial-branch=main", "plain.git")
	run(t, dir, "git", "init", "-q", "--bare", "--initial-branch=main", "url.git")
	abs := filepath.Join(dir, "plain.git")
	tests := []struct {
		name string
		url  string
		repo string
	}{
		{name: "plain path", url: abs, repo: abs},
		{name: "file URL", url: "file://" + filepath.Join(dir, "url.git"), repo: filepath.Join(dir, "url.git")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := gitops.Request{
				Target:  gitops.Target{URL: tt.url},
				Files:   bytesOf(map[string]string{"apps/a.yaml": "a", "apps/b.yaml": "b"}),
				Managed: []string{"apps"},
			}
			res := publish(t, req)
			if !res.Changed || len(res.Added) != 2 {
				t.Fatalf("first publish = %+v", res)
			}
			if res.Repo != tt.url {
				t.Fatalf("repo = %q, want %q", res.Repo, tt.url)
			}
			delete(req.Files, "apps/b.yaml")
			res = publish(t, req)
			assertList(t, "deleted", res.Deleted, []string{"apps/b.yaml"})
			again := publish(t, req)
			if again.Changed {
				t.Fatalf("third publish changed: %+v", again)
			}
			cmd := exec.Command("git", "--git-dir", tt.repo, "rev-list", "--count", "main")
			out, err := cmd.Output()
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(string(out)) != "2" {
				t.Fatalf("commit count = %s, want 2", out)
			}
			files, head, err := gitops.ReadTree(context.Background(), gitops.Target{URL: tt.url}, gitops.Auth{}, "apps")
			if err != nil {
				t.Fatal(err)
			}
			if head != res.Commit || len(files) != 1 || string(files["apps/a.yaml"]) != "a" {
				t.Fatalf("ReadTree = %q at %s, want apps/a.yaml at %s", files, head, res.Commit)
			}
		})
	}
}

func TestPublishRelativePath(t *testing.T) {
	dir := t.TempDir()
	run(t, dir, "git", "init", "-q", "--bare", "--initial-branch=main", "rel.git")
	t.Chdir(dir)
	res := publish(t, gitops.Request{
		Target:  gitops.Target{URL: "rel.git"},
		Files:   bytesOf(map[string]string{"apps/a.yaml": "a"}),
		Managed: []string{"apps"},
	})
	if !res.Changed || res.Repo != filepath.Join(dir, "rel.git") {
		t.Fatalf("result = %+v", res)
	}
}
