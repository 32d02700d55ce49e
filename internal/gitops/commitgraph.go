package gitops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// CommitGraph is the commit history of a branch, fetched into memory, to ask
// which commit last changed some folders and whether a revision includes
// a commit. Its methods are safe for concurrent use.
type CommitGraph struct {
	mu   sync.Mutex
	repo *git.Repository
	tip  *object.Commit
	last map[string]string
}

// ReadHistory fetches the history of the target branch. An empty
// repository or a missing branch gives an empty CommitGraph.
func ReadHistory(ctx context.Context, target Target, auth Auth) (*CommitGraph, error) {
	r, err := openRemote(target, auth)
	if err != nil {
		return nil, err
	}
	err = r.origin.FetchContext(ctx, &git.FetchOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{config.RefSpec(fmt.Sprintf("+%s:%s", r.branch, r.tracking))},
		Auth:       r.auth,
		Tags:       git.NoTags,
	})
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
	case errors.Is(err, transport.ErrEmptyRemoteRepository), errors.Is(err, git.NoMatchingRefSpecError{}):
		return &CommitGraph{}, nil
	default:
		return nil, r.red.wrap("fetch", r.name, classify(err), err)
	}
	ref, err := r.repo.Storer.Reference(r.tracking)
	if err != nil {
		return &CommitGraph{}, nil
	}
	tip, err := object.GetCommit(r.repo.Storer, ref.Hash())
	if err != nil {
		return nil, fmt.Errorf("fetch %s: read commit %s: %w", r.name, ref.Hash(), err)
	}
	return &CommitGraph{repo: r.repo, tip: tip, last: map[string]string{}}, nil
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
	if h == nil || rev == "" || commit == "" {
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
