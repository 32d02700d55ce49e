package catalog

import (
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/golden"
	"github.com/dmls-project/dmls/internal/spec"
	"github.com/dmls-project/dmls/internal/workspace"
)

func exampleInput(t *testing.T, mutate func(*spec.Workspace)) Input {
	t.Helper()
	in := inputOf(t, os.DirFS("../.."), ".", mutate)
	in.Changes = map[string]Change{
		"fashion-mnist": {Commit: "0123456789abcdef0123456789abcdef01234567", Author: "Ada <ada@example.com>", Date: "2026-12-01T09:00:00Z", Subject: "fashion-mnist: 10% canary in staging"},
	}
	return in
}

// inputOf is the catalog's input of the workspace at root in fsys, loaded,
// changed by mutate (if not nil) and built.
func inputOf(t *testing.T, fsys fs.FS, root string, mutate func(*spec.Workspace)) Input {
	t.Helper()
	ws, err := workspace.Load(fsys, root, workspace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(ws)
	}
	res, err := build.Workspace(ws, build.Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := Input{Platform: ws.Platform}
	for _, a := range res.Apps {
		in.Apps = append(in.Apps, App{App: a.App, Objects: a.Objects})
	}
	return in
}

// TestGolden checks the catalog of the bundled example against
// testdata/tree (refresh with -update), and that it is deterministic.
func TestGolden(t *testing.T) {
	tree := Tree(exampleInput(t, nil))
	golden.CheckTree(t, "testdata/tree", tree)
	again := Tree(exampleInput(t, nil))
	for p, b := range tree {
		if string(again[p]) != string(b) {
			t.Errorf("%s differs between two runs", p)
		}
	}
}

// TestNoSecretsNoMarkup: environment variables, arguments and credentials
// in URLs never reach the catalog, and user strings cannot inject HTML
// or break a table.
func TestNoSecretsNoMarkup(t *testing.T) {
	in := exampleInput(t, nil)
	a := in.Apps[0]
	a.App.Base.Spec.Labels = map[string]string{"description": "<script>alert(1)</script> | broken"}
	for _, env := range a.App.Envs {
		if m := env.Spec.Serving.Model; m != nil {
			m.StorageURI = "s3://AKIAEXAMPLE:hunter2@bucket/model"
		}
		for _, o := range a.Objects[env.Env.Name] {
			if o.GetKind() == "TFJob" {
				specs := o.Object["spec"].(map[string]any)["tfReplicaSpecs"].(map[string]any)
				for _, rs := range specs {
					ctrs := rs.(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)
					ctrs[0].(map[string]any)["env"] = []any{map[string]any{"name": "TOKEN", "value": "hunter2"}}
					ctrs[0].(map[string]any)["args"] = []any{"--password=hunter2"}
				}
			}
		}
	}
	tree := Tree(in)
	page := string(tree["catalog/ml-research/fashion-mnist.md"])
	if page == "" {
		t.Fatal("no page for fashion-mnist")
	}
	for p, b := range tree {
		if strings.Contains(string(b), "hunter2") || strings.Contains(string(b), "<script") {
			t.Errorf("%s holds a secret or markup:\n%s", p, b)
		}
	}
	if !strings.Contains(page, "| Description | &lt;script&gt;alert(1)&lt;/script&gt; \\| broken |") {
		t.Errorf("description not escaped:\n%s", page)
	}
	if !strings.Contains(page, "`s3://bucket/model`") {
		t.Errorf("model URI not shown without its credentials:\n%s", page)
	}
}

// TestMemo: the catalog made through a Memo is byte for byte the one made
// without, again and after an app's last change moved, and the memo is
// used (a page whose app and change are the same comes from it).
func TestMemo(t *testing.T) {
	in := exampleInput(t, nil)
	m := NewMemo(64)
	same := func(what string, in Input) {
		t.Helper()
		want := Tree(in)
		in.Memo = m
		got := Tree(in)
		if len(got) != len(want) {
			t.Errorf("%s: %d files through the memo, want %d", what, len(got), len(want))
		}
		for p, b := range want {
			if string(got[p]) != string(b) {
				t.Errorf("%s: %s differs through the memo:\n%s\nwant:\n%s", what, p, got[p], b)
			}
		}
	}
	same("first", in)
	if m.c.Len() == 0 {
		t.Fatal("the memo holds no page")
	}
	n := m.c.Len()
	same("again", in)
	if m.c.Len() != n {
		t.Errorf("the memo grew from %d to %d pages for the same input", n, m.c.Len())
	}
	in.Changes = map[string]Change{"fashion-mnist": {Commit: "fedcba9876543210fedcba9876543210fedcba98", Author: "Bo", Date: "2026-12-02T09:00:00Z", Subject: "later"}}
	same("the last change moved", in)
	if m.c.Len() != n+1 {
		t.Errorf("the memo holds %d pages after one page changed, want %d", m.c.Len(), n+1)
	}
}
