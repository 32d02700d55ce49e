package gitops

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// Tip returns the commit SHA at the tip of the target branch without
// fetching any object (a git ls-remote). An empty repository or a missing
// branch gives "".
func Tip(ctx context.Context, target Target, auth Auth) (string, error) {
	r, err := openRemote(target, auth)
	if err != nil {
		return "", err
	}
	refs, err := r.origin.ListContext(ctx, &git.ListOptions{Auth: r.auth})
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("list the refs of %s: %s", r.name, r.red.scrub(err.Error()))
	}
	for _, ref := range refs {
		if ref.Name() == r.branch {
			return ref.Hash().String(), nil
		}
	}
	return "", nil
}
