// Package scaffold writes a new workspace: a platform, three environments
// and one example app, which validates and renders as written.
package scaffold

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
)

//go:embed all:template
var template embed.FS

// Files returns the scaffold's files by slash path.
func Files() (map[string][]byte, error) {
	files := map[string][]byte{}
	err := fs.WalkDir(template, "template", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(template, p)
		if err != nil {
			return err
		}
		files[strings.TrimPrefix(p, "template/")] = b
		return nil
	})
	return files, err
}

// Write writes the scaffold into dir, creating it if needed. It refuses,
// before writing anything, if any of its files already exists there.
func Write(dir string) ([]string, error) {
	files, err := Files()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	var names, exist []string
	for p := range files {
		names = append(names, p)
		if _, err := root.Lstat(p); err == nil {
			exist = append(exist, p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	if len(exist) > 0 {
		return nil, fmt.Errorf("%s already holds %s; init only writes into a new or empty workspace", dir, strings.Join(exist, ", "))
	}
	for _, p := range slices.Sorted(slices.Values(names)) {
		if err := root.MkdirAll(path.Dir(p), 0o755); err != nil {
			return nil, err
		}
		f, err := root.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return nil, err
		}
		_, werr := f.Write(files[p])
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return nil, werr
		}
	}
	return slices.Sorted(slices.Values(names)), nil
}
