package gitops

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// DefaultMaxAttempts bounds how often Publish fetches and pushes when other writers keep
// moving the branch.
const DefaultMaxAttempts = 5

// DefaultMessage is the commit message used when a Request has none.
const DefaultMessage = "dmls: publish generated configuration"

// NoTip is the ExpectTip of an empty repository or a missing branch.
var NoTip = plumbing.ZeroHash.String()

// Default author of commits when a Request names none.
const (
	DefaultAuthorName  = "dmls"
	DefaultAuthorEmail = "dmls@localhost"
)

// Trailer is a "Key: value" line appended to the commit message, such as
// Dmls-Source-Commit: <sha>, so that a config commit can be traced to its source.
type Trailer struct {
	Key   string
	Value string
}

// Signature is the author and committer of a commit.
type Signature struct {
	Name  string
	Email string
}

// Request is one generated tree to publish into one repository.
type Request struct {
	// Target is the repository and branch.
	Target Target
	// Files is the complete desired content of the managed paths: slash-separated paths
	// relative to the repository root, each under one of Managed.
	Files map[string][]byte
	// Managed are directories owned by dmls, or RootPrefix for the whole repository. Every file
	// under them that is not in Files is deleted; files elsewhere are left alone.
	Managed []string
	// Message is the commit message; Trailers are appended to it. Empty means DefaultMessage.
	Message string
	// Trailers are appended to Message as a trailer block.
	Trailers []Trailer
	// Describe, when set, writes the message from the change about to be
	// committed (Added, Modified, Deleted), instead of Message.
	Describe func(Result) string
	// Author is the commit's author and committer; empty fields take the defaults.
	Author Signature
	// DryRun computes the changes against the remote tip and pushes nothing.
	DryRun bool
	// Auth holds the credentials for Target.
	Auth Auth
	// MaxAttempts bounds fetch-and-push rounds against concurrent writers; 0 means
	// DefaultMaxAttempts.
	MaxAttempts int
	// ExpectTip, when set, makes the publish a compare-and-swap: it commits only onto
	// this commit, and fails with ErrStale, without retrying, if the branch tip is
	// another one (also after losing a push race). NoTip expects an empty repository or
	// a missing branch. Use it for changes computed from a read of the branch, which
	// re-applying onto a newer tip could silently undo.
	ExpectTip string

	beforePush func(attempt int)               // test seam: runs after the commit is made, before it is pushed
	backoff    func(attempt int) time.Duration // test seam: delay after a lost race
}

// Result is what Publish did.
type Result struct {
	// Repo is the target's name, or its redacted URL.
	Repo string
	// Commit is the branch tip after publishing. Without a change, or with DryRun, it is the
	// tip that was compared against: empty for an empty repository or a new branch.
	Commit string
	// Changed reports whether the tree differs from the remote tip: a commit was pushed or,
	// with DryRun, would have been.
	Changed bool
	// Added, Modified and Deleted are sorted repository paths, relative to the last attempt's tip.
	Added, Modified, Deleted []string
	// Attempts counts fetch-and-push rounds, 1 when no other writer interfered.
	Attempts int
}

// Publish makes the managed paths of the target branch hold exactly req.Files, in one commit
// on top of the current tip, and pushes it. If the tree would not change, it commits nothing.
//
// A push that loses a race against another writer is retried: Publish fetches the new tip,
// re-applies Files onto it (which may leave nothing to commit) and pushes again, at most
// MaxAttempts times with jittered exponential backoff, then fails with ErrConflict. Refusals
// by the remote (ErrRejected) and credential failures (ErrAuth) are returned at once.
//
// Nothing is written to the local disk: the repository is held in memory, fetched at depth 1.
func Publish(ctx context.Context, req Request) (Result, error) {
	if err := req.validate(); err != nil {
		return Result{}, err
	}
	r, err := openRemote(req.Target, req.Auth)
	if err != nil {
		return Result{}, err
	}
	return publishOn(ctx, r, req, r.push, applyFiles, false)
}

// applyFunc makes the tree of the managed paths holding files on top of the tree root.
type applyFunc func(s storer.EncodedObjectStorer, root plumbing.Hash, files map[string][]byte, managed []string) (change, error)

// pushFunc pushes commit onto the branch on condition that it is at parent.
type pushFunc func(ctx context.Context, commit, parent plumbing.Hash) (string, error)

// publishOn is Publish on the repository r, pushing with push.
//
// With optimistic, the first attempt starts from the tip r last fetched
// or pushed, without asking the remote, when it has one (and ExpectTip,
// if set, is that tip): the push's lease, which the remote checks
// atomically, is what keeps a stale tip from winning, and a push that
// loses goes on as any lost race does, from a fetch. A change that turns
// out empty on that tip is compared again with a fetched one, so that
// what others changed in the managed paths is still put back, and a push
// that the remote refuses is made again on a fetched tip before the
// refusal counts (the tip known may be gone from a rewritten history).
// A process that publishes the same branch again and again (Repo) thus
// makes one request per publish rather than three (the fetch's and the
// push's advertisements, and the push).
func publishOn(ctx context.Context, r *remote, req Request, push pushFunc, apply applyFunc, optimistic bool) (Result, error) {
	maxAttempts := req.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = DefaultMaxAttempts
	}
	backoff := req.backoff
	if backoff == nil {
		backoff = defaultBackoff
	}
	res := Result{Repo: r.name}
	for attempt := 1; ; attempt++ {
		res.Attempts = attempt
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("publish %s: %w", r.name, err)
		}
		var parent *object.Commit
		known := optimistic && attempt == 1 && !req.DryRun
		if known {
			parent, _ = r.tip() // a tip that cannot be read is fetched
			known = parent != nil && (req.ExpectTip == "" || req.ExpectTip == parent.Hash.String())
		}
		if !known {
			var err error
			if parent, err = r.fetch(ctx); err != nil {
				return res, err
			}
		}
		var parentHash, parentTree plumbing.Hash
		if parent != nil {
			parentHash, parentTree = parent.Hash, parent.TreeHash
			res.Commit = parentHash.String()
		} else {
			res.Commit = ""
		}
		if req.ExpectTip != "" && parentHash.String() != req.ExpectTip {
			return res, fmt.Errorf("publish %s: tip is %s, want %s: %w", r.name, parentHash, req.ExpectTip, ErrStale)
		}
		ch, err := apply(r.repo.Storer, parentTree, req.Files, req.Managed)
		if err != nil {
			return res, fmt.Errorf("publish %s: %w", r.name, err)
		}
		// Without a parent, only a non-empty tree is worth a first commit.
		res.Changed = ch.tree != parentTree && (parent != nil || len(ch.added) > 0)
		res.Added, res.Modified, res.Deleted = ch.added, ch.modified, ch.deleted
		if !res.Changed && known {
			// Nothing to push on the tip known: the remote's may differ.
			optimistic = false
			attempt--
			continue
		}
		if !res.Changed || req.DryRun {
			return res, nil
		}
		msg := req.Message
		if req.Describe != nil {
			msg = req.Describe(res)
		}
		commit, err := writeCommit(r.repo.Storer, ch.tree, parentHash, req.commitMessage(msg), req.Author)
		if err != nil {
			return res, fmt.Errorf("publish %s: %w", r.name, err)
		}
		if req.beforePush != nil {
			req.beforePush(attempt)
		}
		said, err := push(ctx, commit, parentHash)
		if err == nil {
			res.Commit = commit.String()
			return res, nil
		}
		// Classify before adding what the remote said: a hook's message may contain anything.
		kind := classifyPush(err)
		if known && kind == ErrRejected {
			// The tip known may be gone from the remote (a history
			// rewritten and pruned: "missing necessary objects"): the
			// refusal is the remote's only once made on its own tip.
			optimistic = false
			attempt--
			continue
		}
		if said != "" {
			err = fmt.Errorf("%w (remote: %s)", err, said)
		}
		if kind != errRetry {
			return res, r.red.wrap("push", r.name, kind, err)
		}
		if attempt >= maxAttempts {
			return res, r.red.wrap("push", r.name, ErrConflict, fmt.Errorf("%d attempts: %w", attempt, err))
		}
		t := time.NewTimer(backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return res, fmt.Errorf("publish %s: %w", r.name, ctx.Err())
		case <-t.C:
		}
	}
}

// defaultBackoff waits about 100ms, 200ms, 400ms... (at most 5s), each ±50% at random so that
// writers that collided once do not collide again in step.
func defaultBackoff(attempt int) time.Duration {
	d := min(100*time.Millisecond<<(attempt-1), 5*time.Second)
	return d/2 + rand.N(d)
}

// change is the outcome of applying Files onto a tree.
type change struct {
	tree                     plumbing.Hash
	added, modified, deleted []string
}

// applyFiles replaces the managed paths of the tree root (zero: empty) with files and stores
// the new tree. The lists are sorted.
func applyFiles(s storer.EncodedObjectStorer, root plumbing.Hash, files map[string][]byte, managed []string) (change, error) {
	ed, err := newTreeEditor(s, root)
	if err != nil {
		return change{}, err
	}
	old := map[string]fileEntry{}
	for _, m := range managed {
		removed, err := ed.removeAll(m)
		if err != nil {
			return change{}, err
		}
		for p, e := range removed {
			old[p] = e
		}
	}
	var c change
	for _, p := range slices.Sorted(maps.Keys(files)) {
		h, err := ed.put(p, files[p])
		if err != nil {
			return change{}, err
		}
		prev, existed := old[p]
		switch {
		case !existed:
			c.added = append(c.added, p)
		case prev.hash != h || prev.mode != filemode.Regular:
			c.modified = append(c.modified, p)
		}
	}
	for p := range old {
		if _, ok := files[p]; !ok {
			c.deleted = append(c.deleted, p)
		}
	}
	slices.Sort(c.deleted)
	if c.tree, err = ed.write(); err != nil {
		return change{}, err
	}
	return c, nil
}

func writeCommit(s storer.EncodedObjectStorer, tree, parent plumbing.Hash, msg string, who Signature) (plumbing.Hash, error) {
	if who.Name == "" {
		who.Name = DefaultAuthorName
	}
	if who.Email == "" {
		who.Email = DefaultAuthorEmail
	}
	sig := object.Signature{Name: who.Name, Email: who.Email, When: time.Now().Truncate(time.Second)}
	c := &object.Commit{Author: sig, Committer: sig, Message: msg, TreeHash: tree}
	if !parent.IsZero() {
		c.ParentHashes = []plumbing.Hash{parent}
	}
	obj := s.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("encode commit: %w", err)
	}
	h, err := s.SetEncodedObject(obj)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("store commit: %w", err)
	}
	return h, nil
}

// commitMessage is msg with the trailer block appended after a blank line, where
// git interpret-trailers and git log --format=%(trailers) find it.
func (req *Request) commitMessage(msg string) string {
	var b strings.Builder
	msg = strings.TrimRight(msg, "\n ")
	if msg == "" {
		msg = DefaultMessage
	}
	b.WriteString(msg + "\n")
	if len(req.Trailers) > 0 {
		b.WriteString("\n")
		for _, t := range req.Trailers {
			b.WriteString(t.Key + ": " + t.Value + "\n")
		}
	}
	return b.String()
}

var trailerKeyRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]*$`)

// validate checks everything that does not need the repository, so that a bad request fails
// before any network traffic.
func (req *Request) validate() error {
	if len(req.Managed) == 0 {
		return fmt.Errorf("%w: no managed paths: Publish deletes only under Managed, so it needs at least one (or %q)", ErrInvalidRequest, RootPrefix)
	}
	for _, m := range req.Managed {
		if err := validatePrefix(m); err != nil {
			return err
		}
	}
	for p := range req.Files {
		if err := ValidatePath(p); err != nil {
			return err
		}
		if !slices.ContainsFunc(req.Managed, func(m string) bool { return underPrefix(p, m) }) {
			return fmt.Errorf("%w %q: not under any managed path %q", ErrInvalidPath, p, req.Managed)
		}
		// A file cannot also be a directory of another file.
		for dir := p; ; {
			i := strings.LastIndexByte(dir, '/')
			if i < 0 {
				break
			}
			dir = dir[:i]
			if _, ok := req.Files[dir]; ok {
				return fmt.Errorf("%w %q: %q is also a file", ErrInvalidPath, p, dir)
			}
		}
	}
	for _, t := range req.Trailers {
		if !trailerKeyRE.MatchString(t.Key) {
			return fmt.Errorf("%w: trailer key %q: want letters, digits and '-'", ErrInvalidRequest, t.Key)
		}
		if strings.TrimSpace(t.Value) == "" || strings.ContainsAny(t.Value, "\r\n") {
			return fmt.Errorf("%w: trailer %s: value must be one non-empty line", ErrInvalidRequest, t.Key)
		}
	}
	for _, f := range []string{req.Author.Name, req.Author.Email} {
		if strings.ContainsAny(f, "<>\r\n\x00") {
			return fmt.Errorf("%w: author %q: must not contain '<', '>' or line breaks", ErrInvalidRequest, f)
		}
	}
	if req.MaxAttempts < 0 {
		return fmt.Errorf("%w: MaxAttempts %d is negative", ErrInvalidRequest, req.MaxAttempts)
	}
	return nil
}
