package gitops

import (
	"fmt"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// treeEditor edits a git tree directly in object storage, without a worktree. It loads only the
// directories it touches, so subtrees outside the managed paths are carried over by hash, and it
// writes new tree objects only for directories whose content changed.
type treeEditor struct {
	s    storer.EncodedObjectStorer
	root *dirNode
	// trees reads the trees the editor loads and keeps those it writes,
	// for what follows in the same publish (the push's walk of the new
	// trees against the old, the managed paths' subtrees).
	trees *treeCache
}

type dirNode struct {
	orig    plumbing.Hash // the tree this node was loaded from; zero for a new directory
	entries map[string]*treeEntry
	dirty   bool
}

type treeEntry struct {
	mode filemode.FileMode
	hash plumbing.Hash
	dir  *dirNode // the loaded directory, nil until needed
}

// fileEntry is a file found in an existing tree.
type fileEntry struct {
	mode filemode.FileMode
	hash plumbing.Hash
}

// newTreeEditor starts from the tree root, or from an empty tree if root is zero.
func newTreeEditor(s storer.EncodedObjectStorer, root plumbing.Hash) (*treeEditor, error) {
	return newTreeEditorWith(&treeCache{s: s}, root)
}

// newTreeEditorWith is newTreeEditor on the storer of trees, reading and
// keeping trees through it.
func newTreeEditorWith(trees *treeCache, root plumbing.Hash) (*treeEditor, error) {
	t := &treeEditor{s: trees.s, root: &dirNode{entries: map[string]*treeEntry{}}, trees: trees}
	if root.IsZero() {
		return t, nil
	}
	d, err := t.load(root)
	if err != nil {
		return nil, err
	}
	t.root = d
	return t, nil
}

func (t *treeEditor) load(h plumbing.Hash) (*dirNode, error) {
	tree, err := t.trees.get(h)
	if err != nil {
		return nil, fmt.Errorf("read tree %s: %w", h, err)
	}
	d := &dirNode{orig: h, entries: make(map[string]*treeEntry, len(tree.Entries))}
	for _, e := range tree.Entries {
		d.entries[e.Name] = &treeEntry{mode: e.Mode, hash: e.Hash}
	}
	return d, nil
}

// dir returns the directory at comps. With create, missing directories are made; without it, a
// missing directory gives nil and no error. Anything but a directory on the way is an error.
func (t *treeEditor) dir(comps []string, create bool) (*dirNode, error) {
	d := t.root
	for i, c := range comps {
		e := d.entries[c]
		if e == nil {
			if !create {
				return nil, nil
			}
			e = &treeEntry{mode: filemode.Dir, dir: &dirNode{entries: map[string]*treeEntry{}}}
			d.entries[c] = e
			d.dirty = true
		}
		if e.mode != filemode.Dir {
			return nil, fmt.Errorf("%w: %q is %s in the repository, not a directory",
				ErrUnsafeTree, strings.Join(comps[:i+1], "/"), describe(e.mode))
		}
		if e.dir == nil {
			sub, err := t.load(e.hash)
			if err != nil {
				return nil, err
			}
			e.dir = sub
		}
		d = e.dir
	}
	return d, nil
}

// removeAll removes everything under prefix and returns the files that were there. It refuses
// to touch a tree holding a symlink or a submodule: replacing one with generated files could
// hand a checkout a path that points outside the repository.
func (t *treeEditor) removeAll(prefix string) (map[string]fileEntry, error) {
	old := map[string]fileEntry{}
	comps := components(prefix)
	if len(comps) == 0 {
		if err := t.collect(t.root, "", old); err != nil {
			return nil, err
		}
		t.root.entries = map[string]*treeEntry{}
		t.root.dirty = true
		return old, nil
	}
	parent, err := t.dir(comps[:len(comps)-1], false)
	if err != nil || parent == nil {
		return old, err
	}
	name := comps[len(comps)-1]
	e := parent.entries[name]
	if e == nil {
		return old, nil
	}
	if e.mode != filemode.Dir {
		return nil, fmt.Errorf("%w: managed prefix %q is %s in the repository, not a directory", ErrUnsafeTree, prefix, describe(e.mode))
	}
	if e.dir == nil {
		if e.dir, err = t.load(e.hash); err != nil {
			return nil, err
		}
	}
	if err := t.collect(e.dir, prefix, old); err != nil {
		return nil, err
	}
	delete(parent.entries, name)
	parent.dirty = true
	return old, nil
}

// collect adds every file under d, whose path is base, to out.
func (t *treeEditor) collect(d *dirNode, base string, out map[string]fileEntry) error {
	return t.collectSkipping(d, base, out, nil)
}

// collectSkipping is collect that, when unsafe is not nil, records
// symlinks and submodules there (path → what it is) instead of failing.
func (t *treeEditor) collectSkipping(d *dirNode, base string, out map[string]fileEntry, unsafe map[string]string) error {
	for name, e := range d.entries {
		p := name
		if base != "" {
			p = base + "/" + name
		}
		switch {
		case e.mode == filemode.Dir:
			if e.dir == nil {
				sub, err := t.load(e.hash)
				if err != nil {
					return err
				}
				e.dir = sub
			}
			if err := t.collectSkipping(e.dir, p, out, unsafe); err != nil {
				return err
			}
		case (e.mode == filemode.Symlink || e.mode == filemode.Submodule) && unsafe != nil:
			unsafe[p] = describe(e.mode)
		case e.mode == filemode.Symlink || e.mode == filemode.Submodule:
			return fmt.Errorf("%w: %q is %s; dmls does not manage paths holding one", ErrUnsafeTree, p, describe(e.mode))
		default:
			out[p] = fileEntry{mode: e.mode, hash: e.hash}
		}
	}
	return nil
}

// remove deletes the file at p, if there is one.
func (t *treeEditor) remove(p string) error {
	comps := components(p)
	d, err := t.dir(comps[:len(comps)-1], false)
	if err != nil || d == nil {
		return err
	}
	name := comps[len(comps)-1]
	if e := d.entries[name]; e != nil && e.mode != filemode.Dir {
		delete(d.entries, name)
		d.dirty = true
	}
	return nil
}

// put stores content as a regular file at p, creating directories, and returns its blob hash.
func (t *treeEditor) put(p string, content []byte) (plumbing.Hash, error) {
	comps := components(p)
	d, err := t.dir(comps[:len(comps)-1], true)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	name := comps[len(comps)-1]
	if e := d.entries[name]; e != nil && e.mode == filemode.Dir {
		return plumbing.ZeroHash, fmt.Errorf("%w %q: a directory of that name exists", ErrInvalidPath, p)
	}
	h, err := writeBlob(t.s, content)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	d.entries[name] = &treeEntry{mode: filemode.Regular, hash: h}
	d.dirty = true
	return h, nil
}

// write stores the trees of changed directories, bottom up, and returns the root tree's hash.
// Directories left empty disappear, as git cannot hold them.
func (t *treeEditor) write() (plumbing.Hash, error) {
	return t.encode(t.root)
}

func (t *treeEditor) encode(d *dirNode) (plumbing.Hash, error) {
	for name, e := range d.entries {
		if e.dir == nil {
			continue
		}
		h, err := t.encode(e.dir)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		switch {
		case len(e.dir.entries) == 0:
			delete(d.entries, name)
			d.dirty = true
		case h != e.hash:
			e.hash = h
			d.dirty = true
		}
	}
	if !d.dirty && !d.orig.IsZero() {
		return d.orig, nil
	}
	entries := make([]object.TreeEntry, 0, len(d.entries))
	for name, e := range d.entries {
		entries = append(entries, object.TreeEntry{Name: name, Mode: e.mode, Hash: e.hash})
	}
	sort.Sort(object.TreeEntrySorter(entries))
	obj := t.s.NewEncodedObject()
	if err := (&object.Tree{Entries: entries}).Encode(obj); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("encode tree: %w", err)
	}
	h, err := t.s.SetEncodedObject(obj)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("store tree: %w", err)
	}
	t.trees.put(h, entries)
	return h, nil
}

func writeBlob(s storer.EncodedObjectStorer, content []byte) (plumbing.Hash, error) {
	h := plumbing.ComputeHash(plumbing.BlobObject, content)
	if s.HasEncodedObject(h) == nil {
		return h, nil
	}
	obj := s.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	obj.SetSize(int64(len(content)))
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("store blob: %w", err)
	}
	if _, err := w.Write(content); err != nil {
		_ = w.Close()
		return plumbing.ZeroHash, fmt.Errorf("store blob: %w", err)
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("store blob: %w", err)
	}
	return s.SetEncodedObject(obj)
}

func describe(m filemode.FileMode) string {
	switch m {
	case filemode.Dir:
		return "a directory"
	case filemode.Symlink:
		return "a symlink"
	case filemode.Submodule:
		return "a submodule"
	default:
		return "a file"
	}
}
