package gitops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"path/filepath"
	"strings"
	"syscall"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/dmls-project/dmls/internal/repourl"
)

// DefaultBranch is the branch used when a Target names none.
const DefaultBranch = "main"

// fetchDepth is 1: publishing needs only the tip's tree, and the push is guarded by a lease on
// the tip, so history never has to be walked. A repository that gained thousands of commits
// costs the same to publish to as a new one.
const fetchDepth = 1

const remoteName = "origin"

// Target is one config repository and the branch that dmls publishes to.
type Target struct {
	// Name labels the repository in results and errors; empty means the redacted URL.
	Name string
	// URL is https://, http://, ssh://, user@host:path, file://, or a path to a bare repository.
	URL string
	// Branch is the branch to publish to or read from; empty means DefaultBranch.
	Branch string
}

// remote is one repository held in memory: no worktree and nothing on the local disk.
type remote struct {
	name     string
	url      string
	branch   plumbing.ReferenceName
	tracking plumbing.ReferenceName
	auth     transport.AuthMethod
	red      *redactor
	repo     *git.Repository
	origin   *git.Remote
	// local is a file:// (or plain path) repository.
	local bool
	// receiveCaps are the capabilities of the remote's receive-pack, from
	// the last push that went in (pushNewWith), or nil.
	receiveCaps *capability.List
}

func openRemote(target Target, auth Auth) (*remote, error) {
	red := auth.redactor()
	u, ep, err := parseTarget(target.URL, red)
	if err != nil {
		return nil, err
	}
	switch {
	case ep.Password != "":
		red.add(ep.Password)
	case ep.User != "" && strings.HasPrefix(ep.Protocol, "http"):
		red.add(ep.User) // a lone user in an HTTP URL is usually a token
	}
	name := target.Name
	if name == "" {
		name = repourl.Public(u)
	}
	branch := target.Branch
	if branch == "" {
		branch = DefaultBranch
	}
	ref := plumbing.NewBranchReferenceName(branch)
	if err := ref.Validate(); err != nil || strings.ContainsAny(branch, "*?[") {
		return nil, fmt.Errorf("%w: target %s: invalid branch name %q", ErrInvalidRequest, name, branch)
	}
	method, err := auth.method(ep)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", name, err)
	}
	repo, err := git.Init(memory.NewStorage(), nil)
	if err != nil {
		return nil, fmt.Errorf("init in-memory repository: %w", err)
	}
	origin, err := repo.CreateRemote(&config.RemoteConfig{Name: remoteName, URLs: []string{u}})
	if err != nil {
		return nil, fmt.Errorf("target %s: %s", name, red.scrub(err.Error()))
	}
	return &remote{
		local:    ep.Protocol == "file",
		name:     name,
		url:      u,
		branch:   ref,
		tracking: plumbing.NewRemoteReferenceName(remoteName, branch),
		auth:     method,
		red:      red,
		repo:     repo,
		origin:   origin,
	}, nil
}

// parseTarget checks that raw is a URL of a supported kind and makes plain paths absolute.
func parseTarget(raw string, red *redactor) (string, *transport.Endpoint, error) {
	if raw == "" {
		return "", nil, fmt.Errorf("%w: target URL is empty", ErrInvalidRequest)
	}
	ep, err := transport.NewEndpoint(raw)
	if err != nil {
		return "", nil, fmt.Errorf("%w: target URL %s: %s", ErrInvalidRequest, repourl.Public(raw), red.scrub(err.Error()))
	}
	switch ep.Protocol {
	case "http", "https", "ssh":
		return raw, ep, nil
	case "file":
		if strings.Contains(raw, "://") {
			return raw, ep, nil
		}
		abs, err := filepath.Abs(raw)
		if err != nil {
			return "", nil, fmt.Errorf("%w: target path %s: %w", ErrInvalidRequest, raw, err)
		}
		ep, err = transport.NewEndpoint(abs)
		if err != nil {
			return "", nil, fmt.Errorf("%w: target path %s: %w", ErrInvalidRequest, raw, err)
		}
		return abs, ep, nil
	}
	return "", nil, fmt.Errorf("%w: target URL %s: unsupported scheme %q (want https, http, ssh, file, or a path)",
		ErrInvalidRequest, repourl.Public(raw), ep.Protocol)
}

// fetch brings the branch tip into memory and returns it, or nil if the repository is empty or
// has no such branch. Fetching again after a lost race transfers only what is new.
func (r *remote) fetch(ctx context.Context) (*object.Commit, error) {
	spec := config.RefSpec(fmt.Sprintf("+%s:%s", r.branch, r.tracking))
	err := r.origin.FetchContext(ctx, &git.FetchOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{spec},
		Auth:       r.auth,
		Depth:      fetchDepth,
		Tags:       git.NoTags,
	})
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
	case errors.Is(err, transport.ErrEmptyRemoteRepository), errors.Is(err, git.NoMatchingRefSpecError{}):
		// The branch may also have been deleted since an earlier attempt.
		if err := r.repo.Storer.RemoveReference(r.tracking); err != nil {
			return nil, fmt.Errorf("fetch %s: %w", r.name, err)
		}
		return nil, nil
	default:
		return nil, r.red.wrap("fetch", r.name, r.classify(err), err)
	}
	c, err := r.tip()
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", r.name, err)
	}
	return c, nil
}

// tip returns the branch tip r last fetched or pushed, or nil when it has
// none (nothing fetched yet, or an empty branch).
func (r *remote) tip() (*object.Commit, error) {
	ref, err := r.repo.Storer.Reference(r.tracking)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c, err := object.GetCommit(r.repo.Storer, ref.Hash())
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", ref.Hash(), err)
	}
	return c, nil
}

// push sends commit to the branch, on condition that the branch still points to parent (zero:
// that the branch does not exist). It returns go-git's error unwrapped, for classifyPush, and
// what the remote said on its progress channel (hook output, for example).
func (r *remote) push(ctx context.Context, commit, parent plumbing.Hash) (string, error) {
	if err := r.repo.Storer.SetReference(plumbing.NewHashReference(r.branch, commit)); err != nil {
		return "", err
	}
	progress := &limitedBuffer{max: 4 << 10}
	opts := &git.PushOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{config.RefSpec(fmt.Sprintf("%s:%s", r.branch, r.branch))},
		Auth:       r.auth,
		Progress:   progress,
	}
	if !parent.IsZero() {
		// A lease instead of go-git's fast-forward check: that check walks history, which the
		// shallow fetch does not have. The server checks the same old value atomically.
		opts.ForceWithLease = &git.ForceWithLease{RefName: r.branch, Hash: parent}
	}
	err := r.origin.PushContext(ctx, opts)
	if errors.Is(err, git.NoErrAlreadyUpToDate) {
		err = nil
	}
	return remoteMessages(progress.String()), err
}

// classify maps a transport error to a sentinel, or nil. A local
// repository that is not there is unreachable, not missing: its volume is
// not mounted, or not yet, and trying again may help.
func (r *remote) classify(err error) error {
	k := classify(err)
	if r.local && (k == ErrNotFound || k == nil && isMissingPath(err)) {
		return ErrUnreachable
	}
	return k
}

// isMissingPath reports whether err says a local repository's folder is
// not there.
func isMissingPath(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || strings.Contains(strings.ToLower(err.Error()), "no such file or directory")
}

// unreachableMarkers are the texts of errors that never reached the git
// server: refused or reset connections, names that do not resolve,
// timeouts, and transports that broke off (an SSH handshake, an EOF).
var unreachableMarkers = []string{
	"connection refused", "connection reset", "no such host", "i/o timeout", "network is unreachable",
	"host is unreachable", "no route to host", "handshake failed", "broken pipe", "unexpected eof",
	"server misbehaving", "tls handshake timeout", "use of closed network connection",
}

// classify maps a transport error to a sentinel, or nil.
func classify(err error) error {
	var opErr *net.OpError
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &opErr), errors.As(err, &dnsErr), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, io.ErrUnexpectedEOF):
		return ErrUnreachable
	}
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired),
		errors.Is(err, transport.ErrAuthorizationFailed),
		errors.Is(err, transport.ErrInvalidAuthMethod):
		return ErrAuth
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return ErrNotFound
	}
	msg := strings.ToLower(err.Error())
	if strings.Contains(msg, "unable to authenticate") || strings.Contains(msg, "permission denied (publickey") {
		return ErrAuth
	}
	for _, m := range unreachableMarkers {
		if strings.Contains(msg, m) {
			return ErrUnreachable
		}
	}
	return nil
}

// Markers of a push that lost a race: go-git's own check ("non-fast-forward update"), and
// receive-pack's answers when the ref moved under it.
var raceMarkers = []string{"non-fast-forward", "fetch first", "stale info", "failed to update ref", "cannot lock ref", "failed to lock"}

// classifyPush returns errRetry for a lost race, ErrRejected for a refusal by the remote, the
// sentinel of classify, or nil for anything else (network errors, for example), which is
// returned to the caller without a retry.
func classifyPush(err error) error {
	if k := classify(err); k != nil {
		return k
	}
	msg := err.Error()
	for _, m := range raceMarkers {
		if strings.Contains(msg, m) {
			return errRetry
		}
	}
	if strings.HasPrefix(msg, "command error on") || strings.HasPrefix(msg, "unpack error") || strings.Contains(msg, "declined") {
		return ErrRejected
	}
	return nil
}

// remoteMessages turns sideband progress into one line of what the remote said, dropping
// git's own progress counters.
func remoteMessages(s string) string {
	var lines []string
	for _, l := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
		l = strings.TrimSpace(l)
		if l == "" || strings.Contains(l, "% (") || strings.HasPrefix(l, "Resolving deltas") {
			continue
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "; ")
}

// limitedBuffer keeps the first max bytes written to it and discards the rest.
type limitedBuffer struct {
	buf []byte
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string { return string(b.buf) }
