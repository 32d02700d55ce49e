package gitops

import (
	"context"
	"fmt"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ReadTreeSkipping returns the files under prefix (RootPrefix or "" for
// the whole repository) at the tip of the target branch, keyed by their
// path from the repository root, and the tip's commit SHA; the keys can be
// passed back to Publish as Files with prefix as the managed path. An
// empty repository, a missing branch and a missing prefix all give an
// empty map; only the first two give an empty SHA. It leaves out symlinks
// and submodules and returns them (path → what it is), so that a caller
// can refuse only the part of the tree that holds one.
func ReadTreeSkipping(ctx context.Context, target Target, auth Auth, prefix string) (files map[string][]byte, sha string, unsafe map[string]string, err error) {
	return readTree(ctx, target, auth, prefix, true)
}

func readTree(ctx context.Context, target Target, auth Auth, prefix string, skip bool) (map[string][]byte, string, map[string]string, error) {
	var unsafe map[string]string
	if skip {
		unsafe = map[string]string{}
	}
	files, sha, err := readTreeInto(ctx, target, auth, prefix, unsafe)
	return files, sha, unsafe, err
}

func readTreeInto(ctx context.Context, target Target, auth Auth, prefix string, unsafe map[string]string) (map[string][]byte, string, error) {
	if prefix == "" {
		prefix = RootPrefix
	}
	if err := validatePrefix(prefix); err != nil {
		return nil, "", err
	}
	r, err := openRemote(target, auth)
	if err != nil {
		return nil, "", err
	}
	tip, err := r.fetch(ctx)
	if err != nil {
		return nil, "", err
	}
	return readTip(r, tip, prefix, unsafe)
}

// readTip reads the files under prefix at tip (nil: an empty repository)
// from r's storage.
func readTip(r *remote, tip *object.Commit, prefix string, unsafe map[string]string) (map[string][]byte, string, error) {
	files := map[string][]byte{}
	if tip == nil {
		return files, "", nil
	}
	ed, err := newTreeEditor(r.repo.Storer, tip.TreeHash)
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", r.name, err)
	}
	d, err := ed.dir(components(prefix), false)
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", r.name, err)
	}
	if d == nil {
		return files, tip.Hash.String(), nil
	}
	found := map[string]fileEntry{}
	base := prefix
	if base == RootPrefix {
		base = ""
	}
	if err := ed.collectSkipping(d, base, found, unsafe); err != nil {
		return nil, "", fmt.Errorf("read %s: %w", r.name, err)
	}
	for p, e := range found {
		b, err := readBlob(r, e.hash)
		if err != nil {
			return nil, "", fmt.Errorf("read %s: %s: %w", r.name, p, err)
		}
		files[p] = b
	}
	return files, tip.Hash.String(), nil
}

func readBlob(r *remote, h plumbing.Hash) ([]byte, error) {
	blob, err := object.GetBlob(r.repo.Storer, h)
	if err != nil {
		return nil, err
	}
	rd, err := blob.Reader()
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	return io.ReadAll(rd)
}
