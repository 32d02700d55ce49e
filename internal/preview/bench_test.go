package preview_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/cli"
	"github.com/dmls-project/dmls/internal/preview"
	"github.com/dmls-project/dmls/internal/synth"
	"github.com/dmls-project/dmls/internal/workspace"
)

// oneChanged is the synthetic workspace of n apps with app-0001 at 8
// workers in prod instead of 4.
func oneChanged(n int) (fstest.MapFS, fstest.MapFS) {
	base, head := synth.Workspace(n), synth.Workspace(n)
	f := *head["apps/app-0001/app.cue"]
	f.Data = []byte(strings.Replace(string(f.Data), "overrides: prod: training: replicas: worker: replicas: 4", "overrides: prod: training: replicas: worker: replicas: 8", 1))
	head["apps/app-0001/app.cue"] = &f
	return base, head
}

// BenchmarkRender1000Apps is one `dmls render` of 1000 apps in three
// environments: load, build, and kustomize every overlay.
func BenchmarkRender1000Apps(b *testing.B) {
	fsys := synth.Workspace(1000)
	for b.Loop() {
		ws, err := workspace.Load(fsys, "ws", workspace.Options{})
		if err != nil {
			b.Fatal(err)
		}
		res, err := build.Workspace(ws, build.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := cli.Render(ws, res, cli.RenderOptions{Platform: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDiff1000AppsOneChanged is one preview of a change to one app of
// 1000: both sides loaded, one app rendered on each side. It must take at
// most twice BenchmarkRender1000Apps.
func BenchmarkDiff1000AppsOneChanged(b *testing.B) {
	base, head := oneChanged(1000)
	for b.Loop() {
		r, err := preview.Run(preview.Revision{FS: base, Rev: "base"}, preview.Revision{FS: head, Rev: "head"}, preview.Options{Root: "ws"})
		if err != nil {
			b.Fatal(err)
		}
		if len(r.Units) != 1 {
			b.Fatalf("%d units changed, want 1", len(r.Units))
		}
	}
}

// TestOnlyChangedAppsRendered checks the preview of a change to one app
// of many: only that app shows, with the right summary.
func TestOnlyChangedAppsRendered(t *testing.T) {
	base, head := oneChanged(20)
	r, err := preview.Run(preview.Revision{FS: base, Rev: "base"}, preview.Revision{FS: head, Rev: "head"}, preview.Options{Root: "ws"})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Units) != 1 || r.Units[0].Title != "app-0001/prod" {
		t.Fatalf("units %+v, want app-0001/prod only", r.Units)
	}
	if len(r.Summary) != 1 || r.Summary[0].String() != "app-0001/prod: training workers 4→8" {
		t.Fatalf("summary %v", r.Summary)
	}
	if len(r.ArgoCD) != 1 || r.ArgoCD[0].Application != "app-0001-prod" || len(r.ArgoCD[0].Update) != 1 {
		t.Fatalf("Argo CD view %+v", r.ArgoCD)
	}
	r, err = preview.Run(preview.Revision{FS: base, Rev: "base"}, preview.Revision{FS: base, Rev: "base"}, preview.Options{Root: "ws"})
	if err != nil || r.Changed() {
		t.Fatalf("the same revision twice: %v, %+v", err, r)
	}
}

// TestEnvironmentChangeSaidOnce checks that a change every app of an
// environment shares (the environment's min scale) is one summary line.
func TestEnvironmentChangeSaidOnce(t *testing.T) {
	base, head := synth.Workspace(8), synth.Workspace(8)
	f := *head["overlays/prod.cue"]
	f.Data = []byte(strings.Replace(string(f.Data), "serving: minScale: 2", "serving: minScale: 0", 1))
	head["overlays/prod.cue"] = &f
	r, err := preview.Run(preview.Revision{FS: base, Rev: "base"}, preview.Revision{FS: head, Rev: "head"}, preview.Options{Root: "ws"})
	if err != nil {
		t.Fatal(err)
	}
	want := "prod: min scale 2→0 (scale to zero enabled) (apps app-0000, app-0001, app-0002, app-0003, app-0004 and 3 more)"
	if len(r.Summary) != 1 || r.Summary[0].String() != want {
		t.Fatalf("summary %q, want %q", r.Summary, want)
	}
	if len(r.Units) != 8 || len(r.ArgoCD) != 8 {
		t.Fatalf("%d units and %d Applications changed, want 8 of each", len(r.Units), len(r.ArgoCD))
	}
	// --app keeps one app.
	r, err = preview.Run(preview.Revision{FS: base, Rev: "base"}, preview.Revision{FS: head, Rev: "head"}, preview.Options{Root: "ws", Apps: []string{"app-0003"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Units) != 1 || r.Summary[0].String() != "app-0003/prod: min scale 2→0 (scale to zero enabled)" {
		t.Fatalf("--app app-0003: %d units, summary %q", len(r.Units), r.Summary)
	}
}
