// Package memfs is dmls's one in-memory file system: a workspace's files
// held in memory for the loader, with its directories indexed, optionally
// over a base file system that serves what it does not hold. The API's
// spec repo, the cache's snapshots and the importer's plan all load
// workspaces through it.
//
// fstest.MapFS finds a directory's entries by scanning every file, so
// that loading a workspace of n apps, which lists each app's folder, costs
// n²: the largest cost of an API batch at 1,000 apps, before this index.
package memfs

import (
	"io/fs"
	"path"
	"slices"
	"strings"
	"testing/fstest"
	"time"
)

// FS is an in-memory file system. The zero value is empty. It is safe
// for concurrent reads; it never changes after New or Over.
type FS struct {
	files fstest.MapFS
	dirs  map[string][]fs.DirEntry
	// base serves the names that holds does not claim (nil: none).
	base  fs.FS
	holds func(name string) bool
}

// New returns the files (slash-separated paths, relative) as an FS.
func New(files map[string][]byte) *FS {
	f := &FS{files: make(fstest.MapFS, len(files)), dirs: map[string][]fs.DirEntry{}}
	seen := map[string]bool{}
	for p, b := range files {
		f.files[p] = &fstest.MapFile{Data: b}
		for child := p; child != "."; {
			dir := path.Dir(child)
			key := dir + "\x00" + path.Base(child)
			if seen[key] {
				break
			}
			seen[key] = true
			f.dirs[dir] = append(f.dirs[dir], dirEntry{name: path.Base(child), dir: child != p, size: int64(len(b))})
			child = dir
		}
	}
	for _, d := range f.dirs {
		slices.SortFunc(d, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	}
	return f
}

// Over is New over base: the names for which holds reports true are
// served from files (present or not), every other name from base. A nil
// base makes it New.
func Over(files map[string][]byte, base fs.FS, holds func(name string) bool) *FS {
	f := New(files)
	if base != nil {
		f.base, f.holds = base, holds
	}
	return f
}

func (f *FS) fromBase(name string) bool { return f.base != nil && !f.holds(name) }

// Open opens name.
func (f *FS) Open(name string) (fs.File, error) {
	if f.fromBase(name) {
		return f.base.Open(name)
	}
	return f.files.Open(name)
}

// ReadFile reads name.
func (f *FS) ReadFile(name string) ([]byte, error) {
	if f.fromBase(name) {
		return fs.ReadFile(f.base, name)
	}
	return f.files.ReadFile(name)
}

// Stat describes name.
func (f *FS) Stat(name string) (fs.FileInfo, error) {
	if f.fromBase(name) {
		return fs.Stat(f.base, name)
	}
	return f.files.Stat(name)
}

// ReadDir lists a directory from the index.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	if f.fromBase(name) {
		return fs.ReadDir(f.base, name)
	}
	if d, ok := f.dirs[name]; ok {
		return slices.Clone(d), nil
	}
	return f.files.ReadDir(name)
}

type dirEntry struct {
	name string
	dir  bool
	size int64
}

func (e dirEntry) Name() string { return e.name }
func (e dirEntry) IsDir() bool  { return e.dir }
func (e dirEntry) Type() fs.FileMode {
	if e.dir {
		return fs.ModeDir
	}
	return 0
}
func (e dirEntry) Info() (fs.FileInfo, error) { return e, nil }
func (e dirEntry) Size() int64 {
	if e.dir {
		return 0
	}
	return e.size
}
func (e dirEntry) Mode() fs.FileMode {
	if e.dir {
		return fs.ModeDir | 0o555
	}
	return 0 // as fstest.MapFS gives a MapFile without a Mode
}
func (e dirEntry) ModTime() time.Time { return time.Time{} }
func (e dirEntry) Sys() any           { return nil }
