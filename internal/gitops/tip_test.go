package gitops_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/dmls-project/dmls/internal/gitops"
	"github.com/dmls-project/dmls/internal/gittest"
)

func TestTip(t *testing.T) {
	f := newFixture(t)
	target := gitops.Target{URL: f.srv.RepoURL(f.repo)}
	if sha, err := gitops.Tip(context.Background(), target, f.auth); err != nil || sha != "" {
		t.Fatalf("empty repo: %q, %v; want nothing", sha, err)
	}
	want := f.srv.Push(t, f.repo, gittest.Change{Files: map[string]string{"a": "b"}})
	if sha, err := gitops.Tip(context.Background(), target, f.auth); err != nil || sha != want {
		t.Fatalf("tip %q, %v; want %s", sha, err, want)
	}
	target.Branch = "nope"
	if sha, err := gitops.Tip(context.Background(), target, f.auth); err != nil || sha != "" {
		t.Fatalf("missing branch: %q, %v; want nothing", sha, err)
	}
}

func TestHistory(t *testing.T) {
	f := newFixture(t)
	target := gitops.Target{URL: f.srv.RepoURL(f.repo)}
	h, err := gitops.ReadHistory(context.Background(), target, f.auth)
	if err != nil || h.Tip() != "" || h.LastChange([]string{"a"}) != "" {
		t.Fatalf("empty repo: %v", err)
	}
	first := f.srv.Push(t, f.repo, gittest.Change{Files: map[string]string{"apps/a/base/x": "1", "apps/b/base/x": "1"}})
	second := f.srv.Push(t, f.repo, gittest.Change{Files: map[string]string{"apps/a/base/x": "1", "apps/b/base/x": "2"}})
	h, err = gitops.ReadHistory(context.Background(), target, f.auth)
	if err != nil {
		t.Fatal(err)
	}
	if h.Tip() != second {
		t.Errorf("tip %s, want %s", h.Tip(), second)
	}
	if got := h.LastChange([]string{"apps/a/base", "apps/a/overlays/dev"}); got != first {
		t.Errorf("last change of a: %s, want %s", got, first)
	}
	if got := h.LastChange([]string{"apps/b/base"}); got != second {
		t.Errorf("last change of b: %s, want %s", got, second)
	}
	if got := h.LastChange([]string{"apps/none"}); got != second {
		t.Errorf("last change of nothing: %s, want the tip", got)
	}
	if !h.Includes(second, first) || !h.Includes(first, first) || h.Includes(first, second) || h.Includes("0123456789012345678901234567890123456789", first) {
		t.Error("Includes is wrong")
	}
}

// TestLastChangesSince holds the answer LastChanges builds on its last
// one (a few commits later) to the answer of a whole walk of the history.
func TestLastChangesSince(t *testing.T) {
	f := newFixture(t)
	target := gitops.Target{URL: f.srv.RepoURL(f.repo)}
	ctx := context.Background()
	f.srv.Push(t, f.repo, gittest.Change{Files: map[string]string{"apps/a/x": "1", "apps/b/x": "1"}})
	f.srv.Push(t, f.repo, gittest.Change{Files: map[string]string{"apps/a/x": "1", "apps/b/x": "2"}})
	kept, err := gitops.ReadHistory(ctx, target, f.auth)
	if err != nil {
		t.Fatal(err)
	}
	dirs := map[string][]string{"a": {"apps/a"}, "b": {"apps/b"}, "never": {"apps/never"}}
	kept.LastChanges(dirs)
	third := f.srv.Push(t, f.repo, gittest.Change{Files: map[string]string{"apps/a/x": "2", "apps/b/x": "2"}})
	f.srv.Push(t, f.repo, gittest.Change{Files: map[string]string{"apps/a/x": "2", "apps/b/x": "2", "apps/c/x": "1"}})
	if err := kept.Update(ctx); err != nil {
		t.Fatal(err)
	}
	// The third commit's changes as its maker knows them: LastChanges
	// reads them instead of its diff.
	kept.Touched(third, []string{"apps/a/x"})
	for _, ask := range []map[string][]string{
		// b and never are taken from the last answer, a and c read anew.
		{"a": {"apps/a"}, "b": {"apps/b"}, "c": {"apps/c"}, "never": {"apps/never"}},
		// b asked with other folders: the whole history is walked.
		{"a": {"apps/a"}, "b": {"apps/b", "apps/never"}},
		{"b": {"apps/b"}, "new": {"apps/new"}},
	} {
		fresh, err := gitops.ReadHistory(ctx, target, f.auth)
		if err != nil {
			t.Fatal(err)
		}
		want := fresh.LastChanges(ask)
		if got := kept.LastChanges(ask); !reflect.DeepEqual(got, want) {
			t.Errorf("LastChanges(%v) on the last answer:\n%v\nwant, walking the history:\n%v", ask, got, want)
		}
		if len(want) == 0 {
			t.Fatalf("LastChanges(%v) found nothing", ask)
		}
	}
}

// TestCommitGraphExtend adds a Repo's own commits to a history without
// fetching them, and holds the result to a history read afresh; a commit
// whose parent the history does not have as its tip is left to Update.
func TestCommitGraphExtend(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	target := gitops.Target{URL: f.srv.RepoURL(f.repo)}
	rp := f.openRepo(t, target.URL)
	f.srv.Push(t, f.repo, gittest.Change{Files: map[string]string{"keep/README": "not managed\n"}, Message: "seed"})
	files := map[string]string{"apps/a/x": "1\n"}
	publish := func() string {
		t.Helper()
		res, err := rp.Publish(ctx, f.request(files, "apps"))
		if err != nil || !res.Changed {
			t.Fatalf("publish: changed %v, %v", res.Changed, err)
		}
		return res.Commit
	}
	first := publish()
	g, err := gitops.ReadHistory(ctx, target, f.auth)
	if err != nil || g.Tip() != first {
		t.Fatalf("history at %s, %v; want %s", g.Tip(), err, first)
	}
	fetches := f.srv.Fetches(f.repo)
	files["apps/b/x"] = "1\n"
	second := publish()
	files["apps/a/x"] = "2\n"
	files["apps/c/y"] = "1\n"
	delete(files, "apps/b/x")
	third := publish()
	for _, c := range []string{second, third} {
		if !g.Extend(rp, c) {
			t.Fatalf("the history was not extended by %s", c)
		}
	}
	if n := f.srv.Fetches(f.repo) - fetches; n != 0 {
		t.Errorf("%d fetches to extend the history, want none", n)
	}
	if g.Tip() != third {
		t.Errorf("tip %s, want %s", g.Tip(), third)
	}
	dirs := map[string][]string{"a": {"apps/a"}, "b": {"apps/b"}, "c": {"apps/c"}, "keep": {"keep"}}
	fresh, err := gitops.ReadHistory(ctx, target, f.auth)
	if err != nil {
		t.Fatal(err)
	}
	got, want := g.LastChanges(dirs), fresh.LastChanges(dirs)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("last changes of the extended history %v, want those of a fresh read %v", got, want)
	}
	if got["a"].Commit != third || got["b"].Commit != third || got["c"].Commit != third {
		t.Errorf("last changes %v: a, b and c last changed in %s", got, third)
	}
	if a := g.At(second); a == nil || a.LastChange([]string{"apps/b"}) != second {
		t.Errorf("the history at %s does not say it added apps/b", second)
	}

	// Another writer pushed: the Repo's next commit is not on the tip the
	// history has, which Update then fetches.
	other := f.srv.Push(t, f.repo, gittest.Change{Files: map[string]string{"keep/README": "not managed\n", "apps/a/x": "2\n", "apps/c/y": "1\n", "notes/x": "1\n"}, Message: "other"})
	files["apps/d/x"] = "1\n"
	fourth := publish()
	if g.Extend(rp, fourth) {
		t.Fatalf("extended over %s, which the history lacks", other)
	}
	if err := g.Update(ctx); err != nil || g.Tip() != fourth {
		t.Fatalf("after Update the tip is %s, %v; want %s", g.Tip(), err, fourth)
	}
	if !g.Includes(fourth, other) {
		t.Error("the other writer's commit is not in the history")
	}
}
