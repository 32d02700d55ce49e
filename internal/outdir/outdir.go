// Package outdir writes a generated file tree into a folder all at once: a
// failed write leaves the folder as it was.
package outdir

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/dmls-project/dmls/generators"
)

// Write replaces dir with exactly the files of tree. It writes into a
// temporary sibling folder through os.Root, so that no path of tree can
// leave it, and then renames that into place.
func Write(dir string, tree generators.Tree) error {
	dir = filepath.Clean(dir)
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", parent, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return fmt.Errorf("create temporary folder: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := writeTree(tmp, tree); err != nil {
		return err
	}
	var old string
	if _, err := os.Lstat(dir); err == nil {
		old = tmp + ".old"
		if err := os.Rename(dir, old); err != nil {
			return fmt.Errorf("replace %s: %w", dir, err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if old != "" {
			os.Rename(old, dir)
		}
		return fmt.Errorf("replace %s: %w", dir, err)
	}
	committed = true
	if old != "" {
		os.RemoveAll(old)
	}
	return nil
}

func writeTree(dir string, tree generators.Tree) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	files := make([]string, 0, len(tree))
	for p := range tree {
		files = append(files, p)
	}
	sort.Strings(files)
	for _, p := range files {
		if err := checkPath(p); err != nil {
			return err
		}
		if d := path.Dir(p); d != "." {
			if err := root.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("write %s: %w", p, err)
			}
		}
		if err := root.WriteFile(p, tree[p], 0o644); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	return nil
}

// checkPath refuses paths that are not clean, relative and slash-separated.
func checkPath(p string) error {
	if p == "" || path.IsAbs(p) || path.Clean(p) != p || strings.HasPrefix(p, "../") || p == ".." || strings.ContainsAny(p, "\\\x00") {
		return fmt.Errorf("refusing to write %q: generated paths must be clean and relative", p)
	}
	return nil
}
