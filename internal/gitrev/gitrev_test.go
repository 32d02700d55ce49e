package gitrev_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/dmls-project/dmls/internal/gitrev"
	"github.com/dmls-project/dmls/internal/gittest"
)

func TestFSAtRevision(t *testing.T) {
	l := gittest.NewLocal(t, t.TempDir())
	l.Write(map[string]string{"README.md": "top\n"})
	first := l.Commit("no workspace yet")
	l.Write(map[string]string{
		"specs/platform.cue":        "name: \"p\"\n",
		"specs/apps/a/app.cue":      "name: \"a\"\n",
		"specs/apps/b/b.cue":        "name: \"b\"\n",
		"specs/overlays/dev.cue":    "order: 0\n",
		"specs/overlays/sub/x.yaml": "x: 1\n",
	})
	if err := os.Symlink("../README.md", filepath.Join(l.Dir, "specs", "link")); err != nil {
		t.Fatal(err)
	}
	second := l.Commit("workspace")
	l.Write(map[string]string{"specs/apps/a/app.cue": "name: \"a2\"\n"}) // not committed

	r, err := gitrev.Open(filepath.Join(l.Dir, "specs", "apps"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Sub != "specs/apps" {
		t.Fatalf("Sub = %q, want specs/apps", r.Sub)
	}
	r, err = gitrev.Open(filepath.Join(l.Dir, "specs"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := r.Resolve("HEAD")
	if err != nil || h.String() != second {
		t.Fatalf("Resolve(HEAD) = %s, %v; want %s", h, err, second)
	}
	if h, err := r.Resolve("main~1"); err != nil || h.String() != first {
		t.Fatalf("Resolve(main~1) = %s, %v; want %s", h, err, first)
	}
	for _, good := range []string{"HEAD^{commit}", "HEAD^{}"} {
		if h, err := r.Resolve(good); err != nil || h.String() != second {
			t.Errorf("Resolve(%s) = %s, %v; want %s", good, h, err, second)
		}
	}
	if h, err := r.Resolve(second[:8]); err != nil || h.String() != second {
		t.Fatalf("Resolve(short hash) = %s, %v; want %s", h, err, second)
	}
	// Issue 18, section 5: what names no commit is refused, not read as HEAD.
	for _, bad := range []string{"nope", "", "--upload-pack=x", "main~5", "HEAD:platform.cue", "HEAD:apps", "HEAD:", "main:specs", "HEAD^{tree}", "HEAD^{blob}", "HEAD~1^{tree}"} {
		if _, err := r.Resolve(bad); !errors.Is(err, gitrev.ErrNoRevision) {
			t.Errorf("Resolve(%q) = %v, want ErrNoRevision", bad, err)
		}
	}
	if _, err := r.FS(mustResolve(t, r, first)); !errors.Is(err, gitrev.ErrNoFolder) {
		t.Errorf("FS at a commit without the folder: %v, want ErrNoFolder", err)
	}

	fsys, err := r.FS(h)
	if err != nil {
		t.Fatal(err)
	}
	// The committed content, not the work tree's.
	b, err := fs.ReadFile(fsys, "apps/a/app.cue")
	if err != nil || string(b) != "name: \"a\"\n" {
		t.Fatalf("apps/a/app.cue = %q, %v", b, err)
	}
	for dir, want := range map[string][]string{"apps": {"a/app.cue", "b/b.cue"}, "overlays": {"dev.cue", "sub/x.yaml"}} {
		sub, err := fs.Sub(fsys, dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := fstest.TestFS(sub, want...); err != nil {
			t.Fatal(err)
		}
	}
	ents, err := fs.ReadDir(fsys, ".")
	if err != nil {
		t.Fatal(err)
	}
	var link fs.DirEntry
	for _, e := range ents {
		if e.Name() == "link" {
			link = e
		}
	}
	if link == nil || link.Type()&fs.ModeSymlink == 0 {
		t.Fatalf("the symlink is not listed as one: %v", link)
	}
	if _, err := fsys.Open("link"); err == nil {
		t.Fatal("opening a symlink should fail: it could lead outside the workspace")
	}
}

func TestOpenOutsideRepo(t *testing.T) {
	if _, err := gitrev.Open(t.TempDir()); !errors.Is(err, gitrev.ErrNoRepo) {
		t.Fatalf("Open outside a repository: %v, want ErrNoRepo", err)
	}
}

func mustResolve(t *testing.T, r *gitrev.Repo, rev string) plumbing.Hash {
	t.Helper()
	h, err := r.Resolve(rev)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
