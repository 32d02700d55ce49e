// Package golden compares test output with golden files under testdata/,
// and rewrites them when tests run with -update.
package golden

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files with the current output")

// Check compares got with the golden file at path, or writes it with -update.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run the test with -update to create it): %v", err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs from the output; if the change is intended, run with -update\n--- got\n%s", path, got)
	}
}

// CheckTree compares a tree of files with the golden folder dir: same
// files, same bytes. With -update it rewrites the folder.
func CheckTree(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	if *update {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	}
	for name, b := range files {
		Check(t, filepath.Join(dir, filepath.FromSlash(name)), b)
	}
	if *update {
		return
	}
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if _, ok := files[filepath.ToSlash(rel)]; !ok {
			t.Errorf("golden file %s is no longer produced; run with -update", p)
		}
		return nil
	})
}

// Updating reports whether tests run with -update, for tests that refresh
// a generated section of a file other than a golden file.
func Updating() bool { return *update }
