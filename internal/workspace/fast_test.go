package workspace

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/dmls-project/dmls/internal/synth"
)

// loadBothWays loads fsys with the fast path and without it and fails if
// the two differ in anything: apps, instances, provenance, warnings and
// errors, positions included.
func loadBothWays(t *testing.T, name string, fsys fs.FS) {
	t.Helper()
	fast, ferr := Load(fsys, "ws", Options{Workers: 1})
	slow, serr := Load(fsys, "ws", Options{Workers: 1, legacy: true})
	if (ferr == nil) != (serr == nil) || (ferr != nil && ferr.Error() != serr.Error()) {
		t.Errorf("%s: errors differ:\nfast: %v\nfull: %v", name, ferr, serr)
		return
	}
	if !reflect.DeepEqual(fast, slow) {
		for i := range min(len(fast.Apps), len(slow.Apps)) {
			a, b := fast.Apps[i], slow.Apps[i]
			if !reflect.DeepEqual(a.Base, b.Base) {
				t.Errorf("%s: app %s: base differs:\nfast: %+v\nfull: %+v", name, a.Name, a.Base.Spec, b.Base.Spec)
			}
			for j := range min(len(a.Envs), len(b.Envs)) {
				if !reflect.DeepEqual(a.Envs[j], b.Envs[j]) {
					t.Errorf("%s: app %s in %s differs:\nfast: %+v\nfull: %+v", name, a.Name, a.Envs[j].Env.Name, a.Envs[j].Spec, b.Envs[j].Spec)
				}
			}
		}
		t.Errorf("%s: the fast path loads a different workspace", name)
	}
}

// namedFS is a workspace of the tests.
type namedFS struct {
	name string
	fsys fs.FS
}

// testWorkspaces are the workspaces the tests have: the example, a
// synthetic one, the workspace tests' valid and broken workspaces and
// every workspace in the CLI's scripts.
func testWorkspaces(t testing.TB) []namedFS {
	out := []namedFS{{"example", os.DirFS("../..")}, {"synth", synth.Workspace(40)}, {"test workspace", fsWith(nil)}}
	for _, tc := range loadErrorCases {
		out = append(out, namedFS{"error case " + tc.name, fsWith(tc.files)})
	}
	scripts, err := filepath.Glob("../cli/testdata/script/*.txtar")
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no CLI scripts: %v", err)
	}
	roots := 0
	for _, s := range scripts {
		ar, err := txtar.ParseFile(s)
		if err != nil {
			t.Fatal(err)
		}
		files := fstest.MapFS{}
		for _, f := range ar.Files {
			files[f.Name] = &fstest.MapFile{Data: f.Data}
		}
		for _, f := range ar.Files {
			if path.Base(f.Name) != "platform.cue" {
				continue
			}
			dir := path.Dir(f.Name)
			sub, err := fs.Sub(files, dir)
			if err != nil {
				t.Fatal(err)
			}
			roots++
			out = append(out, namedFS{strings.TrimSuffix(filepath.Base(s), ".txtar") + ":" + dir, sub})
		}
	}
	if roots < 10 {
		t.Fatalf("found %d workspaces in the CLI scripts, want at least 10", roots)
	}
	return out
}

// TestFastPathEqualsFullPath holds the fast path of loadApp to the full
// one on every workspace the tests have.
func TestFastPathEqualsFullPath(t *testing.T) {
	before := fastHits.Load()
	for i, w := range testWorkspaces(t) {
		loadBothWays(t, w.name, w.fsys)
		if i == 2 && fastHits.Load()-before < 42 {
			t.Fatalf("the fast path was taken for %d apps, want at least 42", fastHits.Load()-before)
		}
	}
}
