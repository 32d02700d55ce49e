package build

import (
	"bytes"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/internal/memo"
	"github.com/dmls-project/dmls/internal/spec"
	"github.com/dmls-project/dmls/internal/synth"
	"github.com/dmls-project/dmls/internal/workspace"
)

// TestMemoMatchesFullBuild builds a workspace through one Memo after each
// of a series of changes (an app's spec, an app added and removed, a team
// namespace, an environment's guard rails, the Argo CD namespace) and checks that every tree is byte for
// byte the tree built without any cache, and that the memo was used.
func TestMemoMatchesFullBuild(t *testing.T) {
	fsys := synth.Workspace(6)
	m := NewMemo(16)
	loaded := memo.New[*spec.App](64)
	built := memo.New[*App](64)
	step := func(what string) {
		t.Helper()
		ws, err := workspace.Load(fsys, "ws", workspace.Options{Cache: loaded})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		got, err := Workspace(ws, Options{Cache: built, Memo: m})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		fresh, err := workspace.Load(fsys, "ws", workspace.Options{})
		if err != nil {
			t.Fatal(err)
		}
		want, err := Workspace(fresh, Options{})
		if err != nil {
			t.Fatal(err)
		}
		sameTree(t, what, got.Repos(ws.Platform)["k8s-config"], want.Repos(fresh.Platform)["k8s-config"])
	}
	edit := func(p, from, to string) {
		t.Helper()
		b := string(fsys[p].Data)
		if !strings.Contains(b, from) {
			t.Fatalf("%s has no %q", p, from)
		}
		fsys[p] = &fstest.MapFile{Data: []byte(strings.Replace(b, from, to, 1))}
	}
	step("first build")
	if m.argo == nil || m.checked.Len() == 0 || m.rails.Len() == 0 {
		t.Fatal("the memo holds nothing after a build")
	}
	step("the same workspace again")
	edit("apps/app-0003/app.cue", `team: "t"`, `team: "t"
overrides: dev: serving: traffic: {stable: "v1", canaryPercent: 50}`)
	step("one app changed")
	fsys["apps/app-0100/app.cue"] = &fstest.MapFile{Data: bytes.ReplaceAll(fsys["apps/app-0001/app.cue"].Data, []byte("app-0001"), []byte("app-0100"))}
	step("an app added")
	delete(fsys, "apps/app-0002/app.cue")
	step("an app removed")
	edit("overlays/staging.cue", `namespaces: t: "t-staging"`, `namespaces: t: "t-stage"`)
	step("a team namespace changed")
	edit("overlays/dev.cue", `order: 0`, `order: 0
podSecurity: "restricted"`)
	step("the guard rails of an environment changed")
	edit("platform.cue", `name: "p"`, `name: "p"
argocd: namespace: "gitops"`)
	step("the Argo CD namespace changed")
}

func sameTree(t *testing.T, what string, got, want generators.Tree) {
	t.Helper()
	for _, p := range slices.Sorted(maps.Keys(want)) {
		if !bytes.Equal(got[p], want[p]) {
			t.Errorf("%s: %s differs from the full build:\n%s\nwant:\n%s", what, p, got[p], want[p])
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: %s is not in the full build", what, p)
		}
	}
}

// TestSeededMemoSkipsWhatPassed checks the memo that internal/cache keeps
// across runs: a Whole seeded with what a first one passed gives the same
// trees, passes the same files, and drops seeded keys of files it no
// longer generates; a file that has findings is never among them.
func TestSeededMemoSkipsWhatPassed(t *testing.T) {
	ws := loadExample(t)
	res, err := Workspace(ws, Options{})
	if err != nil {
		t.Fatal(err)
	}
	kept := make([]Kept, len(res.Apps))
	for i, a := range res.Apps {
		kept[i] = a.Kept()
	}
	first := NewMemo(len(kept))
	first.Seed(nil)
	want, err := WholeMemo(ws, kept, first)
	if err != nil {
		t.Fatal(err)
	}
	passed := first.Passed()
	files := len(want.Platform) + len(want.ArgoCD) + len(want.Kubeflow) + len(want.Infra)
	if len(passed) == 0 || len(passed) > files {
		t.Fatalf("%d files passed of %d", len(passed), files)
	}
	second := NewMemo(len(kept))
	second.Seed(append(passed, "a key of a file no longer generated"))
	got, err := WholeMemo(ws, kept, second)
	if err != nil {
		t.Fatal(err)
	}
	sameTree(t, "platform", got.Platform, want.Platform)
	sameTree(t, "argocd", got.ArgoCD, want.ArgoCD)
	if again := second.Passed(); !reflect.DeepEqual(again, passed) {
		t.Errorf("the seeded run passed %d files, the first %d", len(again), len(passed))
	}
	unseeded := NewMemo(len(kept))
	if _, err := WholeMemo(ws, kept, unseeded); err != nil || len(unseeded.Passed()) != 0 {
		t.Errorf("a memo never seeded (dmls serve's) keeps a passed set: %v, %d keys", err, len(unseeded.Passed()))
	}
	bad := NewMemo(1)
	bad.Seed(nil)
	tree := generators.Tree{"platform/dev/namespace.yaml": []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: Bad_Name}\n")}
	if d := checkTree(ws, tree, bad); len(d) != 1 || len(bad.Passed()) != 0 {
		t.Errorf("a bad file: findings %v, passed %v", d, bad.Passed())
	}
}
