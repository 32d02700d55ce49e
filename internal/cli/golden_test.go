package cli

import (
	"bytes"
	"os"
	"testing"

	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/golden"
	"github.com/dmls-project/dmls/internal/workspace"
)

// renderExample renders the bundled example workspace at the repo root.
func renderExample(t testing.TB, workers int) (map[string][]byte, map[string][]byte) {
	return renderExampleWith(t, workers, false)
}

func renderExampleWith(t testing.TB, workers int, viaKustomize bool) (map[string][]byte, map[string][]byte) {
	t.Helper()
	ws, err := workspace.Load(os.DirFS("../.."), ".", workspace.Options{Workers: workers})
	if err != nil {
		t.Fatalf("load example: %v", err)
	}
	res, err := build.Workspace(ws, build.Options{Workers: workers})
	if err != nil {
		t.Fatalf("build example: %v", err)
	}
	files, err := Render(ws, res, RenderOptions{Platform: true, Workers: workers, ViaKustomize: viaKustomize})
	if err != nil {
		t.Fatalf("render example: %v", err)
	}
	gen := map[string][]byte{}
	for repo, tree := range res.Repos(ws.Platform) {
		for p, b := range tree {
			gen[repo+"/"+p] = b
		}
	}
	return files, gen
}

// TestExampleGolden pins the rendered example and its GitOps tree.
func TestExampleGolden(t *testing.T) {
	rendered, gen := renderExample(t, 0)
	golden.CheckTree(t, "testdata/golden/rendered", rendered)
	golden.CheckTree(t, "testdata/golden/generated", gen)
}

// TestDeterministic renders the example three ways, sequentially, in
// parallel and through the kustomize API, and compares the bytes.
func TestDeterministic(t *testing.T) {
	a, ga := renderExample(t, 1)
	b, gb := renderExample(t, 8)
	k, _ := renderExampleWith(t, 1, true)
	for _, pair := range [][2]map[string][]byte{{a, b}, {ga, gb}, {a, k}} {
		if len(pair[0]) != len(pair[1]) {
			t.Fatalf("renders differ in file count: %d vs %d", len(pair[0]), len(pair[1]))
		}
		for name, x := range pair[0] {
			if !bytes.Equal(x, pair[1][name]) {
				t.Errorf("%s differs between two renders", name)
			}
		}
	}
}

// BenchmarkRenderExample measures the whole pipeline on the example.
func BenchmarkRenderExample(b *testing.B) {
	for b.Loop() {
		renderExample(b, 0)
	}
}
