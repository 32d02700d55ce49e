package gitops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// Commit is one commit of a branch's history, as History returns it.
type Commit struct {
	Hash    string
	Time    time.Time
	Message string
}

// Trailers returns the "Key: value" lines of the commit message's last
// paragraph, in order.
func (c Commit) Trailers() []Trailer {
	msg := strings.TrimRight(c.Message, "\n ")
	i := strings.LastIndex(msg, "\n\n")
	if i < 0 {
		return nil
	}
	var out []Trailer
	for _, line := range strings.Split(msg[i+2:], "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok || !trailerKeyRE.MatchString(k) {
			return nil // not a trailer block
		}
		out = append(out, Trailer{Key: k, Value: v})
	}
	return out
}

// History returns the commits of the target's branch from its tip, newest
// first, following first parents, until (and without) the commit stop,
// max commits, or the first commit older than since. complete reports
// whether it reached stop, since or the root, so that nothing between
// them was left out. It fetches only max commits of history.
func History(ctx context.Context, target Target, auth Auth, stop string, max int, since time.Time) (commits []Commit, complete bool, err error) {
	if max <= 0 {
		return nil, false, fmt.Errorf("%w: max must be positive", ErrInvalidRequest)
	}
	r, err := openRemote(target, auth)
	if err != nil {
		return nil, false, err
	}
	if empty, err := r.fetchDepth(ctx, max); err != nil || empty {
		return nil, empty, err
	}
	ref, err := r.repo.Storer.Reference(r.tracking)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("history of %s: %w", r.name, err)
	}
	h := ref.Hash()
	for len(commits) < max {
		if h.String() == stop {
			return commits, true, nil
		}
		c, err := object.GetCommit(r.repo.Storer, h)
		if err != nil {
			// The shallow boundary: history goes on beyond what was fetched.
			return commits, false, nil
		}
		if c.Committer.When.Before(since) {
			return commits, true, nil
		}
		commits = append(commits, Commit{Hash: h.String(), Time: c.Committer.When, Message: c.Message})
		if len(c.ParentHashes) == 0 {
			return commits, true, nil
		}
		h = c.ParentHashes[0]
	}
	return commits, false, nil
}

// FolderVersion is the content of a folder at one commit.
type FolderVersion struct {
	Commit string
	// Files are the folder's regular files, by path relative to the repo
	// root; symlinks and submodules are left out.
	Files map[string][]byte
}

// FolderHistory returns the versions of folder on the target's branch,
// newest first, one per commit that changed it, looking back at most max
// commits along first parents. A commit where the folder is missing ends
// the walk.
func FolderHistory(ctx context.Context, target Target, auth Auth, folder string, max int) ([]FolderVersion, error) {
	if err := validatePrefix(folder); err != nil {
		return nil, err
	}
	r, err := openRemote(target, auth)
	if err != nil {
		return nil, err
	}
	if empty, err := r.fetchDepth(ctx, max); err != nil || empty {
		return nil, err
	}
	ref, err := r.repo.Storer.Reference(r.tracking)
	if err != nil {
		return nil, nil
	}
	var out []FolderVersion
	var last plumbing.Hash
	h := ref.Hash()
	for range max {
		c, err := object.GetCommit(r.repo.Storer, h)
		if err != nil {
			break // the shallow boundary
		}
		tree, err := c.Tree()
		if err != nil {
			break
		}
		sub, err := tree.Tree(folder)
		if err != nil {
			break // the folder is missing here
		}
		if sub.Hash != last {
			last = sub.Hash
			ed, err := newTreeEditor(r.repo.Storer, tree.Hash)
			if err != nil {
				return nil, err
			}
			d, err := ed.dir(components(folder), false)
			if err != nil || d == nil {
				break
			}
			found := map[string]fileEntry{}
			if err := ed.collectSkipping(d, folder, found, map[string]string{}); err != nil {
				return nil, err
			}
			files := map[string][]byte{}
			for p, e := range found {
				b, err := readBlob(r, e.hash)
				if err != nil {
					return nil, err
				}
				files[p] = b
			}
			out = append(out, FolderVersion{Commit: h.String(), Files: files})
		}
		if len(c.ParentHashes) == 0 {
			break
		}
		h = c.ParentHashes[0]
	}
	return out, nil
}

// fetchDepth fetches the last depth commits of the branch into its
// tracking ref. empty reports a repository or branch without commits.
func (r *remote) fetchDepth(ctx context.Context, depth int) (empty bool, err error) {
	spec := config.RefSpec(fmt.Sprintf("+%s:%s", r.branch, r.tracking))
	err = r.origin.FetchContext(ctx, &git.FetchOptions{
		RemoteName: remoteName, RefSpecs: []config.RefSpec{spec}, Auth: r.auth, Depth: depth, Tags: git.NoTags,
	})
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
		return false, nil
	case errors.Is(err, transport.ErrEmptyRemoteRepository), errors.Is(err, git.NoMatchingRefSpecError{}):
		return true, nil
	default:
		return false, r.red.wrap("fetch", r.name, r.classify(err), err)
	}
}
