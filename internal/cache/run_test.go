package cache

import (
	"bytes"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/dmls-project/dmls/internal/apis/argocdv1alpha1"
	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/rules"
	"github.com/dmls-project/dmls/internal/spec"
	"github.com/dmls-project/dmls/internal/synth"
	"github.com/dmls-project/dmls/internal/workspace"
)

// testOptions render each app in each environment with build.App.Render
// and collect what Run emits.
func testOptions(s *Store, got map[string][]byte, mu *sync.Mutex) Options {
	return Options{
		Store: s, Chunk: 4,
		Render: true,
		Emit: func(a *App) error {
			mu.Lock()
			defer mu.Unlock()
			for env, y := range a.Rendered {
				got[env+"/"+a.Name] = y
			}
			return nil
		},
	}
}

func run(t *testing.T, s *Store, fsys fs.FS) (*Result, map[string][]byte) {
	t.Helper()
	r, got, _ := runTrees(t, s, fsys, false)
	return r, got
}

// reference renders fsys without the cache, as the CLI did before it.
func reference(t *testing.T, fsys fs.FS) (*spec.Workspace, *build.Result, map[string][]byte) {
	t.Helper()
	ws, err := workspace.Load(fsys, "ws", workspace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := build.Workspace(ws, build.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{}
	for _, a := range res.Apps {
		for _, in := range a.App.Envs {
			y, _, err := a.Render(in.Env.Name)
			if err != nil {
				t.Fatal(err)
			}
			want[in.Env.Name+"/"+a.App.Name] = append(y, '\n') // as render.AppFiles keeps it
		}
	}
	return ws, res, want
}

func same(t *testing.T, what string, got, want map[string][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d files, want %d", what, len(got), len(want))
	}
	for k, w := range want {
		if !bytes.Equal(got[k], w) {
			t.Errorf("%s: %s differs from the uncached render", what, k)
		}
	}
}

// TestRun renders a workspace cold, warm and after one app changed, and
// checks each time the bytes, the warnings, and what was rebuilt.
func TestRun(t *testing.T) {
	fsys := synth.Workspace(10)
	// Warnings, of the platform and of an app, to see them come back from
	// the cache.
	fsys["overlays/prod.cue"].Data = append(fsys["overlays/prod.cue"].Data, "policy: images: \"warn\"\n"...)
	fsys["platform.cue"].Data = bytes.Replace(fsys["platform.cue"].Data, []byte("https://git"), []byte("https://bot:tok@git"), 1)
	fsys["apps/app-0003/app.cue"].Data = bytes.Replace(fsys["apps/app-0003/app.cue"].Data, []byte(`image: "registry.example.com/train:1.3"`), []byte(`image: "registry.example.com/train:latest"`), 1)
	s, lines := openT(t, t.TempDir())
	ws, res, want := reference(t, fsys)
	if len(ws.Warnings) < 2 {
		t.Fatalf("the test workspace has too few warnings to compare: %v", ws.Warnings)
	}
	for _, step := range []struct {
		name         string
		hits, misses int
	}{{"cold", 0, 10}, {"warm", 10, 0}} {
		r, got := run(t, s, fsys)
		same(t, step.name, got, want)
		if r.Hits != step.hits || r.Misses != step.misses {
			t.Errorf("%s: %d hits and %d misses, want %d and %d", step.name, r.Hits, r.Misses, step.hits, step.misses)
		}
		if !reflect.DeepEqual(r.LoadWarnings, ws.Warnings) || !reflect.DeepEqual(r.BuildWarnings, res.Warnings) {
			t.Errorf("%s: warnings\n%v\n%v\nwant\n%v\n%v", step.name, r.LoadWarnings, r.BuildWarnings, ws.Warnings, res.Warnings)
		}
		if len(r.Apps) != 10 || r.Apps[0].Name != "app-0000" || r.Apps[0].Rendered != nil {
			t.Errorf("%s: Result.Apps are not the apps by name, without their output", step.name)
		}
	}
	fsys["apps/app-0005/app.cue"].Data = bytes.Replace(fsys["apps/app-0005/app.cue"].Data, []byte("target: 15"), []byte("target: 17"), 1)
	_, _, want = reference(t, fsys)
	r, got := run(t, s, fsys)
	same(t, "one changed", got, want)
	if r.Hits != 9 || r.Misses != 1 {
		t.Errorf("one changed: %d hits and %d misses, want 9 and 1", r.Hits, r.Misses)
	}
	if !bytes.Contains(got["prod/app-0005"], []byte("autoscaling.knative.dev/target: \"17\"")) {
		t.Errorf("the changed app's output does not show the change:\n%s", got["prod/app-0005"])
	}
	if len(*lines) > 0 {
		t.Errorf("debug lines: %q", *lines)
	}
	// A corrupt entry is rebuilt, with the same output.
	p, _ := s.path(keysOf(t, fsys, "ws", "test")["app-0002"])
	if err := os.WriteFile(p, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, got = run(t, s, fsys)
	same(t, "corrupt entry", got, want)
	if r.Misses != 1 || len(*lines) != 1 {
		t.Errorf("corrupt entry: %d misses, debug %q; want 1 and a line", r.Misses, *lines)
	}
}

// TestRunNoStore checks that Run without a store gives the same, and
// that with NoTree it then lays out no kustomize tree.
func TestRunNoStore(t *testing.T) {
	fsys := synth.Workspace(5)
	_, _, want := reference(t, fsys)
	r, got := run(t, nil, fsys)
	same(t, "no store", got, want)
	if r.Misses != 5 {
		t.Errorf("%d misses without a store, want 5", r.Misses)
	}
	for _, store := range []bool{false, true} {
		var s *Store
		if store {
			s, _ = openT(t, t.TempDir())
		}
		r, got, trees := runTrees(t, s, fsys, true)
		same(t, fmt.Sprintf("NoTree, store %v", store), got, want)
		if trees != 0 || r.Misses != 5 {
			t.Errorf("NoTree, store %v: %d apps with a tree, %d misses; want 0 and 5", store, trees, r.Misses)
		}
	}
}

// runTrees runs Run with Render and noTree, and counts the apps emitted
// with a kustomize tree.
func runTrees(t *testing.T, s *Store, fsys fs.FS, noTree bool) (*Result, map[string][]byte, int) {
	t.Helper()
	trees := 0
	r, got := runOpts(t, s, fsys, func(opts *Options, mu *sync.Mutex) {
		opts.NoTree = noTree
		emit := opts.Emit
		opts.Emit = func(a *App) error {
			if len(a.Tree) > 0 {
				mu.Lock()
				trees++
				mu.Unlock()
			}
			return emit(a)
		}
	})
	return r, got, trees
}

// runOpts runs fsys with testOptions, as set changes them (mu guards what
// Emit writes).
func runOpts(t *testing.T, s *Store, fsys fs.FS, set func(*Options, *sync.Mutex)) (*Result, map[string][]byte) {
	t.Helper()
	snap, err := Read(fsys, "ws", "test")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{}
	var mu sync.Mutex
	opts := testOptions(s, got, &mu)
	set(&opts, &mu)
	r, err := Run(snap, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r, got
}

// TestNoTreeEntries checks that render's entries, stored without the
// kustomize trees, serve render again but not generate, which builds the
// apps again with their trees and stores them whole; and that render
// takes the whole entries then.
func TestNoTreeEntries(t *testing.T) {
	fsys := synth.Workspace(5)
	_, res, want := reference(t, fsys)
	s, _ := openT(t, t.TempDir())
	for _, step := range []struct {
		name                   string
		noTree                 bool
		hits, misses, withTree int
	}{
		{"render cold", true, 0, 5, 0},
		{"render warm", true, 5, 0, 0},
		{"generate after render", false, 0, 5, 5},
		{"generate warm", false, 5, 0, 5},
		{"render after generate", true, 5, 0, 5},
	} {
		r, got, trees := runTrees(t, s, fsys, step.noTree)
		same(t, step.name, got, want)
		if r.Hits != step.hits || r.Misses != step.misses || trees != step.withTree {
			t.Errorf("%s: %d hits, %d misses, %d trees; want %d, %d, %d", step.name, r.Hits, r.Misses, trees, step.hits, step.misses, step.withTree)
		}
	}
	// The trees generate gets are the build's.
	snap, err := Read(fsys, "ws", "test")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	trees := map[string]map[string][]byte{}
	if _, err := Run(snap, Options{Store: s, Render: true, Emit: func(a *App) error {
		mu.Lock()
		defer mu.Unlock()
		trees[a.Name] = a.Tree
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	for _, a := range res.Apps {
		if !reflect.DeepEqual(map[string][]byte(a.Tree), trees[a.App.Name]) {
			t.Errorf("app %s: the cached tree differs from the build's", a.App.Name)
		}
	}
}

// TestPlatformKey checks that the key of the rendered platform files, an
// entry of which stands for build.Whole's checks of the apps (the chunks
// of Run build apps only), changes with everything Whole reads of them.
func TestPlatformKey(t *testing.T) {
	apps := func() []*App {
		return []*App{
			{Name: "a", Team: "t", Envs: []string{"dev", "prod"}, Jobs: map[string]string{"dev": "a-1"},
				Features: map[string]string{"kubernetes.podspec-fieldref": "enabled"},
				Ignore:   map[string][]argocdv1alpha1.ResourceIgnoreDifferences{"dev": {}, "prod": {}}},
			{Name: "b", Team: "u", Envs: []string{"dev"}, Ignore: map[string][]argocdv1alpha1.ResourceIgnoreDifferences{"dev": {}}},
		}
	}
	charts := func(h hash.Hash) { h.Write([]byte("chart")) }
	key := func(wsKey string, apps []*App, charts func(hash.Hash)) string {
		t.Helper()
		k, err := platformKey(wsKey, apps, charts)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	base := key("ws", apps(), charts)
	if again := key("ws", apps(), charts); again != base {
		t.Fatal("the key is not deterministic")
	}
	for name, change := range map[string]func([]*App){
		"name":     func(a []*App) { a[1].Name = "c" },
		"team":     func(a []*App) { a[1].Team = "t" },
		"envs":     func(a []*App) { a[1].Envs = []string{"dev", "prod"} },
		"job":      func(a []*App) { a[0].Jobs["dev"] = "a-2" },
		"features": func(a []*App) { a[1].Features = map[string]string{"x": "enabled"} },
		"ignore": func(a []*App) {
			a[0].Ignore["prod"] = []argocdv1alpha1.ResourceIgnoreDifferences{{Kind: "Service", JSONPointers: []string{"/spec"}}}
		},
		"an app more": func(a []*App) {},
	} {
		changed := apps()
		change(changed)
		if name == "an app more" {
			changed = append(changed, &App{Name: "z", Team: "t", Envs: []string{"dev"}})
		}
		if key("ws", changed, charts) == base {
			t.Errorf("changing the apps' %s leaves the platform key alone", name)
		}
	}
	// The digests that appOf stores give the same key.
	stored := apps()
	for _, a := range stored {
		sum, err := wholeSum(a)
		if err != nil {
			t.Fatal(err)
		}
		a.Whole = sum
	}
	if key("ws", stored, charts) != base {
		t.Error("the stored digests give another key")
	}
	if key("ws2", apps(), charts) == base {
		t.Error("changing the workspace key leaves the platform key alone")
	}
	if key("ws", apps(), func(h hash.Hash) { h.Write([]byte("other chart")) }) == base {
		t.Error("changing the charts leaves the platform key alone")
	}
}

// TestRunClash checks that apps cached apart that clash together make Run
// fall back to the uncached pipeline, which reports the clash.
func TestRunClash(t *testing.T) {
	s, _ := openT(t, t.TempDir())
	one := synth.Workspace(1)
	other := synth.Workspace(1)
	other["apps/other/app.cue"] = other["apps/app-0000/app.cue"]
	delete(other, "apps/app-0000/app.cue")
	run(t, s, one)
	run(t, s, other)
	both := synth.Workspace(1)
	both["apps/other/app.cue"] = other["apps/other/app.cue"]
	snap, err := Read(both, "ws", "test")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{}
	var mu sync.Mutex
	r, err := Run(snap, testOptions(s, got, &mu))
	if !errors.Is(err, ErrFallback) {
		t.Fatalf("Run of two apps named alike = %v, %v; want ErrFallback", r, err)
	}
	if _, err := workspace.Load(both, "ws", workspace.Options{}); err == nil || !strings.Contains(err.Error(), "duplicate app name") {
		t.Errorf("the uncached load does not report the clash: %v", err)
	}
}

// TestNoCredentials checks that the cache holds no credential: the repo
// URL's token in platform.cue is stripped from what dmls keeps.
func TestNoCredentials(t *testing.T) {
	const token = "ghp_s3cr3tT0k3nValue0123456789"
	fsys := synth.Workspace(3)
	fsys["platform.cue"] = &fstest.MapFile{Data: []byte(fmt.Sprintf("name: \"p\"\nteams: t: {}\nrepos: \"k8s-config\": url: \"https://bot:%s@git.example.com/k.git\"\n", token))}
	dir := t.TempDir()
	s, _ := openT(t, dir)
	r, _ := run(t, s, fsys)
	if r.Misses != 3 {
		t.Fatalf("%d misses, want 3", r.Misses)
	}
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(token)) || bytes.Contains(b, []byte("s3cr3t")) {
			t.Errorf("cache file %s holds the credential", p)
		}
		return nil
	})
	if n < 4 {
		t.Errorf("only %d cache files to check", n)
	}
}

// TestQuotaAcrossChunks: the team quota is checked across all apps, as the
// loader checks it, even when Run loads them in chunks (here 4 of 8) or
// takes them from the store: a quota that only the sum of the apps breaks
// fails the run (ErrFallback, so that the uncached run reports it), and
// the max-scale warning is the loader's.
func TestQuotaAcrossChunks(t *testing.T) {
	base := synth.Workspace(8)
	// The pods of every app in the largest environment, at min and at
	// max scale.
	ws, err := workspace.Load(base, "ws", workspace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		env string
		max bool
	}
	sums := map[key]int{}
	for _, a := range ws.Apps {
		for _, u := range rules.QuotaUses(a) {
			if u.Res == "pods" {
				sums[key{u.Env, u.Max}] += u.Count
			}
		}
	}
	pods := map[bool]int{}
	for k, n := range sums {
		pods[k.max] = max(pods[k.max], n)
	}
	if pods[false] < 8 || pods[true] <= pods[false] {
		t.Fatalf("pods at min and max scale: %v", pods)
	}
	withQuota := func(n int) fstest.MapFS {
		fsys := fstest.MapFS{}
		for p, f := range base {
			fsys[p] = f
		}
		plat := string(base["platform.cue"].Data)
		if !strings.Contains(plat, "teams: t: {}") {
			t.Fatalf("the synthetic platform changed:\n%s", plat)
		}
		fsys["platform.cue"] = &fstest.MapFile{Data: []byte(strings.Replace(plat, "teams: t: {}", fmt.Sprintf("teams: t: quota: pods: %d", n), 1))}
		return fsys
	}
	for _, tc := range []struct {
		name    string
		quota   int
		wantErr bool
	}{
		{"over at min scale", pods[false] - 1, true},
		{"over at max scale", pods[true] - 1, false},
		{"fits", pods[true], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := withQuota(tc.quota)
			lws, lerr := workspace.Load(fsys, "ws", workspace.Options{})
			if (lerr != nil) != tc.wantErr {
				t.Fatalf("the loader: %v, want an error: %v", lerr, tc.wantErr)
			}
			for _, store := range []string{"cold", "warm"} {
				s, err := Open(filepath.Join(t.TempDir(), store))
				if store == "warm" {
					s, err = Open(filepath.Join(t.TempDir(), "shared"))
				}
				if err != nil {
					t.Fatal(err)
				}
				snap, err := Read(fsys, "ws", "test")
				if err != nil {
					t.Fatal(err)
				}
				got := map[string][]byte{}
				var mu sync.Mutex
				r, err := Run(snap, testOptions(s, got, &mu))
				if tc.wantErr {
					if !errors.Is(err, ErrFallback) || !strings.Contains(err.Error(), "over the quota of") {
						t.Fatalf("%s: Run: %v, want the quota error", store, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", store, err)
				}
				var want []string
				for _, w := range lws.Warnings {
					want = append(want, w.String())
				}
				var gotW []string
				for _, w := range r.LoadWarnings {
					gotW = append(gotW, w.String())
				}
				if !reflect.DeepEqual(gotW, want) {
					t.Errorf("%s: warnings\n%v\nwant the loader's\n%v", store, gotW, want)
				}
			}
		})
	}
}
