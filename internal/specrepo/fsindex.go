package specrepo

import (
	"io/fs"
	"path"
	"slices"
	"strings"
	"testing/fstest"
	"time"
)

// indexFS is the workspace files as an fs.FS whose directories are
// indexed: fstest.MapFS finds a directory's entries by scanning every
// file, so that loading a workspace of n apps, which lists each app's
// folder, costs n² (the largest cost of a batch at 1,000 apps).
type indexFS struct {
	fstest.MapFS
	dirs map[string][]fs.DirEntry
}

func newIndexFS(files map[string][]byte) indexFS {
	fsys := indexFS{MapFS: make(fstest.MapFS, len(files)), dirs: map[string][]fs.DirEntry{}}
	seen := map[string]bool{}
	for p, b := range files {
		fsys.MapFS[p] = &fstest.MapFile{Data: b}
		for child := p; child != "."; {
			dir := path.Dir(child)
			key := dir + "\x00" + path.Base(child)
			if seen[key] {
				break
			}
			seen[key] = true
			fsys.dirs[dir] = append(fsys.dirs[dir], dirEntry{name: path.Base(child), dir: child != p, size: int64(len(b))})
			child = dir
		}
	}
	for _, d := range fsys.dirs {
		slices.SortFunc(d, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	}
	return fsys
}

// ReadDir lists a directory from the index.
func (f indexFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if d, ok := f.dirs[name]; ok {
		return slices.Clone(d), nil
	}
	return f.MapFS.ReadDir(name)
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
