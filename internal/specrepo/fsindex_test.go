package specrepo

import (
	"testing"
	"testing/fstest"
)

// TestIndexFS checks the indexed file system with fstest.TestFS, which
// compares every directory listing with what Open gives.
func TestIndexFS(t *testing.T) {
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
	if err := fstest.TestFS(newIndexFS(files), names...); err != nil {
		t.Fatal(err)
	}
}
