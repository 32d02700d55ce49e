package gitops

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/dmls-project/dmls/internal/memo"
)

// CommitGraph is the commit history of a branch, fetched into memory, to ask
// which commit last changed some folders and whether a revision includes
// a commit. Its methods are safe for concurrent use.
type CommitGraph struct {
	mu   sync.Mutex
	repo *git.Repository
	tip  *object.Commit
	last map[string]string
	// dirs caches, by commit, the folders (and files) its first-parent
	// diff touches, for LastChanges; shared by the graphs of At.
	dirs *memo.Cache[[]string]
	// changes keeps the last answer of LastChanges, shared by the graphs
	// of At like dirs.
	changes *changesMemo
	// remote is where the history came from, for Update; nil for a local
	// checkout (OpenHistory).
	remote *remote
}

// ReadHistory fetches the history of the target branch. An empty
// repository or a missing branch gives an empty CommitGraph.
func ReadHistory(ctx context.Context, target Target, auth Auth) (*CommitGraph, error) {
	r, err := openRemote(target, auth)
	if err != nil {
		return nil, err
	}
	h := &CommitGraph{remote: r, dirs: newDirCache(), changes: &changesMemo{}}
	if err := h.Update(ctx); err != nil {
		return nil, err
	}
	return h, nil
}

// Update fetches what the branch gained since the history was read (only
// the new objects cross the wire) and moves the tip. A graph from
// OpenHistory cannot be updated.
func (h *CommitGraph) Update(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.remote
	if r == nil {
		return errors.New("update history: not fetched from a remote")
	}
	err := r.origin.FetchContext(ctx, &git.FetchOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{config.RefSpec(fmt.Sprintf("+%s:%s", r.branch, r.tracking))},
		Auth:       r.auth,
		Tags:       git.NoTags,
	})
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
	case errors.Is(err, transport.ErrEmptyRemoteRepository), errors.Is(err, git.NoMatchingRefSpecError{}):
		h.repo, h.tip, h.last = nil, nil, nil
		return nil
	default:
		return r.red.wrap("fetch", r.name, classify(err), err)
	}
	ref, err := r.repo.Storer.Reference(r.tracking)
	if err != nil {
		h.repo, h.tip, h.last = nil, nil, nil
		return nil
	}
	tip, err := object.GetCommit(r.repo.Storer, ref.Hash())
	if err != nil {
		return fmt.Errorf("fetch %s: read commit %s: %w", r.name, ref.Hash(), err)
	}
	if h.tip == nil || h.tip.Hash != tip.Hash {
		h.last = map[string]string{}
	}
	h.repo, h.tip = r.repo, tip
	return nil
}

// Extend adds commit, which src made and pushed (Repo.Publish), to the
// graph when the graph's tip is the commit's first parent: the objects
// the commit adds to that parent are copied from src's memory, and the
// tip moves, as an Update that fetched it would. A server that keeps the
// history of the branch it commits to thus does not fetch its own
// commits back. It reports whether it did; when it did not (another
// writer pushed in between, src started afresh), the next Update
// fetches, as before.
func (h *CommitGraph) Extend(src *Repo, commit string) bool {
	if h == nil || h.remote == nil || h.tip == nil || src == nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	src.mu.Lock()
	defer src.mu.Unlock()
	if src.r == nil {
		return false
	}
	s := src.r.repo.Storer
	ch := plumbing.NewHash(commit)
	c, err := object.GetCommit(s, ch)
	if err != nil || c.NumParents() == 0 || c.ParentHashes[0] != h.tip.Hash {
		return false
	}
	objs, err := newObjects(&treeCache{s: s}, ch, h.tip.Hash)
	if err != nil {
		return false
	}
	dst := h.repo.Storer
	for _, x := range objs {
		o, err := s.EncodedObject(plumbing.AnyObject, x)
		if err != nil {
			return false
		}
		if _, err := dst.SetEncodedObject(o); err != nil {
			return false
		}
	}
	tip, err := object.GetCommit(dst, ch)
	if err != nil {
		return false
	}
	if err := dst.SetReference(plumbing.NewHashReference(h.remote.tracking, ch)); err != nil {
		return false
	}
	h.tip, h.last = tip, map[string]string{}
	return true
}

// At returns the history up to commit sha (sha and its ancestors), or nil
// when the graph does not hold that commit. The result shares h's
// objects: use it only while nothing calls h.Update.
func (h *CommitGraph) At(sha string) *CommitGraph {
	if h == nil || h.tip == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.tip.Hash.String() == sha {
		return h
	}
	c, err := object.GetCommit(h.repo.Storer, plumbing.NewHash(sha))
	if err != nil {
		return nil
	}
	return &CommitGraph{repo: h.repo, tip: c, last: map[string]string{}, dirs: h.dirs, changes: h.changes}
}

// dirCacheCommits bounds the commits whose touched folders a CommitGraph
// keeps: a commit's diff is computed once, not on every LastChanges.
const dirCacheCommits = 8192

func newDirCache() *memo.Cache[[]string] { return memo.New[[]string](dirCacheCommits) }

// touched returns the paths c's diff against its first parent touches,
// with every folder above them, each once. Commits never change, so the
// answer is cached.
func (h *CommitGraph) touched(c *object.Commit) ([]string, error) {
	key := c.Hash.String()
	if d, ok := h.dirs.Get(key); ok {
		return d, nil
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, err
	}
	var parent *object.Tree
	if c.NumParents() > 0 {
		p, err := c.Parent(0)
		if err != nil {
			return nil, err
		}
		if parent, err = p.Tree(); err != nil {
			return nil, err
		}
	}
	changes, err := object.DiffTree(parent, tree)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, ch := range changes {
		names = append(names, ch.From.Name, ch.To.Name)
	}
	out := withFolders(names)
	h.dirs.Put(key, out)
	return out, nil
}

// withFolders returns paths with every folder above them, each once.
func withFolders(paths []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, name := range paths {
		for d := name; d != "." && d != "/" && d != "" && !seen[d]; d = path.Dir(d) {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// Touched records the repo paths that commit changed against its first
// parent, for a commit this process made and knows the changes of
// (Result's Added, Modified and Deleted): LastChanges then reads them
// rather than diffing the commit's trees, which for ml-model's apps
// folder (an entry per app) was most of what the catalog's last changes
// cost after each batch.
func (h *CommitGraph) Touched(commit string, paths []string) {
	if h == nil || h.dirs == nil {
		return
	}
	if _, ok := h.dirs.Get(commit); !ok {
		h.dirs.Put(commit, withFolders(paths))
	}
}

// OpenHistory opens the history of the git checkout that holds dir, from
// its HEAD, and returns dir's folder in the repository ("" for its root).
// A dir outside any checkout, or in one without commits, is an error.
func OpenHistory(dir string) (*CommitGraph, string, error) {
	r, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return nil, "", fmt.Errorf("open the git checkout of %s: %w", dir, err)
	}
	wt, err := r.Worktree()
	if err != nil {
		return nil, "", fmt.Errorf("open the git checkout of %s: %w", dir, err)
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return nil, "", err
	}
	root, err := filepath.Abs(wt.Filesystem.Root())
	if err != nil {
		return nil, "", err
	}
	// Symlinks (say /tmp on macOS) must not make dir look outside.
	if d, err := filepath.EvalSymlinks(absDir); err == nil {
		absDir = d
	}
	if d, err := filepath.EvalSymlinks(root); err == nil {
		root = d
	}
	rel, err := filepath.Rel(root, absDir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil, "", fmt.Errorf("%s is not inside the git checkout %s", dir, root)
	}
	head, err := r.Head()
	if err != nil {
		return nil, "", fmt.Errorf("read HEAD of %s: %w", root, err)
	}
	tip, err := r.CommitObject(head.Hash())
	if err != nil {
		return nil, "", fmt.Errorf("read HEAD of %s: %w", root, err)
	}
	if rel == "." {
		rel = ""
	}
	return &CommitGraph{repo: r, tip: tip, last: map[string]string{}, dirs: newDirCache(), changes: &changesMemo{}}, filepath.ToSlash(rel), nil
}

// LastChanges returns, for each key of dirs, the newest commit from the
// tip that changed a file under one of the key's folders (repo paths);
// a key no commit changed is missing. It walks history once, first
// parents' trees against each commit's, and stops as soon as every key
// is found, so recently changed folders are cheap however long the
// history is. Each commit's diff is computed once and kept (commits never
// change), so a process that asks again after every commit (dmls serve,
// for the catalog) walks the history without diffing it again.
//
// The last answer is kept too: asked again at a tip a few single-parent
// commits past the last one asked, with the same folders for the keys it
// knows, it reads only those new commits and takes the rest from the
// last answer. The walk from a tip meets those commits first and then
// goes on exactly as from the last tip, so the answer is the same; any
// other case walks the whole history. Walking it after every commit was
// most of what the catalog cost dmls serve at 1,000 apps, and grew with
// the history.
func (h *CommitGraph) LastChanges(dirs map[string][]string) map[string]CommitInfo {
	out := map[string]CommitInfo{}
	if h == nil || h.tip == nil || len(dirs) == 0 {
		return out
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if out, ok := h.changes.since(h, dirs); ok {
		return out
	}
	byDir := map[string][]string{} // folder → keys
	for k, ds := range dirs {
		for _, d := range ds {
			d = strings.Trim(d, "/")
			byDir[d] = append(byDir[d], k)
		}
	}
	iter, err := h.repo.Log(&git.LogOptions{From: h.tip.Hash})
	if err != nil {
		return out
	}
	defer iter.Close()
	err = iter.ForEach(func(c *object.Commit) error {
		touched, err := h.touched(c)
		if err != nil {
			return err
		}
		info := commitInfo(c)
		for _, d := range touched {
			for _, k := range byDir[d] {
				if _, done := out[k]; !done {
					out[k] = info
				}
			}
		}
		if len(out) == len(dirs) {
			return storer.ErrStop
		}
		return nil
	})
	if err == nil || errors.Is(err, storer.ErrStop) {
		h.changes.keep(h.tip.Hash, dirs, out)
	}
	return out
}

func commitInfo(c *object.Commit) CommitInfo {
	return CommitInfo{Commit: c.Hash.String(), Author: c.Author.Name, Time: c.Author.When.UTC(), Message: strings.TrimSpace(c.Message)}
}

// changesMemo is the last answer of LastChanges: the tip it was asked at,
// the keys with their folders, and the answer (read-only once kept).
type changesMemo struct {
	mu   sync.Mutex
	tip  plumbing.Hash
	dirs map[string][]string
	out  map[string]CommitInfo
}

// changesSince bounds the new commits LastChanges reads on top of its
// last answer before it walks the whole history instead.
const changesSince = 64

func (m *changesMemo) keep(tip plumbing.Hash, dirs map[string][]string, out map[string]CommitInfo) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tip, m.dirs, m.out = tip, maps.Clone(dirs), maps.Clone(out)
}

// since answers LastChanges at h's tip from the last answer, if that tip
// is at most changesSince single-parent commits past the last one and
// every key of dirs that those commits do not answer was asked with the
// same folders; ok is false otherwise.
func (m *changesMemo) since(h *CommitGraph, dirs map[string][]string) (out map[string]CommitInfo, ok bool) {
	if m == nil {
		return nil, false
	}
	m.mu.Lock()
	tip, prevDirs, prevOut := m.tip, m.dirs, m.out
	m.mu.Unlock()
	if prevDirs == nil {
		return nil, false
	}
	var chain []*object.Commit
	for c := h.tip; c.Hash != tip; {
		if len(chain) == changesSince || c.NumParents() != 1 {
			return nil, false
		}
		chain = append(chain, c)
		p, err := c.Parent(0)
		if err != nil {
			return nil, false
		}
		c = p
	}
	byDir := map[string][]string{}
	for k, ds := range dirs {
		for _, d := range ds {
			d = strings.Trim(d, "/")
			byDir[d] = append(byDir[d], k)
		}
	}
	out = map[string]CommitInfo{}
	for _, c := range chain {
		touched, err := h.touched(c)
		if err != nil {
			return nil, false
		}
		info := commitInfo(c)
		for _, d := range touched {
			for _, k := range byDir[d] {
				if _, done := out[k]; !done {
					out[k] = info
				}
			}
		}
	}
	for k, ds := range dirs {
		if _, done := out[k]; done {
			continue
		}
		prev, asked := prevDirs[k]
		if !asked || !slices.Equal(prev, ds) {
			return nil, false
		}
		if info, found := prevOut[k]; found {
			out[k] = info
		}
	}
	m.keep(h.tip.Hash, dirs, out)
	return out, true
}

// Tip is the branch tip, "" for none.
func (h *CommitGraph) Tip() string {
	if h == nil || h.tip == nil {
		return ""
	}
	return h.tip.Hash.String()
}

// LastChange returns the newest commit that changed a file under one of
// dirs (repo paths of folders), or the tip when none did.
func (h *CommitGraph) LastChange(dirs []string) string {
	if h == nil || h.tip == nil {
		return ""
	}
	key := strings.Join(dirs, "\x00")
	h.mu.Lock()
	defer h.mu.Unlock()
	if c, ok := h.last[key]; ok {
		return c
	}
	found := h.tip.Hash.String()
	iter, err := h.repo.Log(&git.LogOptions{From: h.tip.Hash, PathFilter: func(p string) bool {
		for _, d := range dirs {
			if strings.HasPrefix(p, strings.Trim(d, "/")+"/") {
				return true
			}
		}
		return false
	}})
	if err == nil {
		err = iter.ForEach(func(c *object.Commit) error {
			found = c.Hash.String()
			return storer.ErrStop
		})
		iter.Close()
		if err != nil && !errors.Is(err, storer.ErrStop) {
			found = h.tip.Hash.String()
		}
	}
	h.last[key] = found
	return found
}

// Includes reports whether revision rev is commit or a later commit of
// the history (commit is one of its ancestors). An unknown rev is false.
func (h *CommitGraph) Includes(rev, commit string) bool {
	if h == nil || h.tip == nil || rev == "" || commit == "" {
		return false
	}
	if rev == commit {
		return true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	r, err1 := object.GetCommit(h.repo.Storer, plumbing.NewHash(rev))
	c, err2 := object.GetCommit(h.repo.Storer, plumbing.NewHash(commit))
	if err1 != nil || err2 != nil {
		return false
	}
	ok, err := c.IsAncestor(r)
	return err == nil && ok
}

// CommitInfo is one commit of a CommitGraph.
type CommitInfo struct {
	Commit  string    `json:"commit"`
	Author  string    `json:"author"`
	Time    time.Time `json:"time"`
	Message string    `json:"message"`
}

// Log returns up to n of the newest commits that changed a file under one
// of dirs, newest first.
func (h *CommitGraph) Log(dirs []string, n int) []CommitInfo {
	out := []CommitInfo{}
	if h == nil || h.tip == nil {
		return out
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	iter, err := h.repo.Log(&git.LogOptions{From: h.tip.Hash, PathFilter: func(p string) bool {
		for _, d := range dirs {
			if strings.HasPrefix(p, strings.Trim(d, "/")+"/") {
				return true
			}
		}
		return false
	}})
	if err != nil {
		return out
	}
	defer iter.Close()
	_ = iter.ForEach(func(c *object.Commit) error {
		out = append(out, CommitInfo{Commit: c.Hash.String(), Author: c.Author.Name, Time: c.Author.When.UTC(), Message: strings.TrimSpace(c.Message)})
		if len(out) >= n {
			return storer.ErrStop
		}
		return nil
	})
	return out
}
