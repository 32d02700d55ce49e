package gitops_test

import (
	"context"
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
