package gitops

import (
	"context"
	"encoding/base64"
	"errors"
	"net/url"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/dmls-project/dmls/internal/repourl"
)

// Sentinel errors, to be tested with errors.Is.
var (
	// ErrAuth means the remote refused the credentials (or their absence) for this operation.
	// It is permanent: retrying with the same credentials cannot succeed.
	ErrAuth = errors.New("authentication or authorization failed")
	// ErrRejected means the remote refused the push for a reason other than a race, for
	// example a pre-receive hook or branch protection. It is permanent.
	ErrRejected = errors.New("push rejected by the remote")
	// ErrConflict means other writers kept moving the branch and every attempt lost the race.
	ErrConflict = errors.New("branch kept moving, retries exhausted")
	// ErrStale means the branch tip is not Request.ExpectTip: the change was
	// computed from a state that is gone, and must be computed again.
	ErrStale = errors.New("branch moved since the change was computed")
	// ErrNotFound means the repository does not exist or is hidden from these credentials.
	ErrNotFound = errors.New("repository not found")
	// ErrUnreachable means the git server or the repository could not be
	// reached: a refused connection, a name that does not resolve, a
	// timeout, a broken transport, or a local repository whose folder is
	// not there. Trying again later may succeed.
	ErrUnreachable = errors.New("git server unreachable")
	// ErrInvalidPath means a file path or managed prefix is unsafe or malformed.
	ErrInvalidPath = errors.New("invalid path")
	// ErrUnsafeTree means the repository holds something under a managed path that dmls will
	// not replace or read: a symlink, a submodule, or a file where a directory is expected.
	ErrUnsafeTree = errors.New("unsafe repository content")
	// ErrInvalidRequest means a request field other than a path is malformed.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrCredentials means the credential variables or the credentials file are malformed.
	ErrCredentials = errors.New("invalid git credentials")
)

// errRetry marks a push that lost a race and may succeed after a fresh fetch.
var errRetry = errors.New("remote branch moved")

// Error is a failed git operation against one repository. Its message never contains
// credentials: URLs are redacted and every known secret is replaced with "***".
type Error struct {
	// Op is the operation that failed: "fetch" or "push".
	Op string
	// Repo names the repository: the target's name, or its URL without secrets.
	Repo string
	// Kind is ErrAuth, ErrRejected, ErrConflict, ErrNotFound or ErrUnreachable, or nil for
	// other failures.
	Kind error
	// Detail is the underlying error's text (and any message from the remote), scrubbed.
	Detail string

	causes []error
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op + " " + e.Repo + ": ")
	if e.Kind != nil {
		b.WriteString(e.Kind.Error())
		if e.Detail != "" {
			b.WriteString(": ")
		}
	}
	b.WriteString(e.Detail)
	return b.String()
}

// Unwrap exposes Kind and the underlying error. The underlying error is kept only if its text
// held no secret; otherwise only the well-known sentinels it matched are kept, so that
// errors.Is keeps working without a caller being able to print the secret.
func (e *Error) Unwrap() []error {
	if e.Kind == nil {
		return e.causes
	}
	return append([]error{e.Kind}, e.causes...)
}

// safeSentinels are matched against an underlying error whose text had to be scrubbed.
var safeSentinels = []error{
	context.Canceled,
	context.DeadlineExceeded,
	transport.ErrAuthenticationRequired,
	transport.ErrAuthorizationFailed,
	transport.ErrRepositoryNotFound,
	transport.ErrInvalidAuthMethod,
}

// redactor removes secrets from text that may reach an error, a log or a terminal.
type redactor struct {
	secrets []string
}

func newRedactor(secrets ...string) *redactor {
	r := &redactor{}
	seen := map[string]bool{}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for _, v := range []string{s, url.QueryEscape(s), url.PathEscape(s), base64.StdEncoding.EncodeToString([]byte(s))} {
			if !seen[v] {
				seen[v] = true
				r.secrets = append(r.secrets, v)
			}
		}
	}
	// Replace longer secrets first so that a secret containing another is not half replaced.
	slices.SortStableFunc(r.secrets, func(a, b string) int { return len(b) - len(a) })
	return r
}

func (r *redactor) add(secrets ...string) {
	all := append(append([]string(nil), r.secrets...), secrets...)
	*r = *newRedactor(all...)
}

// scrub replaces every known secret with "***" and strips the credentials of every URL in s
// (repourl.Scrub): the user info of an HTTP URL, the password of an SSH one, and credential
// query parameters.
func (r *redactor) scrub(s string) string {
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, "***")
	}
	return repourl.Scrub(s)
}

// wrap turns err into an *Error for op on repo, scrubbed of secrets.
func (r *redactor) wrap(op, repo string, kind, err error) *Error {
	e := &Error{Op: op, Repo: repo, Kind: kind}
	if err == nil {
		return e
	}
	raw := err.Error()
	e.Detail = r.scrub(raw)
	if e.Detail == raw {
		e.causes = []error{err}
		return e
	}
	for _, s := range safeSentinels {
		if errors.Is(err, s) {
			e.causes = append(e.causes, s)
		}
	}
	return e
}
