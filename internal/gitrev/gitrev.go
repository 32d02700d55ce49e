// Package gitrev reads a folder of a git repository as it is at a revision,
// straight from the repository's objects, without a checkout.
package gitrev

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Sentinel errors, for errors.Is.
var (
	// ErrNoRepo: the folder is not inside a git repository.
	ErrNoRepo = errors.New("not inside a git repository")
	// ErrNoRevision: the revision names no commit.
	ErrNoRevision = errors.New("no such revision")
	// ErrNotCommit: the revision names a file, folder or tree, not a
	// commit. It is an ErrNoRevision too.
	ErrNotCommit = fmt.Errorf("not a commit: %w", ErrNoRevision)
	// ErrNoFolder: the folder does not exist at the revision.
	ErrNoFolder = errors.New("folder does not exist at this revision")
)

// Repo is the git repository holding a folder, and where the folder is in it.
type Repo struct {
	repo *git.Repository
	// Root is the repository's work tree.
	Root string
	// Sub is the folder's path from Root, in slash form; "." for Root itself.
	Sub string
}

// Open finds the repository that holds dir, looking upwards as git does.
// Linked work trees (git worktree) are supported.
func Open(dir string) (*Repo, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if resolved, err := filepath.EvalSymlinks(abs); err == nil {
		abs = resolved
	}
	r, err := git.PlainOpenWithOptions(abs, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, fmt.Errorf("%s: %w", dir, ErrNoRepo)
	}
	if err != nil {
		return nil, fmt.Errorf("open the git repository of %s: %w", dir, err)
	}
	wt, err := r.Worktree()
	if err != nil {
		return nil, fmt.Errorf("%s: a bare repository has no work tree: %w", dir, ErrNoRepo)
	}
	root := wt.Filesystem.Root()
	if resolved, err := filepath.EvalSymlinks(root); err == nil {
		root = resolved
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil, fmt.Errorf("%s is outside the work tree %s: %w", dir, root, ErrNoRepo)
	}
	return &Repo{repo: r, Root: root, Sub: filepath.ToSlash(rel)}, nil
}

// Resolve returns the commit a revision names: a branch, tag, remote
// branch, commit hash (full or abbreviated) or an expression such as
// HEAD~1.
func (r *Repo) Resolve(rev string) (plumbing.Hash, error) {
	if rev == "" || strings.HasPrefix(rev, "-") {
		return plumbing.ZeroHash, fmt.Errorf("revision %q: %w", rev, ErrNoRevision)
	}
	// go-git drops what it does not read: HEAD:platform.cue, HEAD:apps
	// and HEAD^{tree} would all silently name HEAD.
	if strings.Contains(rev, ":") {
		return plumbing.ZeroHash, fmt.Errorf("%w: %q names a file or folder in a commit; give the commit alone, such as %q", ErrNotCommit, rev, rev[:strings.Index(rev, ":")])
	}
	for rest := rev; ; {
		i := strings.Index(rest, "^{")
		if i < 0 {
			break
		}
		j := strings.Index(rest[i:], "}")
		if j < 0 {
			break
		}
		if what := rest[i+2 : i+j]; what != "" && what != "commit" && !strings.HasPrefix(what, "/") {
			return plumbing.ZeroHash, fmt.Errorf("%w: %q names a %s; give a commit, such as %q", ErrNotCommit, rev, what, rev[:len(rev)-len(rest)+i])
		}
		rest = rest[i+j:]
	}
	h, err := r.repo.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("revision %q in %s: %w", rev, r.Root, ErrNoRevision)
	}
	if _, err := r.repo.CommitObject(*h); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("revision %q in %s is not a commit: %w", rev, r.Root, ErrNoRevision)
	}
	return *h, nil
}

// FS returns the repository's folder Sub as it is at commit, as a
// read-only fs.FS. Symlinks show as symlinks in directory listings and
// cannot be opened; submodules are left out.
func (r *Repo) FS(commit plumbing.Hash) (fs.FS, error) {
	c, err := r.repo.CommitObject(commit)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", commit, err)
	}
	t, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("tree of commit %s: %w", commit, err)
	}
	if r.Sub != "." {
		t, err = t.Tree(r.Sub)
		if err != nil {
			return nil, fmt.Errorf("%s at %s: %w", r.Sub, commit.String()[:7], ErrNoFolder)
		}
	}
	return &treeFS{tree: t, mtime: c.Committer.When, trees: map[string]*object.Tree{}}, nil
}

// treeFS is an fs.FS over a git tree.
type treeFS struct {
	// mu serialises every use of tree: go-git's Tree builds its index of
	// entries lazily, without a lock, and the workspace loader reads apps
	// from several goroutines (at 1,000 apps `dmls diff` died of a
	// concurrent map read and write).
	mu    sync.Mutex
	tree  *object.Tree
	mtime time.Time
	// trees are the folders' trees by path, decoded once: go-git
	// decodes every folder on the way each time it looks a path up, so
	// reading 1,000 app folders decoded apps/ 3,000 times.
	trees map[string]*object.Tree
}

// subtree returns the tree of the folder dir, with f.mu held.
func (f *treeFS) subtree(dir string) (*object.Tree, error) {
	if dir == "." {
		return f.tree, nil
	}
	if t, ok := f.trees[dir]; ok {
		return t, nil
	}
	parent, err := f.subtree(path.Dir(dir))
	if err != nil {
		return nil, err
	}
	t, err := parent.Tree(path.Base(dir))
	if err != nil {
		return nil, err
	}
	f.trees[dir] = t
	return t, nil
}

var (
	_ fs.ReadDirFS  = (*treeFS)(nil)
	_ fs.ReadFileFS = (*treeFS)(nil)
	_ fs.StatFS     = (*treeFS)(nil)
)

// entry finds name: the root, a file, a folder or a symlink.
func (f *treeFS) entry(op, name string) (*object.TreeEntry, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return &object.TreeEntry{Name: ".", Mode: filemode.Dir, Hash: f.tree.Hash}, nil
	}
	parent, err := f.subtree(path.Dir(name))
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	e, err := parent.FindEntry(path.Base(name))
	if err != nil || e.Mode == filemode.Submodule {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return e, nil
}

func (f *treeFS) Open(name string) (fs.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, err := f.entry("open", name)
	if err != nil {
		return nil, err
	}
	info := f.info(name, e)
	switch {
	case e.Mode == filemode.Dir:
		entries, err := f.readDir(name)
		if err != nil {
			return nil, err
		}
		return &dir{info: info, entries: entries}, nil
	case e.Mode == filemode.Symlink:
		return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("symlinks are not followed")}
	}
	b, err := f.blob(name, e)
	if err != nil {
		return nil, err
	}
	return &file{info: info, data: b}, nil
}

func (f *treeFS) ReadFile(name string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, err := f.entry("readfile", name)
	if err != nil {
		return nil, err
	}
	if e.Mode == filemode.Dir || e.Mode == filemode.Symlink {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: errors.New("not a regular file")}
	}
	return f.blob(name, e)
}

func (f *treeFS) Stat(name string) (fs.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, err := f.entry("stat", name)
	if err != nil {
		return nil, err
	}
	return f.info(name, e), nil
}

func (f *treeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.readDir(name)
}

// readDir is ReadDir with f.mu held.
func (f *treeFS) readDir(name string) ([]fs.DirEntry, error) {
	e, err := f.entry("readdir", name)
	if err != nil {
		return nil, err
	}
	if e.Mode != filemode.Dir {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	t, err := f.subtree(name)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	var out []fs.DirEntry
	for i := range t.Entries {
		te := &t.Entries[i]
		if te.Mode == filemode.Submodule {
			continue
		}
		out = append(out, fs.FileInfoToDirEntry(f.info(path.Join(name, te.Name), te)))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

func (f *treeFS) blob(name string, e *object.TreeEntry) ([]byte, error) {
	b, err := f.tree.TreeEntryFile(e)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	rd, err := b.Reader()
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	defer rd.Close()
	data, err := io.ReadAll(rd)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	return data, nil
}

// info describes the entry e found at full, its path from the FS root.
func (f *treeFS) info(full string, e *object.TreeEntry) *info {
	i := &info{name: path.Base(full), mtime: f.mtime}
	switch e.Mode {
	case filemode.Dir:
		i.mode = fs.ModeDir | 0o555
	case filemode.Symlink:
		i.mode = fs.ModeSymlink | 0o777
	case filemode.Executable:
		i.mode = 0o555
	default:
		i.mode = 0o444
	}
	if e.Mode != filemode.Dir {
		if parent, err := f.subtree(path.Dir(full)); err == nil {
			if sz, err := parent.Size(path.Base(full)); err == nil {
				i.size = sz
			}
		}
	}
	return i
}

type info struct {
	name  string
	size  int64
	mode  fs.FileMode
	mtime time.Time
}

func (i *info) Name() string       { return i.name }
func (i *info) Size() int64        { return i.size }
func (i *info) Mode() fs.FileMode  { return i.mode }
func (i *info) ModTime() time.Time { return i.mtime }
func (i *info) IsDir() bool        { return i.mode.IsDir() }
func (i *info) Sys() any           { return nil }

type file struct {
	info *info
	data []byte
	off  int
}

func (f *file) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *file) Close() error               { return nil }
func (f *file) Read(p []byte) (int, error) {
	if f.off >= len(f.data) {
		return 0, io.EOF
	}
	n := copy(p, f.data[f.off:])
	f.off += n
	return n, nil
}

type dir struct {
	info    *info
	entries []fs.DirEntry
	off     int
}

func (d *dir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dir) Close() error               { return nil }
func (d *dir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: errors.New("is a directory")}
}

func (d *dir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.off:]
	if n <= 0 {
		d.off = len(d.entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(rest))
	d.off += n
	return rest[:n], nil
}
