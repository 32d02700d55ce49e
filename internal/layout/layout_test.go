package layout

import (
	"io/fs"
	"slices"
	"testing"
	"testing/fstest"
)

func TestAppOf(t *testing.T) {
	for _, tt := range []struct {
		rel, app, env string
		ok            bool
	}{
		{"apps/mnist/overlays/prod/kustomization.yaml", "mnist", "prod", true},
		{"/apps/mnist/base/tfjob.yaml", "mnist", "", true},
		{"apps/mnist/overlays", "mnist", "", true},
		{"apps/mnist", "", "", false},
		{"platform/prod/namespace.yaml", "", "", false},
		{"argocd/prod/app.yaml", "", "", false},
	} {
		app, env, ok := AppOf(tt.rel)
		if app != tt.app || env != tt.env || ok != tt.ok {
			t.Errorf("AppOf(%q) = %q, %q, %v; want %q, %q, %v", tt.rel, app, env, ok, tt.app, tt.env, tt.ok)
		}
	}
	if app, env, _ := AppOf(OverlayDir("a", "dev") + "/x.yaml"); app != "a" || env != "dev" {
		t.Errorf("AppOf does not read OverlayDir back: %q %q", app, env)
	}
}

func TestDirsOf(t *testing.T) {
	if got := DirsOf("/cfg/apps/a/overlays/prod/"); !slices.Equal(got, []string{"cfg/apps/a/overlays/prod", "cfg/apps/a/base"}) {
		t.Errorf("overlay: %q", got)
	}
	if got := DirsOf("platform/prod"); !slices.Equal(got, []string{"platform/prod"}) {
		t.Errorf("platform: %q", got)
	}
}

func TestSpecFiles(t *testing.T) {
	fsys := fstest.MapFS{
		"apps/a/b.yaml":    {},
		"apps/a/a.cue":     {},
		"apps/a/.hid.cue":  {},
		"apps/a/README":    {},
		"apps/a/link.cue":  {Mode: fs.ModeSymlink},
		"apps/a/fifo.json": {Mode: fs.ModeNamedPipe},
	}
	entries, err := fs.ReadDir(fsys, "apps/a")
	if err != nil {
		t.Fatal(err)
	}
	files, refused := SpecFiles("apps/a", entries)
	if !slices.Equal(files, []string{"apps/a/a.cue", "apps/a/b.yaml"}) {
		t.Errorf("files = %q", files)
	}
	if len(refused) != 2 || refused["apps/a/link.cue"]&fs.ModeSymlink == 0 || refused["apps/a/fifo.json"]&fs.ModeNamedPipe == 0 {
		t.Errorf("refused = %v", refused)
	}
	if !IsPlatformFile("platform.yml") || IsPlatformFile("platform.txt") || IsPlatformFile("platforms.cue") {
		t.Error("IsPlatformFile")
	}
}
