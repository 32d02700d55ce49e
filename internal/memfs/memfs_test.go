package memfs

import (
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
)

// TestFS checks the indexed file system with fstest.TestFS, which
// compares every directory listing with what Open gives.
func TestFS(t *testing.T) {
	files := map[string][]byte{
		"platform.cue":          []byte("name: \"p\"\n"),
		"overlays/dev.cue":      []byte("order: 0\n"),
		"apps/a/app.json":       []byte("{}\n"),
		"apps/a/deep/x/y.cue":   []byte("y: 1\n"),
		"apps/b/app.cue":        []byte("name: \"b\"\n"),
		"apps/b/training.cue":   []byte("training: {}\n"),
		"apps/.hidden/app.json": []byte("{}\n"),
	}
	var names []string
	for p := range files {
		names = append(names, p)
	}
	if err := fstest.TestFS(New(files), names...); err != nil {
		t.Fatal(err)
	}
}

// TestOver checks that Over serves the names it holds from memory (a file
// it lacks is missing, not read through) and the rest from the base.
func TestOver(t *testing.T) {
	base := fstest.MapFS{"apps/a/app.cue": {Data: []byte("on disk")}, "charts/c/Chart.yaml": {Data: []byte("chart")}}
	holds := func(name string) bool { return name == "apps" || strings.HasPrefix(name, "apps/") }
	f := Over(map[string][]byte{"apps/b/app.cue": []byte("in memory")}, base, holds)
	if b, err := fs.ReadFile(f, "apps/b/app.cue"); err != nil || string(b) != "in memory" {
		t.Errorf("held file: %q, %v", b, err)
	}
	if _, err := fs.ReadFile(f, "apps/a/app.cue"); err == nil {
		t.Error("a held name the files lack is read from the base")
	}
	if b, err := fs.ReadFile(f, "charts/c/Chart.yaml"); err != nil || string(b) != "chart" {
		t.Errorf("base file: %q, %v", b, err)
	}
	if err := fstest.TestFS(f, "apps/b/app.cue", "charts/c/Chart.yaml"); err != nil {
		t.Fatal(err)
	}
}
