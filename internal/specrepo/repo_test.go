package specrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/gitops"
	"github.com/dmls-project/dmls/internal/gittest"
	"github.com/dmls-project/dmls/internal/memfs"
	"github.com/dmls-project/dmls/internal/publish"
	"github.com/dmls-project/dmls/internal/workspace"
)

// exampleWorkspace is the bundled example's platform, environments and
// charts, without its apps.
func exampleWorkspace(t testing.TB) map[string]string {
	t.Helper()
	root := os.DirFS(filepath.Join("..", ".."))
	files := map[string]string{}
	for _, pattern := range []string{"platform.cue", "overlays/*.cue", "charts/*/*.yaml", "charts/*/templates/*.yaml"} {
		names, err := fs.Glob(root, pattern)
		if err != nil || len(names) == 0 {
			t.Fatalf("the example has no %s: %v", pattern, err)
		}
		for _, name := range names {
			b, err := fs.ReadFile(root, name)
			if err != nil {
				t.Fatal(err)
			}
			files[name] = string(b)
		}
	}
	return files
}

// startMLModel starts a git server with an ml-model repo that holds the
// example's platform and environments.
func startMLModel(t testing.TB) (*gittest.Server, gitops.Auth) {
	t.Helper()
	g := gittest.Start(t)
	g.CreateRepo(t, "ml-model")
	g.Push(t, "ml-model", gittest.Change{Files: exampleWorkspace(t), Message: "seed"})
	u, p := g.Credentials()
	return g, gitops.Auth{Username: u, Password: p}
}

// TestStaleCommitIsRefused commits twice from one read: the second commit
// must fail with gitops.ErrStale rather than undo the first.
func TestStaleCommitIsRefused(t *testing.T) {
	g, auth := startMLModel(t)
	st := New(Config{Target: gitops.Target{Name: "ml-model", URL: g.RepoURL("ml-model")}, Auth: auth})
	ctx := context.Background()
	sn, err := st.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	app := func(name string) []byte {
		return []byte(`{"name":"` + name + `","team":"ml-research","training":{"image":"registry.example.com/t:1","replicas":{"worker":{"replicas":1}}}}`)
	}
	next, err := st.Commit(ctx, sn, map[string][]byte{"one": app("one")}, "one", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Commit(ctx, sn, map[string][]byte{"two": app("two")}, "two", nil, nil); !errors.Is(err, gitops.ErrStale) {
		t.Fatalf("a commit from a stale read: %v, want ErrStale", err)
	}
	// From the commit's own snapshot, and from a new read, it goes through.
	third, err := st.Commit(ctx, next, map[string][]byte{"two": app("two")}, "two", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Commit(ctx, next, map[string][]byte{"three": app("three")}, "three", nil, nil); !errors.Is(err, gitops.ErrStale) {
		t.Fatalf("a commit from a superseded snapshot: %v, want ErrStale", err)
	}
	fresh, err := st.Read(ctx)
	if err != nil || fresh.SHA != third.SHA {
		t.Fatalf("read %v %v", fresh, err)
	}
	if _, err := st.Commit(ctx, fresh, map[string][]byte{"three": app("three")}, "three", nil, nil); err != nil {
		t.Fatal(err)
	}
	files := g.Files(t, "ml-model", "")
	for _, name := range []string{"one", "two", "three"} {
		if _, ok := files["apps/"+name+"/app.json"]; !ok {
			t.Errorf("%s is missing", name)
		}
	}
}

// TestIncrementalBuildMatchesBuild checks that the server's build, with
// URL overrides and apps from its caches, gives the same config repo trees
// as build.Workspace on a fresh load, and that a new snapshot evaluates
// only the app that changed.
func TestIncrementalBuildMatchesBuild(t *testing.T) {
	files := map[string][]byte{}
	for p, c := range exampleWorkspace(t) {
		files[p] = []byte(c)
	}
	for i := range 3 {
		files[fmt.Sprintf("apps/job-%d/app.json", i)] = []byte(fmt.Sprintf(`{"name":"job-%d","team":"ml-serving","envs":["dev"],"training":{"image":"registry.example.com/t:%d","replicas":{"worker":{"replicas":2}}}}`, i, i))
	}
	urls := map[string]string{"k8s-config": "https://git.example.com/other/k8s-config.git"}
	st := New(Config{Target: gitops.Target{URL: "unused"}, URLs: urls})
	sn := st.install(1, "0000000000000000000000000000000000000000", files, nil)
	// same holds the build of sn to build.Workspace of a fresh load.
	same := func(sn *Snapshot, files map[string][]byte) {
		t.Helper()
		res, ws, err := sn.Build()
		if err != nil {
			t.Fatal(err)
		}
		got := res.Repos(ws.Platform)
		full, err := workspace.Load(memfs.New(files), "", workspace.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := publish.OverrideURLs(full.Platform, urls); err != nil {
			t.Fatal(err)
		}
		want, err := build.Workspace(full, build.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for repo, tree := range want.Repos(full.Platform) {
			if len(tree) != len(got[repo]) {
				t.Errorf("%s: %d files, want %d", repo, len(got[repo]), len(tree))
			}
			for p, b := range tree {
				if !bytes.Equal(got[repo][p], b) {
					t.Errorf("%s: %s differs", repo, p)
				}
			}
		}
	}
	same(sn, files)
	// A second snapshot that changes one app loads only that app. (A
	// copy: the first snapshot holds files, and a snapshot never changes.)
	files = maps.Clone(files)
	files["apps/job-1/app.json"] = []byte(`{"name":"job-1","team":"ml-serving","envs":["dev"],"training":{"image":"registry.example.com/t:9","replicas":{"worker":{"replicas":2}}}}`)
	sn2 := st.install(2, "1111111111111111111111111111111111111111", files, nil)
	for dir, e := range sn2.Dirs {
		if reused := e.App == sn.Dirs[dir].App && e.Built == sn.Dirs[dir].Built; reused == (dir == "job-1") {
			t.Errorf("%s: reused %v", dir, reused)
		}
	}
	if sn2.kept == nil || sn2.WS.Platform != sn.WS.Platform {
		t.Error("the second snapshot was not reloaded from the first")
	}
	same(sn2, files)
}
