package cli

import (
	"bytes"
	"testing"

	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/synth"
	"github.com/dmls-project/dmls/internal/workspace"
)

// TestParallelEqualsSequential renders a synthetic workspace of every app
// shape with one worker and with several, load, build and render alike,
// and compares the bytes.
func TestParallelEqualsSequential(t *testing.T) {
	fsys := synth.Workspace(30)
	render := func(workers int) map[string][]byte {
		ws, err := workspace.Load(fsys, "ws", workspace.Options{Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		res, err := build.Workspace(ws, build.Options{Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		files, err := Render(ws, res, RenderOptions{Platform: true, Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		return files
	}
	seq, par := render(1), render(6)
	if len(seq) != 30*3+3 {
		t.Fatalf("rendered %d files, want %d", len(seq), 30*3+3)
	}
	if len(par) != len(seq) {
		t.Fatalf("parallel render has %d files, sequential %d", len(par), len(seq))
	}
	for name, b := range seq {
		if !bytes.Equal(b, par[name]) {
			t.Errorf("%s differs between the sequential and the parallel render", name)
		}
	}
}
