package build

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/dmls-project/dmls/internal/memo"
	"github.com/dmls-project/dmls/internal/spec"
	"github.com/dmls-project/dmls/internal/synth"
	"github.com/dmls-project/dmls/internal/workspace"
)

// manyApps is a workspace of n apps in three environments.
func manyApps(n int) fstest.MapFS { return synth.Workspace(n) }

// BenchmarkLoad1000Apps loads and validates 1000 apps in 3 environments.
func BenchmarkLoad1000Apps(b *testing.B) {
	fsys := manyApps(1000)
	for b.Loop() {
		if _, err := workspace.Load(fsys, "ws", workspace.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuild1000Apps generates and lays out 1000 loaded apps, Argo CD
// objects included.
func BenchmarkBuild1000Apps(b *testing.B) {
	ws, err := workspace.Load(manyApps(1000), "ws", workspace.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Workspace(ws, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestManyApps checks that a large workspace loads and builds with every
// app in every environment.
func TestManyApps(t *testing.T) {
	ws, err := workspace.Load(manyApps(50), "ws", workspace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Workspace(ws, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Apps) != 50 {
		t.Fatalf("built %d apps, want 50", len(res.Apps))
	}
	k8s := res.Repos(ws.Platform)["k8s-config"]
	for _, p := range []string{"apps/app-0049/overlays/prod/kustomization.yaml", "argocd/prod/application-app-0049-prod.argocd.yaml"} {
		if _, ok := k8s[p]; !ok {
			t.Errorf("tree lacks %s", p)
		}
	}
}

// BenchmarkReload1000AppsOneChanged is what a long-running server pays
// per change: reload and rebuild 1000 apps with caches, one app changed.
func BenchmarkReload1000AppsOneChanged(b *testing.B) {
	fsys := manyApps(1000)
	wcache, bcache := memo.New[*spec.App](5000), memo.New[*App](5000)
	load := func() {
		ws, err := workspace.Load(fsys, "ws", workspace.Options{Cache: wcache})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Workspace(ws, Options{Cache: bcache}); err != nil {
			b.Fatal(err)
		}
	}
	load()
	i := 0
	for b.Loop() {
		i++
		fsys["apps/app-0001/app.cue"].Data = []byte(strings.Replace(string(fsys["apps/app-0001/app.cue"].Data), "epochs: ", fmt.Sprintf("epochs: %d+", i), 1))
		load()
	}
}

// TestCacheReusesUnchangedApps checks that cached loads and builds reuse
// the results of unchanged apps and redo changed ones.
func TestCacheReusesUnchangedApps(t *testing.T) {
	fsys := manyApps(3)
	wcache, bcache := memo.New[*spec.App](100), memo.New[*App](100)
	load := func() (*spec.Workspace, *Result) {
		ws, err := workspace.Load(fsys, "ws", workspace.Options{Cache: wcache})
		if err != nil {
			t.Fatal(err)
		}
		res, err := Workspace(ws, Options{Cache: bcache})
		if err != nil {
			t.Fatal(err)
		}
		return ws, res
	}
	ws1, res1 := load()
	fsys["apps/app-0001/app.cue"].Data = []byte(strings.Replace(string(fsys["apps/app-0001/app.cue"].Data), "maxScale: 4", "maxScale: 5", 1))
	ws2, res2 := load()
	if ws1.App("app-0000") != ws2.App("app-0000") || res1.Apps[0] != res2.Apps[0] {
		t.Errorf("unchanged app-0000 was evaluated again")
	}
	if ws1.App("app-0001") == ws2.App("app-0001") || res1.Apps[1] == res2.Apps[1] {
		t.Errorf("changed app-0001 came from the cache")
	}
	if got := *ws2.App("app-0001").Envs[0].Spec.Serving.Autoscaling.MaxScale; got != 5 {
		t.Errorf("changed app has maxScale %d, want 5", got)
	}
}
