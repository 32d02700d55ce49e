package gitops

import (
	"context"
	"errors"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// Tip returns the commit the target's branch points to, or "" if the
// repository is empty or has no such branch. It lists the remote's refs
// (git ls-remote) and fetches nothing, so that a health probe can ask
// whether a repository is there as often as it likes. Its errors are
// *Error, classified as Publish's are, and scrubbed of credentials.
func Tip(ctx context.Context, target Target, auth Auth) (string, error) {
	r, err := openRemote(target, auth)
	if err != nil {
		return "", err
	}
	refs, err := r.origin.ListContext(ctx, &git.ListOptions{Auth: r.auth})
	switch {
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return "", nil
	case err != nil:
		return "", r.red.wrap("ls-remote", r.name, r.classify(err), err)
	}
	for _, ref := range refs {
		if ref.Name() == r.branch {
			return ref.Hash().String(), nil
		}
	}
	return "", nil
}
