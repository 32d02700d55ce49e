package gitops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
)

// repoRenew is how many reads and publishes a Repo serves from one
// in-memory repository before it starts afresh: every publish adds
// objects, and a fresh depth-1 fetch holds only the tip's.
const repoRenew = 500

// Repo is one target's repository kept in memory between calls, for a
// process that reads and publishes the same branch again and again (dmls
// serve). Unlike Publish and ReadTreeSkipping, which fetch the tip's whole tree
// each time, a Repo fetches only when the branch moved, and then only the
// objects it lacks; a publish builds its tree from the tip's tree plus
// the changed entries, and pushes one pack holding only the objects that
// are new: the commit, the trees on the changed paths and the changed
// files. Everything else (validation, the lease, retries after a lost
// race, ExpectTip, error classification and redaction) is Publish's. Safe
// for concurrent use; calls run one at a time.
type Repo struct {
	target Target
	auth   Auth

	mu   sync.Mutex
	r    *remote
	uses int
	// last is what the last publish left in the managed paths, or nil.
	last *published
}

// published is the content of the managed paths after a publish: the
// files, and the tree hash of each managed path (zero: none) by which a
// later publish tells that nobody changed them since.
type published struct {
	managed  string
	files    map[string][]byte
	subtrees map[string]plumbing.Hash
	// wrote are the trees the publish wrote, in the storer s: the next
	// publish starts from them (the tip's trees, when nobody else
	// pushed) rather than decoding them again.
	wrote map[plumbing.Hash]*object.Tree
	s     storer.EncodedObjectStorer
}

// OpenRepo returns the Repo of target. It contacts nobody.
func OpenRepo(target Target, auth Auth) (*Repo, error) {
	r, err := openRemote(target, auth)
	if err != nil {
		return nil, err
	}
	return &Repo{target: target, auth: auth, r: r}, nil
}

// remote returns the in-memory repository, renewed every repoRenew uses.
// Called with mu held.
func (rp *Repo) remote() (*remote, error) {
	rp.uses++
	if rp.r == nil || rp.uses > repoRenew {
		r, err := openRemote(rp.target, rp.auth)
		if err != nil {
			return nil, err
		}
		rp.r, rp.uses = r, 1
	}
	return rp.r, nil
}

// failed drops the in-memory repository after an error other than a lost
// race, so that the next call starts afresh: with the credentials and
// known hosts read again, and without objects of a failed transfer.
// Called with mu held.
func (rp *Repo) failed(err error) {
	if err != nil && !errors.Is(err, ErrStale) && !errors.Is(err, ErrConflict) {
		rp.r, rp.last = nil, nil
	}
}

// Publish is Publish on the repo's target; req.Target and req.Auth are
// ignored.
func (rp *Repo) Publish(ctx context.Context, req Request) (Result, error) {
	req.Target, req.Auth = rp.target, rp.auth
	if err := req.validate(); err != nil {
		return Result{}, err
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	r, err := rp.remote()
	if err != nil {
		return Result{}, err
	}
	managed := strings.Join(sortedUnique(req.Managed), "\x00")
	var tree plumbing.Hash
	// The trees read and written while applying the change, for the push
	// and the managed paths' subtrees: each is decoded once per publish
	// (the folders with an entry per app were decoded three times).
	trees := &treeCache{s: r.repo.Storer}
	if p := rp.last; p != nil && p.s == r.repo.Storer {
		trees.trees = maps.Clone(p.wrote)
	}
	apply := func(s storer.EncodedObjectStorer, root plumbing.Hash, files map[string][]byte, m []string) (ch change, err error) {
		if trees.s != s {
			trees = &treeCache{s: s}
		}
		if p := rp.last; p != nil && p.managed == managed && p.unchangedIn(trees, root) {
			ch, err = applyDiff(trees, root, p.files, files)
		} else {
			ch, err = applyFiles(s, root, files, m)
		}
		tree = ch.tree
		return ch, err
	}
	push := func(ctx context.Context, commit, parent plumbing.Hash) (string, error) {
		return r.pushNewWith(ctx, commit, parent, trees)
	}
	res, err := publishOn(ctx, r, req, push, apply, true)
	rp.failed(err)
	switch {
	case err != nil || req.DryRun:
	case res.Commit == "":
		rp.last = nil
	default:
		p := &published{managed: managed, files: req.Files, subtrees: map[string]plumbing.Hash{}}
		if trees.s != r.repo.Storer {
			trees = &treeCache{s: r.repo.Storer}
		}
		p.wrote, p.s = trees.wrote, trees.s
		for _, m := range req.Managed {
			h, ok := trees.subtree(tree, m)
			if !ok {
				p = nil
				break
			}
			p.subtrees[m] = h
		}
		rp.last = p
	}
	return res, err
}

// unchangedIn reports whether each managed path of the tree root holds
// the tree it held after the publish p.
func (p *published) unchangedIn(trees *treeCache, root plumbing.Hash) bool {
	for m, want := range p.subtrees {
		if h, ok := trees.subtree(root, m); !ok || h != want {
			return false
		}
	}
	return true
}

// treeCache reads the trees of s, each once: the managed paths of an
// ml-model commit are the app folders a batch changed, each under the
// apps folder, whose tree (an entry per app) was decoded again for each
// of them, twice per commit.
type treeCache struct {
	s     storer.EncodedObjectStorer
	trees map[plumbing.Hash]*object.Tree
	// wrote are the trees of trees that were written (put).
	wrote map[plumbing.Hash]*object.Tree
}

func (c *treeCache) get(h plumbing.Hash) (*object.Tree, error) {
	if t, ok := c.trees[h]; ok {
		return t, nil
	}
	t, err := object.GetTree(c.s, h)
	if err != nil {
		return nil, err
	}
	c.keep(h, t)
	return t, nil
}

// put keeps the tree h that was just written with entries (sorted).
func (c *treeCache) put(h plumbing.Hash, entries []object.TreeEntry) {
	t := &object.Tree{Hash: h, Entries: entries}
	c.keep(h, t)
	if c.wrote == nil {
		c.wrote = map[plumbing.Hash]*object.Tree{}
	}
	c.wrote[h] = t
}

func (c *treeCache) keep(h plumbing.Hash, t *object.Tree) {
	if c.trees == nil {
		c.trees = map[plumbing.Hash]*object.Tree{}
	}
	c.trees[h] = t
}

// subtree returns the hash of the tree at prefix in the tree root, zero
// when there is none; ok is false when something else is there.
func (c *treeCache) subtree(root plumbing.Hash, prefix string) (h plumbing.Hash, ok bool) {
	h = root
	for _, comp := range components(prefix) {
		if h.IsZero() {
			return h, true
		}
		t, err := c.get(h)
		if err != nil {
			return h, false
		}
		e, err := t.FindEntry(comp)
		if err != nil {
			return plumbing.ZeroHash, true
		}
		if e.Mode != filemode.Dir {
			return h, false
		}
		h = e.Hash
	}
	return h, true
}

// applyDiff is applyFiles for a tree whose managed paths hold exactly old:
// it writes only the files that differ from old and deletes those that
// are gone, so that the cost follows the change.
func applyDiff(trees *treeCache, root plumbing.Hash, old, files map[string][]byte) (change, error) {
	ed, err := newTreeEditorWith(trees, root)
	if err != nil {
		return change{}, err
	}
	var c change
	for p, b := range files {
		o, existed := old[p]
		if existed && bytes.Equal(o, b) {
			continue
		}
		if _, err := ed.put(p, b); err != nil {
			return change{}, err
		}
		if existed {
			c.modified = append(c.modified, p)
		} else {
			c.added = append(c.added, p)
		}
	}
	for p := range old {
		if _, ok := files[p]; !ok {
			if err := ed.remove(p); err != nil {
				return change{}, err
			}
			c.deleted = append(c.deleted, p)
		}
	}
	slices.Sort(c.added)
	slices.Sort(c.modified)
	slices.Sort(c.deleted)
	if c.tree, err = ed.write(); err != nil {
		return change{}, err
	}
	return c, nil
}

func sortedUnique(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// ReadTreeSkipping is ReadTreeSkipping of the repo's target, except that
// when the tip is the commit unless, it reads nothing and returns nil
// files with the tip's SHA.
func (rp *Repo) ReadTreeSkipping(ctx context.Context, prefix, unless string) (files map[string][]byte, sha string, unsafe map[string]string, err error) {
	if prefix == "" {
		prefix = RootPrefix
	}
	if err := validatePrefix(prefix); err != nil {
		return nil, "", nil, err
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	r, err := rp.remote()
	if err != nil {
		return nil, "", nil, err
	}
	tip, err := r.fetch(ctx)
	if err != nil {
		rp.failed(err)
		return nil, "", nil, err
	}
	if tip != nil && unless != "" && tip.Hash.String() == unless {
		return nil, unless, nil, nil
	}
	unsafe = map[string]string{}
	files, sha, err = readTip(r, tip, prefix, unsafe)
	return files, sha, unsafe, err
}

// pushNewWith pushes commit onto the branch, on condition that it is at
// parent, in one pack of the objects that parent does not have, reading
// the trees through trees, a cache of the remote's storer. The first
// commit of a branch goes through go-git's push.
func (r *remote) pushNewWith(ctx context.Context, commit, parent plumbing.Hash, trees *treeCache) (said string, err error) {
	if parent.IsZero() {
		return r.push(ctx, commit, parent)
	}
	if trees.s != r.repo.Storer {
		trees = &treeCache{s: r.repo.Storer}
	}
	objs, err := newObjects(trees, commit, parent)
	if err != nil {
		return "", err
	}
	ep, err := transport.NewEndpoint(r.url)
	if err != nil {
		return "", err
	}
	cl, err := client.NewClient(ep)
	if err != nil {
		return "", err
	}
	sess, err := cl.NewReceivePackSession(ep, r.auth)
	if err != nil {
		return "", err
	}
	defer func() {
		if cerr := sess.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	// Over HTTP, the advertisement is a request of its own: once the
	// remote's capabilities are known, the pack goes without it, and the
	// lease is receive-pack's atomic check of the old value alone (a
	// stale one is refused as "failed to update ref", a lost race). Over
	// the other transports it comes on the same connection.
	caps := r.receiveCaps
	if caps == nil || !strings.HasPrefix(ep.Protocol, "http") {
		ar, err := sess.AdvertisedReferencesContext(ctx)
		if err != nil {
			return "", err
		}
		refs, err := ar.AllReferences()
		if err != nil {
			return "", err
		}
		// The lease, checked here as go-git's push does; receive-pack
		// checks the old value again atomically.
		if cur, err := refs.Reference(r.branch); err != nil || cur.Hash() != parent {
			return "", fmt.Errorf("stale info: %s is no longer at %s", r.branch.Short(), parent)
		}
		caps = ar.Capabilities
	}
	req := packp.NewReferenceUpdateRequestFromCapabilities(caps)
	progress := &limitedBuffer{max: 4 << 10}
	req.Progress = progress
	if caps.Supports(capability.Sideband64k) {
		_ = req.Capabilities.Set(capability.Sideband64k)
	} else if caps.Supports(capability.Sideband) {
		_ = req.Capabilities.Set(capability.Sideband)
	}
	req.Commands = []*packp.Command{{Name: r.branch, Old: parent, New: commit}}
	var pack bytes.Buffer
	if _, err := packfile.NewEncoder(&pack, r.repo.Storer, !caps.Supports(capability.OFSDelta)).Encode(objs, 0); err != nil {
		return "", fmt.Errorf("encode the pack: %w", err)
	}
	req.Packfile = io.NopCloser(&pack)
	rs, err := sess.ReceivePack(ctx, req)
	if err == nil && rs != nil {
		err = rs.Error()
	}
	said = remoteMessages(progress.String())
	if err != nil {
		// Ask again next time: the remote may have changed.
		r.receiveCaps = nil
		return said, err
	}
	r.receiveCaps = caps
	if err := r.repo.Storer.SetReference(plumbing.NewHashReference(r.tracking, commit)); err != nil {
		return said, err
	}
	return said, nil
}

// newObjects lists commit and the objects of its tree that parent's tree
// does not hold at the same path: every object that the remote, which has
// parent, may lack. Subtrees that did not change are not walked, so the
// cost follows the change, not the size of the tree.
func newObjects(trees *treeCache, commit, parent plumbing.Hash) ([]plumbing.Hash, error) {
	s := trees.s
	c, err := object.GetCommit(s, commit)
	if err != nil {
		return nil, err
	}
	var old plumbing.Hash
	if !parent.IsZero() {
		pc, err := object.GetCommit(s, parent)
		if err != nil {
			return nil, err
		}
		old = pc.TreeHash
	}
	seen := map[plumbing.Hash]bool{commit: true}
	out := []plumbing.Hash{commit}
	add := func(h plumbing.Hash) {
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	var walk func(h, old plumbing.Hash) error
	walk = func(h, old plumbing.Hash) error {
		if h == old {
			return nil
		}
		add(h)
		t, err := trees.get(h)
		if err != nil {
			return err
		}
		// The old tree's entries by name, as indexes: the folders that
		// hold an entry per app are most of a push's trees at 1,000 apps.
		var was map[string]int
		var olds []object.TreeEntry
		if !old.IsZero() {
			ot, err := trees.get(old)
			if err != nil {
				return err
			}
			olds = ot.Entries
			was = make(map[string]int, len(olds))
			for i, e := range olds {
				was[e.Name] = i
			}
		}
		for _, e := range t.Entries {
			i, ok := was[e.Name]
			var o object.TreeEntry
			if ok {
				o = olds[i]
			}
			if ok && o.Hash == e.Hash && o.Mode == e.Mode {
				continue
			}
			switch e.Mode {
			case filemode.Dir:
				var oh plumbing.Hash
				if ok && o.Mode == filemode.Dir {
					oh = o.Hash
				}
				if err := walk(e.Hash, oh); err != nil {
					return err
				}
			case filemode.Submodule:
				// a commit of another repository
			default:
				add(e.Hash)
			}
		}
		return nil
	}
	if err := walk(c.TreeHash, old); err != nil {
		return nil, err
	}
	return out, nil
}
