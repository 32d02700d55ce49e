package cli

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/outdir"
	"github.com/dmls-project/dmls/internal/workspace"
)

// readTree reads every file of dir but the output marker and manifest.
func readTree(t *testing.T, dir string) generators.Tree {
	t.Helper()
	tree := generators.Tree{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == outdir.Marker || d.Name() == outdir.Manifest {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		tree[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

func sameTree(t *testing.T, what string, got, want generators.Tree) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d files, want %d", what, len(got), len(want))
	}
	for p, w := range want {
		if g, ok := got[p]; !ok || !bytes.Equal(g, w) {
			t.Errorf("%s: %s differs from the uncached output (present: %v)", what, p, ok)
		}
	}
}

func mainOut(t *testing.T, args ...string) (string, string) {
	t.Helper()
	var stdout, stderr strings.Builder
	if code := Main(args, &stdout, &stderr); code != 0 {
		t.Fatalf("dmls %v: exit %d\n%s", args, code, stderr.String())
	}
	return stdout.String(), stderr.String()
}

// testWorkspaces are the example workspace and a synthetic one with a
// warning, copied so that the test can edit them.
func testWorkspaces(t *testing.T) map[string]string {
	syn := filepath.Join(writeSynth(t, 6), "ws")
	prod := filepath.Join(syn, "overlays", "prod.cue")
	b, _ := os.ReadFile(prod)
	os.WriteFile(prod, append(b, "policy: images: \"warn\"\n"...), 0o644)
	app := filepath.Join(syn, "apps", "app-0002", "app.cue")
	b, _ = os.ReadFile(app)
	os.WriteFile(app, bytes.Replace(b, []byte("train:1.2"), []byte("train:latest"), 1), 0o644)
	// Only the workspace's own files: the repository root also holds
	// .cache (tool binaries, the sockets of a running e2e cluster) and
	// the user's rendered/ output.
	example := filepath.Join(t.TempDir(), "example")
	if err := os.MkdirAll(example, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"overlays", "apps", "charts"} {
		if err := os.CopyFS(filepath.Join(example, p), os.DirFS(filepath.Join("../..", p))); err != nil {
			t.Fatal(err)
		}
	}
	platform, err := os.ReadFile("../../platform.cue")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(example, "platform.cue"), platform, 0o644); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"example": example, "synthetic": syn}
}

// TestCachedRenderIsIdentical checks that render gives the same bytes, on
// --out and on stdout, and the same warnings, with a cold cache, a warm
// one, after a change, and without the cache, as the uncached path.
func TestCachedRenderIsIdentical(t *testing.T) {
	for name, ws := range testWorkspaces(t) {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cache := filepath.Join(dir, "cache")
			reference := func(envs ...string) generators.Tree {
				w, err := workspace.LoadDir(ws, workspace.Options{})
				if err != nil {
					t.Fatal(err)
				}
				res, err := build.Workspace(w, build.Options{})
				if err != nil {
					t.Fatal(err)
				}
				files, err := Render(w, res, RenderOptions{Platform: true, Envs: envs})
				if err != nil {
					t.Fatal(err)
				}
				return files
			}
			// The literal path, which does not use the cache: its stdout
			// and stderr.
			wantOut, wantErr := mainOut(t, "render", "-w", ws, "--via-kustomize")
			if name == "synthetic" && !strings.Contains(wantErr, "warning") {
				t.Fatalf("no warning to compare: %q", wantErr)
			}
			want := reference()
			for i, step := range []string{"cold", "warm", "no-cache"} {
				args := []string{"render", "-w", ws, "--cache-dir", cache}
				if step == "no-cache" {
					args = []string{"render", "-w", ws, "--no-cache"}
				}
				out := filepath.Join(dir, "out", step)
				_, stderr := mainOut(t, append(args, "--out", out)...)
				sameTree(t, step+" --out", readTree(t, out), want)
				if stderr != wantErr {
					t.Errorf("%s: stderr\n%s\nwant\n%s", step, stderr, wantErr)
				}
				stdout, _ := mainOut(t, args...)
				if stdout != wantOut {
					t.Errorf("%s: stdout differs from the uncached render's", step)
				}
				if i == 0 {
					if entries, _ := filepath.Glob(filepath.Join(cache, "entries", "*", "*")); len(entries) == 0 {
						t.Fatal("the cold render stored nothing")
					}
				}
			}
			// One environment.
			out := filepath.Join(dir, "out", "prod")
			mainOut(t, "render", "-w", ws, "--cache-dir", cache, "--env", "prod", "--out", out)
			sameTree(t, "--env prod", readTree(t, out), reference("prod"))
			// After a change of one app.
			apps, _ := os.ReadDir(filepath.Join(ws, "apps"))
			spec, _ := filepath.Glob(filepath.Join(ws, "apps", apps[0].Name(), "*.cue"))
			b, _ := os.ReadFile(spec[0])
			os.WriteFile(spec[0], append(b, "\noverrides: dev: serving: autoscaling: maxScale: 9\n"...), 0o644)
			out = filepath.Join(dir, "out", "changed")
			_, stderr := mainOut(t, "render", "-w", ws, "--cache-dir", cache, "--out", out)
			got, want := readTree(t, out), reference()
			sameTree(t, "after a change", got, want)
			if !bytes.Contains(got["dev/"+apps[0].Name()+".yaml"], []byte(`max-scale: "9"`)) {
				t.Errorf("the change does not show in the output (stderr %s)", stderr)
			}
		})
	}
}

// TestCachedGenerateIsIdentical does the same for generate.
func TestCachedGenerateIsIdentical(t *testing.T) {
	ws := testWorkspaces(t)["example"]
	w, err := workspace.LoadDir(ws, workspace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := build.Workspace(w, build.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := generators.Tree{}
	for name, tree := range res.Repos(w.Platform) {
		want.Add(name, tree)
	}
	dir := t.TempDir()
	var first string
	for _, step := range []string{"cold", "warm", "no-cache"} {
		out := filepath.Join(dir, step)
		args := []string{"generate", "-w", ws, "--out", out, "--cache-dir", filepath.Join(dir, "cache")}
		if step == "no-cache" {
			args = []string{"generate", "-w", ws, "--out", out, "--no-cache"}
		}
		stdout, _ := mainOut(t, args...)
		sameTree(t, step, readTree(t, out), want)
		stdout = strings.ReplaceAll(stdout, out, "OUT")
		if first == "" {
			first = stdout
		} else if stdout != first {
			t.Errorf("%s: stdout %q, want %q", step, stdout, first)
		}
	}
	if !strings.Contains(first, "OUT/k8s-config: ") {
		t.Errorf("generate's summary is %q", first)
	}
}

// TestCacheNotInOutput checks that a cache folder inside --out, which is
// replaced as a whole, or in the workspace (the user's git work tree) is
// refused.
func TestCacheNotInOutput(t *testing.T) {
	ws := testWorkspaces(t)["synthetic"]
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	for _, c := range []string{filepath.Join(out, "cache"), out, filepath.Join(ws, "apps", "cache"), ws, filepath.Join(ws, ".cache")} {
		var stderr strings.Builder
		code := Main([]string{"render", "-w", ws, "--out", out, "--cache-dir", c}, &strings.Builder{}, &stderr)
		if code != ExitUsage || !strings.Contains(stderr.String(), "the cache folder") {
			t.Errorf("--cache-dir %s: exit %d, %s", c, code, stderr.String())
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("--cache-dir %s: the output was written", c)
		}
	}
}

// TestProgressDecision checks when a progress bar shows: only on a
// terminal, never in CI, a pipe, a file or a dumb terminal.
func TestProgressDecision(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	yes := func(*os.File) bool { return true }
	for _, c := range []struct {
		name string
		w    any
		env  func(string) string
		tty  func(*os.File) bool
		want bool
	}{
		{"a pipe", w, env(), isTTY, false},
		{"a buffer", &bytes.Buffer{}, env(), yes, false},
		{"a terminal", w, env("TERM", "xterm"), yes, true},
		{"a terminal in CI", w, env("CI", "true"), yes, false},
		{"a dumb terminal", w, env("TERM", "dumb"), yes, false},
	} {
		wr, _ := c.w.(interface{ Write([]byte) (int, error) })
		if got := showProgress(wr, c.env, c.tty); got != c.want {
			t.Errorf("%s: showProgress = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestProgressBar checks that the bar waits a second, then shows and is
// cleared at the end.
func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(0, 0)
	p := &progress{w: &buf, label: "render", start: now, now: func() time.Time { return now }, enabled: true}
	p.update(10, 100)
	if buf.Len() != 0 {
		t.Fatalf("the bar showed before a second: %q", buf.String())
	}
	now = now.Add(1500 * time.Millisecond)
	p.update(50, 100)
	if got := buf.String(); !strings.Contains(got, "\rrender [===============               ] 50/100 apps") {
		t.Errorf("bar = %q", got)
	}
	p.stop()
	if !strings.HasSuffix(buf.String(), "\r\033[K") {
		t.Errorf("the bar was not cleared: %q", buf.String())
	}
	// Off (not a terminal): nothing, ever.
	buf.Reset()
	p = &progress{w: &buf, start: time.Unix(0, 0), now: func() time.Time { return now }}
	p.update(50, 100)
	p.stop()
	if buf.Len() != 0 {
		t.Errorf("a disabled bar wrote %q", buf.String())
	}
}

// TestCachedRenderSeesCharts checks that a change of a workspace chart,
// which platform.cue names and no app's key covers, shows in the cached
// render's platform files.
func TestCachedRenderSeesCharts(t *testing.T) {
	ws := testWorkspaces(t)["example"]
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	mainOut(t, "render", "-w", ws, "--out", filepath.Join(dir, "a"), "--cache-dir", cache)
	tpl := filepath.Join(ws, "charts", "nvidia-device-plugin", "templates", "daemonset.yaml")
	b, err := os.ReadFile(tpl)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(tpl, bytes.Replace(b, []byte("\nspec:\n"), []byte("\nspec:\n  minReadySeconds: 17\n"), 1), 0o644)
	mainOut(t, "render", "-w", ws, "--out", filepath.Join(dir, "b"), "--cache-dir", cache)
	mainOut(t, "render", "-w", ws, "--out", filepath.Join(dir, "c"), "--no-cache")
	a, bt, c := readTree(t, filepath.Join(dir, "a")), readTree(t, filepath.Join(dir, "b")), readTree(t, filepath.Join(dir, "c"))
	sameTree(t, "after the chart changed", bt, c)
	changed := false
	for p := range bt {
		if !bytes.Equal(a[p], bt[p]) && bytes.Contains(bt[p], []byte("minReadySeconds: 17")) {
			changed = true
		}
	}
	if !changed {
		t.Error("the chart's change does not show in the cached render")
	}
}

// TestCachedRenderKeepsOutput renders into one --out again and again: a
// warm render keeps the files the old output holds (the same inodes), a
// changed app's files change, and the user's hand in the output (a file
// changed, replaced, removed or added) is undone: the output is exactly
// the uncached render's every time (issue 25).
func TestCachedRenderKeepsOutput(t *testing.T) {
	ws := testWorkspaces(t)["synthetic"]
	dir := t.TempDir()
	out, cache := filepath.Join(dir, "out"), filepath.Join(dir, "cache")
	render := func(what string) generators.Tree {
		t.Helper()
		mainOut(t, "render", "-w", ws, "--out", out, "--cache-dir", cache)
		ref := filepath.Join(dir, "ref")
		os.RemoveAll(ref)
		mainOut(t, "render", "-w", ws, "--out", ref, "--no-cache")
		got := readTree(t, out)
		sameTree(t, what, got, readTree(t, ref))
		return got
	}
	inode := func(p string) uint64 {
		t.Helper()
		st, err := os.Lstat(filepath.Join(out, p))
		if err != nil {
			t.Fatal(err)
		}
		return st.Sys().(*syscall.Stat_t).Ino
	}
	render("cold")
	// Twice, so that the manifest's times are settled (not racy).
	render("warm")
	render("warm again")
	kept := inode("dev/app-0000.yaml")
	// One app changed: its files change, the others' are kept.
	spec := filepath.Join(ws, "apps", "app-0003", "app.cue")
	b, _ := os.ReadFile(spec)
	os.WriteFile(spec, append(b, "\noverrides: dev: serving: autoscaling: maxScale: 9\n"...), 0o644)
	got := render("one app changed")
	if !bytes.Contains(got["dev/app-0003.yaml"], []byte(`max-scale: "9"`)) {
		t.Error("the change does not show in the output")
	}
	if inode("dev/app-0000.yaml") != kept {
		t.Error("an unchanged app's file was written again, not kept")
	}
	// The user's hand.
	at := func(p string) string { return filepath.Join(out, p) }
	b, _ = os.ReadFile(at("dev/app-0001.yaml"))
	os.WriteFile(at("dev/app-0001.yaml"), bytes.Replace(b, []byte("app-0001"), []byte("app-000X"), 1), 0o644)
	b, _ = os.ReadFile(at("prod/app-0002.yaml"))
	os.WriteFile(at("prod/app-0002.yaml.new"), bytes.ToUpper(b), 0o644)
	os.Rename(at("prod/app-0002.yaml.new"), at("prod/app-0002.yaml"))
	os.Remove(at("staging/app-0004.yaml"))
	os.WriteFile(at("dev/mine.yaml"), []byte("a: 1\n"), 0o644)
	render("after the user's hand")
	if _, err := os.Lstat(at("dev/mine.yaml")); err == nil {
		t.Error("the file the user added is still there")
	}
}
