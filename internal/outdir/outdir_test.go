package outdir

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/dmls-project/dmls/generators"
)

var tree = generators.Tree{"dev/a.yaml": []byte("a: 1\n"), "prod/a.yaml": []byte("a: 2\n")}

// Issue 8, section 1: what Write may replace, and what it must refuse
// without touching anything.
func TestWriteRefuses(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, base string) (dir string, opts Options)
		wantErr string // "" means Write succeeds
	}{
		{"new path", func(t *testing.T, base string) (string, Options) {
			return filepath.Join(base, "a", "b", "out"), Options{}
		}, ""},
		{"empty folder", func(t *testing.T, base string) (string, Options) {
			d := filepath.Join(base, "out")
			mkdir(t, d)
			return d, Options{}
		}, ""},
		{"own output", func(t *testing.T, base string) (string, Options) {
			d := filepath.Join(base, "out")
			if err := Write(d, generators.Tree{"old.yaml": []byte("x")}, Options{}); err != nil {
				t.Fatal(err)
			}
			return d, Options{}
		}, ""},
		{"regular file", func(t *testing.T, base string) (string, Options) {
			f := filepath.Join(base, "file")
			write(t, f, "data")
			return f, Options{}
		}, "it is a file, not a folder"},
		{"empty file", func(t *testing.T, base string) (string, Options) {
			f := filepath.Join(base, "file")
			write(t, f, "")
			return f, Options{}
		}, "it is a file, not a folder"},
		{"fifo", func(t *testing.T, base string) (string, Options) {
			f := filepath.Join(base, "fifo")
			if err := exec.Command("mkfifo", f).Run(); err != nil {
				t.Skip("mkfifo:", err)
			}
			return f, Options{}
		}, "it is not a folder"},
		{"user folder", func(t *testing.T, base string) (string, Options) {
			d := filepath.Join(base, "mine")
			write(t, filepath.Join(d, "notes.txt"), "mine")
			return d, Options{}
		}, "dmls did not make it"},
		{"forged marker", func(t *testing.T, base string) (string, Options) {
			d := filepath.Join(base, "mine")
			write(t, filepath.Join(d, Marker), "")
			write(t, filepath.Join(d, "notes.txt"), "mine")
			return d, Options{}
		}, "is not dmls's"},
		{"marker is a symlink", func(t *testing.T, base string) (string, Options) {
			d := filepath.Join(base, "mine")
			write(t, filepath.Join(base, "real-marker"), string(markerText))
			mkdir(t, d)
			if err := os.Symlink(filepath.Join(base, "real-marker"), filepath.Join(d, Marker)); err != nil {
				t.Fatal(err)
			}
			return d, Options{}
		}, "dmls did not make it"},
		{"symlink to own output", func(t *testing.T, base string) (string, Options) {
			d := filepath.Join(base, "out")
			if err := Write(d, tree, Options{}); err != nil {
				t.Fatal(err)
			}
			l := filepath.Join(base, "link")
			if err := os.Symlink(d, l); err != nil {
				t.Fatal(err)
			}
			return l, Options{}
		}, "it is a symlink"},
		{"workspace", func(t *testing.T, base string) (string, Options) {
			ws := filepath.Join(base, "ws")
			write(t, filepath.Join(ws, "platform.cue"), "name: \"p\"")
			return ws, Options{Workspace: ws}
		}, "it is the workspace"},
		{"workspace through a symlinked parent", func(t *testing.T, base string) (string, Options) {
			ws := filepath.Join(base, "real", "ws")
			write(t, filepath.Join(ws, "platform.cue"), "name: \"p\"")
			if err := os.Symlink(filepath.Join(base, "real"), filepath.Join(base, "alias")); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(base, "alias", "ws"), Options{Workspace: ws}
		}, "it is the workspace"},
		{"parent of the workspace", func(t *testing.T, base string) (string, Options) {
			ws := filepath.Join(base, "p", "ws")
			write(t, filepath.Join(ws, "platform.cue"), "name: \"p\"")
			return filepath.Join(base, "p"), Options{Workspace: ws}
		}, "it holds the workspace"},
		{"empty parent of an empty workspace", func(t *testing.T, base string) (string, Options) {
			ws := filepath.Join(base, "p", "ws")
			mkdir(t, ws)
			return filepath.Join(base, "p"), Options{Workspace: ws}
		}, "it holds the workspace"},
		{"git work tree", func(t *testing.T, base string) (string, Options) {
			mkdir(t, filepath.Join(base, "repo", ".git"))
			ws := filepath.Join(base, "repo", "deep", "ws")
			mkdir(t, ws)
			return filepath.Join(base, "repo", "deep"), Options{Workspace: ws}
		}, "it holds the workspace"},
		{"inside .git", func(t *testing.T, base string) (string, Options) {
			return filepath.Join(base, "repo", ".git", "out"), Options{}
		}, "inside a .git folder"},
		{"in apps/", func(t *testing.T, base string) (string, Options) {
			ws := filepath.Join(base, "ws")
			mkdir(t, filepath.Join(ws, "apps"))
			return filepath.Join(ws, "apps", "x"), Options{Workspace: ws}
		}, "apps/ folder"},
		{"in overlays/", func(t *testing.T, base string) (string, Options) {
			ws := filepath.Join(base, "ws")
			mkdir(t, ws)
			return filepath.Join(ws, "overlays"), Options{Workspace: ws}
		}, "overlays/ folder"},
		{"root", func(t *testing.T, base string) (string, Options) { return "/", Options{} }, "it holds the current folder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			dir, opts := tt.setup(t, base)
			before := snapshot(t, base)
			err := Write(dir, tree, opts)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Write: %v", err)
				}
				got := snapshot(t, dir)
				if len(got) != len(tree)+4 || got["old.yaml"] != "" || got[Marker] != string(markerText) || got[Manifest] == "" || got["dev/a.yaml"] != "a: 1\n" {
					t.Errorf("output holds %v, want the tree, the marker and the manifest", got)
				}
				for name := range snapshot(t, filepath.Dir(dir)) {
					if strings.Contains(name, ".tmp-") || strings.Contains(name, ".old") {
						t.Errorf("left behind %s", name)
					}
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrRefused) {
				t.Fatalf("Write = %v, want a refusal with %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), dir) {
				t.Errorf("error %q does not name %s", err, dir)
			}
			if after := snapshot(t, base); !equal(before, after) {
				t.Errorf("a refused Write changed the folder:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// A failure to remove the old output is an error, never a silent
// success (issue 8, section 1). An immutable file makes the removal fail
// even for root.
func TestWriteReportsFailedRemoval(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "out")
	if err := Write(dir, generators.Tree{"stuck/file.yaml": []byte("x")}, Options{}); err != nil {
		t.Fatal(err)
	}
	stuck := filepath.Join(dir, "stuck", "file.yaml")
	if out, err := exec.Command("chattr", "+i", stuck).CombinedOutput(); err != nil {
		t.Skipf("chattr +i: %v %s", err, out)
	}
	var old string
	t.Cleanup(func() {
		exec.Command("chattr", "-i", filepath.Join(old, "stuck", "file.yaml")).Run()
		exec.Command("chattr", "-i", stuck).Run()
	})
	err := Write(dir, tree, Options{})
	if err == nil || !strings.Contains(err.Error(), "could not remove the old output") {
		t.Fatalf("Write = %v, want an error about the old output", err)
	}
	entries, _ := os.ReadDir(base)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".old") {
			old = filepath.Join(base, e.Name())
			if !strings.Contains(err.Error(), old) {
				t.Errorf("error %q does not name the leftover %s", err, old)
			}
		}
	}
	if got := snapshot(t, dir); got["dev/a.yaml"] != "a: 1\n" {
		t.Errorf("the new output is not in place: %v", got)
	}
}

func TestWriteRejectsBadPaths(t *testing.T) {
	for _, p := range []string{"../x", "/abs", "a/../b", "a\\b", "", Marker, Manifest} {
		dir := filepath.Join(t.TempDir(), "out")
		if err := Write(dir, generators.Tree{p: []byte("x")}, Options{}); err == nil {
			t.Errorf("Write(%q) succeeded", p)
		}
		if _, err := os.Lstat(dir); err == nil {
			t.Errorf("Write(%q) created %s", p, dir)
		}
	}
}

func mkdir(t *testing.T, d string) {
	t.Helper()
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, f, s string) {
	t.Helper()
	mkdir(t, filepath.Dir(f))
	if err := os.WriteFile(f, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// snapshot maps every path under dir to its content ("<dir>" for folders,
// "-> target" for symlinks).
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || p == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case info.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			out[rel] = "-> " + l
		case info.IsDir():
			out[rel] = "<dir>"
		case info.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			out[rel] = string(b)
		default:
			out[rel] = info.Mode().String()
		}
		return nil
	})
	return out
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestReuseUnchanged: a second Write links the old output's files that
// hold the new bytes instead of writing them again, and writes every
// other file: changed ones, ones the user edited, chmodded or linked
// elsewhere. The old output is gone and the new one is exactly the tree.
func TestReuseUnchanged(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "out")
	first := generators.Tree{"dev/same.yaml": []byte("same\n"), "dev/changed.yaml": []byte("v1\n"), "dev/edited.yaml": []byte("mine\n"),
		"dev/chmod.yaml": []byte("c\n"), "dev/linked.yaml": []byte("l\n"), "prod/gone.yaml": []byte("x\n")}
	if err := Write(dir, first, Options{}); err != nil {
		t.Fatal(err)
	}
	inode := func(p string) uint64 {
		t.Helper()
		st, err := os.Lstat(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		return st.Sys().(*syscall.Stat_t).Ino
	}
	before := map[string]uint64{}
	for p := range first {
		before[p] = inode(p)
	}
	// The user's hand in the old output.
	os.WriteFile(filepath.Join(dir, "dev/edited.yaml"), []byte("edit\n"), 0o644)
	os.Chmod(filepath.Join(dir, "dev/chmod.yaml"), 0o600)
	if err := os.Link(filepath.Join(dir, "dev/linked.yaml"), filepath.Join(base, "elsewhere")); err != nil {
		t.Fatal(err)
	}
	second := generators.Tree{"dev/same.yaml": []byte("same\n"), "dev/changed.yaml": []byte("v2\n"), "dev/edited.yaml": []byte("mine\n"),
		"dev/chmod.yaml": []byte("c\n"), "dev/linked.yaml": []byte("l\n"), "dev/new.yaml": []byte("n\n")}
	if err := Write(dir, second, Options{}); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() != Marker && d.Name() != Manifest {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(dir, p)
			got[filepath.ToSlash(rel)] = string(b)
			if st, _ := d.Info(); st.Mode().Perm() != 0o644 {
				t.Errorf("%s has mode %v", rel, st.Mode().Perm())
			}
		}
		return nil
	})
	if len(got) != len(second) {
		t.Errorf("output holds %v, want the %d files of the tree", got, len(second))
	}
	for p, b := range second {
		if got[p] != string(b) {
			t.Errorf("%s = %q, want %q", p, got[p], b)
		}
	}
	if inode("dev/same.yaml") != before["dev/same.yaml"] {
		t.Error("the unchanged file was written again, not linked")
	}
	for _, p := range []string{"dev/changed.yaml", "dev/edited.yaml", "dev/chmod.yaml", "dev/linked.yaml"} {
		if inode(p) == before[p] {
			t.Errorf("%s was reused; it must be written", p)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(base, "elsewhere")); string(b) != "l\n" {
		t.Errorf("the user's other link changed: %q", b)
	}
	if entries, _ := os.ReadDir(base); len(entries) != 2 {
		t.Errorf("the parent holds %d entries, want out and elsewhere", len(entries))
	}
}

// TestManyFolders: a stream into thousands of folders keeps at most
// maxOpenDirs of them open (5,000 apps ran out of file descriptors) and
// writes every file.
func TestManyFolders(t *testing.T) {
	fds := func() int {
		entries, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd")
		}
		return len(entries)
	}
	before := fds()
	dir := filepath.Join(t.TempDir(), "out")
	s, err := Create(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3 * maxOpenDirs
	for i := range n {
		if err := s.Add(fmt.Sprintf("apps/app-%d/overlays/dev/kustomization.yaml", i), []byte("x\n")); err != nil {
			t.Fatal(err)
		}
	}
	if open := fds() - before; open > 2*maxOpenDirs+8 {
		t.Errorf("%d file descriptors open while writing %d folders, want at most %d", open, n, 2*maxOpenDirs+8)
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "apps", "*", "overlays", "dev", "kustomization.yaml"))
	if len(files) != n {
		t.Errorf("%d files written, want %d", len(files), n)
	}
}
