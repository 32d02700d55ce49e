package gitops

import "time"

// SetBeforePush installs a callback that runs after each attempt's commit is made and before it
// is pushed, so that a test can move the branch exactly there.
func SetBeforePush(req *Request, f func(attempt int)) { req.beforePush = f }

// SetBackoff replaces the delay between attempts.
func SetBackoff(req *Request, f func(attempt int) time.Duration) { req.backoff = f }
