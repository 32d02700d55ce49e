package gitops_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"sync"
	"testing"

	"github.com/dmls-project/dmls/internal/gitops"
	"github.com/dmls-project/dmls/internal/gittest"
)

// TestRepoPublishesIncrementally publishes a tree of many files through
// one Repo again and again, with another writer pushing in between, and
// checks that each commit has the tree a fresh Publish would have made,
// that git's own fsck finds every pushed pack complete, that a read of an
// unmoved tip reads nothing, and that ExpectTip still refuses a stale tip.
func TestRepoPublishesIncrementally(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	rp := f.openRepo(t, f.srv.RepoURL(f.repo))
	want := map[string]string{"keep/README": "not managed\n"}
	f.srv.Push(t, f.repo, gittest.Change{Files: want, Message: "seed"})
	files := map[string]string{}
	for i := range 200 {
		files[fmt.Sprintf("apps/app-%03d/base/kustomization.yaml", i)] = fmt.Sprintf("app %d\n", i)
	}
	step := func(what string) string {
		t.Helper()
		req := f.request(files, "apps")
		res, err := rp.Publish(ctx, req)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		got := f.srv.Files(t, f.repo, "")
		all := map[string]string{}
		for p, c := range want {
			all[p] = c
		}
		for p, c := range files {
			all[p] = c
		}
		assertFiles(t, got, all)
		f.whole(t, what)
		return res.Commit
	}
	first := step("first publish")
	files["apps/app-007/base/kustomization.yaml"] = "changed\n"
	delete(files, "apps/app-100/base/kustomization.yaml")
	files["apps/new/overlays/dev/kustomization.yaml"] = "new\n"
	second := step("one app changed, one deleted, one added")
	if second == first {
		t.Fatal("no commit for a change")
	}
	if res, err := rp.Publish(ctx, f.request(files, "apps")); err != nil || res.Changed {
		t.Fatalf("the same files again: changed %v, %v", res.Changed, err)
	}
	// Another writer moves the branch: the next publish fetches and
	// re-applies onto its commit.
	want["other/file"] = "by someone else\n"
	f.srv.Push(t, f.repo, gittest.Change{Files: map[string]string{"other/file": "by someone else\n"}, Message: "other"})
	files["apps/app-001/base/kustomization.yaml"] = "after the race\n"
	step("after another writer")
	// Another writer changes a managed file: the next publish of the same
	// files puts it back.
	f.srv.Push(t, f.repo, gittest.Change{Files: map[string]string{"apps/app-002/base/kustomization.yaml": "by hand\n", "apps/stray": "x\n"}, Message: "by hand"})
	if res, err := rp.Publish(ctx, f.request(files, "apps")); err != nil || !res.Changed {
		t.Fatalf("after a change by hand in a managed path: changed %v, %v", res.Changed, err)
	}
	third := step("after a change by hand")

	// A read at an unmoved tip reads nothing; after a move it reads all.
	got, sha, _, err := rp.ReadTreeSkipping(ctx, "", third)
	if err != nil || got != nil || sha != third {
		t.Fatalf("read at the known tip: %d files, %s, %v", len(got), sha, err)
	}
	got, sha, _, err = rp.ReadTreeSkipping(ctx, "apps", "")
	if err != nil || sha != third || string(got["apps/app-001/base/kustomization.yaml"]) != "after the race\n" || len(got) != len(files) {
		t.Fatalf("read: %d files, %s, %v", len(got), sha, err)
	}

	// ExpectTip still makes it a compare-and-swap.
	req := f.request(map[string]string{"apps/x": "x\n"}, "apps")
	req.ExpectTip = first
	if _, err := rp.Publish(ctx, req); !errors.Is(err, gitops.ErrStale) {
		t.Fatalf("stale ExpectTip: %v, want ErrStale", err)
	}
	req.ExpectTip = third
	if _, err := rp.Publish(ctx, req); err != nil {
		t.Fatalf("ExpectTip at the tip: %v", err)
	}
}

// TestRepoRetriesAfterRace loses a push race inside a Repo publish: the
// retry fetches the other writer's commit, pushes a pack that holds the
// objects made for the lost attempt too, and git finds the repo whole.
func TestRepoRetriesAfterRace(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	rp := f.openRepo(t, f.srv.RepoURL(f.repo))
	if _, err := rp.Publish(ctx, f.request(map[string]string{"apps/a.yaml": "a1", "apps/b/c.yaml": "c1"}, "apps")); err != nil {
		t.Fatal(err)
	}
	req := f.request(map[string]string{"apps/a.yaml": "a2", "apps/b/c.yaml": "c2"}, "apps")
	gitops.SetBeforePush(&req, func(attempt int) {
		if attempt == 1 {
			f.srv.Push(t, f.repo, gittest.Change{Files: map[string]string{"notes/by-human.md": "hello"}, Message: "human edit"})
		}
	})
	res, err := rp.Publish(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 2 {
		t.Fatalf("attempts = %d, want 2", res.Attempts)
	}
	assertFiles(t, f.srv.Files(t, f.repo, "main"), map[string]string{"apps/a.yaml": "a2", "apps/b/c.yaml": "c2", "notes/by-human.md": "hello"})
	f.whole(t, "")
}

// TestRepoPublishOneRequest: once a Repo has pushed, a publish with a
// change makes one request (the push: its lease is receive-pack's atomic
// check of the old value), and one with no change one too (the fetch that
// compares with the remote's tip, so that a change by hand is still put
// back); a push on a tip that moved meanwhile is refused by the remote
// and made again on the new one.
func TestRepoPublishOneRequest(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var mu sync.Mutex
	var seen []string
	counted := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+path.Base(r.URL.Path)+"?"+r.URL.RawQuery)
		mu.Unlock()
		f.srv.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(counted.Close)
	requests := func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := seen
		seen = nil
		return out
	}
	url := counted.URL + "/" + f.repo + ".git"
	rp := f.openRepo(t, url)
	f.srv.Push(t, f.repo, gittest.Change{Files: map[string]string{"keep/README": "not managed\n"}, Message: "seed"})
	files := map[string]string{"apps/a.yaml": "a1\n"}
	publish := func(what string, wantChanged bool) gitops.Result {
		t.Helper()
		req := f.request(files, "apps")
		req.Target.URL = url
		res, err := rp.Publish(ctx, req)
		if err != nil || res.Changed != wantChanged {
			t.Fatalf("%s: changed %v, %v", what, res.Changed, err)
		}
		if res.Changed && f.srv.Head(t, f.repo, "main") != res.Commit {
			t.Fatalf("%s: the branch is at %s, not at the commit %s", what, f.srv.Head(t, f.repo, "main"), res.Commit)
		}
		return res
	}
	publish("first", true)
	requests()

	files["apps/a.yaml"] = "a2\n"
	publish("a change", true)
	if got := requests(); len(got) != 1 || got[0] != "POST git-receive-pack?" {
		t.Errorf("a change made the requests %q, want the push alone", got)
	}
	publish("no change", false)
	if got := requests(); len(got) != 1 || got[0] != "GET refs?service=git-upload-pack" {
		t.Errorf("no change made the requests %q, want the fetch's advertisement alone", got)
	}

	// A change by hand in a managed path is put back by the same files.
	f.srv.Push(t, f.repo, gittest.Change{Files: map[string]string{"apps/a.yaml": "by hand\n"}, Message: "by hand"})
	publish("the same files after a change by hand", true)
	assertFiles(t, f.srv.Files(t, f.repo, "main"), map[string]string{"keep/README": "not managed\n", "apps/a.yaml": "a2\n"})

	// Another writer moved the tip since: the push on the tip known is
	// refused, and the change goes on the new one.
	f.srv.Push(t, f.repo, gittest.Change{Files: map[string]string{"notes/other.md": "hello\n"}, Message: "other"})
	requests()
	files["apps/a.yaml"] = "a3\n"
	if res := publish("a change on a moved tip", true); res.Attempts != 2 {
		t.Errorf("attempts %d, want 2 (the push refused, then made on the new tip)", res.Attempts)
	}
	if got := requests(); len(got) < 3 || got[0] != "POST git-receive-pack?" || got[len(got)-1] != "POST git-receive-pack?" {
		t.Errorf("requests %q, want a refused push, a fetch and a push", got)
	}
	assertFiles(t, f.srv.Files(t, f.repo, "main"), map[string]string{"keep/README": "not managed\n", "apps/a.yaml": "a3\n", "notes/other.md": "hello\n"})
	f.whole(t, "")
}

// TestRepoPublishAfterHistoryRewritten: the branch was replaced by an
// unrelated history and the old objects pruned on the server. The push
// on the tip the Repo knows is refused (its parent's objects are gone),
// and the publish goes on from a fetch of the new tip instead of failing.
func TestRepoPublishAfterHistoryRewritten(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	rp := f.openRepo(t, f.srv.RepoURL(f.repo))
	files := map[string]string{"apps/a.yaml": "a1\n", "apps/b/c.yaml": "c1\n"}
	for i := range 2 { // the second push learns the remote's capabilities
		files["apps/b/c.yaml"] = fmt.Sprintf("c%d\n", i)
		if _, err := rp.Publish(ctx, f.request(files, "apps")); err != nil {
			t.Fatal(err)
		}
	}
	f.srv.Push(t, f.repo, gittest.Change{Branch: "rewritten", Files: map[string]string{"notes/new.md": "a new history\n"}, Message: "new history"})
	f.srv.Git(t, f.repo, "update-ref", "refs/heads/main", "refs/heads/rewritten")
	f.srv.Git(t, f.repo, "update-ref", "-d", "refs/heads/rewritten")
	f.srv.Git(t, f.repo, "reflog", "expire", "--expire=now", "--all")
	f.srv.Git(t, f.repo, "gc", "--prune=now", "--quiet")

	files["apps/a.yaml"] = "a2\n"
	res, err := rp.Publish(ctx, f.request(files, "apps"))
	if err != nil {
		t.Fatalf("publish after the history was rewritten: %v", err)
	}
	if f.srv.Head(t, f.repo, "main") != res.Commit {
		t.Errorf("the branch is not at the commit %s", res.Commit)
	}
	assertFiles(t, f.srv.Files(t, f.repo, "main"), map[string]string{"notes/new.md": "a new history\n", "apps/a.yaml": "a2\n", "apps/b/c.yaml": "c1\n"})
	f.whole(t, "")
}

// openRepo opens the Repo of the fixture's repository at url.
func (f *fixture) openRepo(t *testing.T, url string) *gitops.Repo {
	t.Helper()
	rp, err := gitops.OpenRepo(gitops.Target{Name: "config", URL: url}, f.auth)
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

// whole fails the test when git's fsck finds an object missing from the
// fixture's repository: a pushed pack left something out.
func (f *fixture) whole(t *testing.T, what string) {
	t.Helper()
	if out := f.srv.Git(t, f.repo, "fsck", "--strict", "--no-dangling"); strings.Contains(out, "missing") {
		t.Fatalf("%s: git fsck: %s", what, out)
	}
}
