package gitops

import (
	"context"
	"time"
)

// SetBeforePush installs a callback that runs after each attempt's commit is made and before it
// is pushed, so that a test can move the branch exactly there.
func SetBeforePush(req *Request, f func(attempt int)) { req.beforePush = f }

// SetBackoff replaces the delay between attempts.
func SetBackoff(req *Request, f func(attempt int) time.Duration) { req.backoff = f }

// ReadTree (for tests) returns the files under prefix (RootPrefix or "" for the whole repository) at the
// tip of the target branch, keyed by their path from the repository root, and the tip's commit
// SHA. The keys can be passed back to Publish as Files with prefix as the managed path.
//
// An empty repository, a missing branch and a missing prefix all give an empty map; only the
// first two give an empty SHA. A symlink or submodule under prefix is an error (ErrUnsafeTree)
// rather than being skipped, so that callers never see a partial tree.
func ReadTree(ctx context.Context, target Target, auth Auth, prefix string) (map[string][]byte, string, error) {
	files, sha, _, err := readTree(ctx, target, auth, prefix, false)
	return files, sha, err
}
