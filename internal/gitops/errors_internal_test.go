package gitops

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"
)

func TestRedactorWrap(t *testing.T) {
	const secret = "s3cr3t-tok"
	r := newRedactor(secret)
	tests := []struct {
		name       string
		err        error
		kind       error
		wantIs     []error
		wantDetail string
		keepsCause bool
	}{
		{
			name:       "secret in text",
			err:        fmt.Errorf("get https://u:%s@host/x: %w", secret, context.DeadlineExceeded),
			wantIs:     []error{context.DeadlineExceeded},
			wantDetail: "get https://host/x: context deadline exceeded",
		},
		{
			name:       "secret next to a sentinel",
			err:        fmt.Errorf("header token=%s: %w", "s3cr3t-tok", transport.ErrAuthenticationRequired),
			kind:       ErrAuth,
			wantIs:     []error{ErrAuth, transport.ErrAuthenticationRequired},
			wantDetail: "header token=***: authentication required",
		},
		{
			name:       "token as lone URL user",
			err:        errors.New("dial https://ghp_zzz@host/x failed"),
			wantDetail: "dial https://host/x failed",
		},
		{
			// Issue 18, section 1: the token as the user name, next to a
			// password that is no secret, was kept.
			name:       "token as user with a password",
			err:        errors.New(`Get "http://ghp_zzz:x-oauth-basic@host/x.git/info/refs?service=git-upload-pack": EOF`),
			wantDetail: `Get "http://host/x.git/info/refs?service=git-upload-pack": EOF`,
		},
		{
			name:       "clean error is kept",
			err:        fmt.Errorf("boom: %w", transport.ErrRepositoryNotFound),
			kind:       ErrNotFound,
			wantIs:     []error{ErrNotFound, transport.ErrRepositoryNotFound},
			wantDetail: "boom: repository not found",
			keepsCause: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := r.wrap("fetch", "repo", tt.kind, tt.err)
			if e.Detail != tt.wantDetail {
				t.Fatalf("detail = %q, want %q", e.Detail, tt.wantDetail)
			}
			for _, w := range tt.wantIs {
				if !errors.Is(e, w) {
					t.Fatalf("errors.Is(%v, %v) = false", e, w)
				}
			}
			if got := errors.Is(e, tt.err); got != tt.keepsCause {
				t.Fatalf("cause kept = %v, want %v", got, tt.keepsCause)
			}
			for _, c := range e.Unwrap() {
				if strings.Contains(c.Error(), secret) {
					t.Fatalf("unwrapped error leaks the secret: %v", c)
				}
			}
		})
	}
}

func TestClassifyPush(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want error
	}{
		{name: "go-git lease check", err: errors.New("non-fast-forward update: refs/heads/main"), want: errRetry},
		{name: "server non-fast-forward", err: errors.New("command error on refs/heads/main: non-fast-forward"), want: errRetry},
		{name: "server ref moved", err: errors.New("command error on refs/heads/main: failed to update ref"), want: errRetry},
		{name: "server lock", err: errors.New("command error on refs/heads/main: cannot lock ref 'refs/heads/main'"), want: errRetry},
		{name: "hook", err: errors.New("command error on refs/heads/main: pre-receive hook declined"), want: ErrRejected},
		{name: "protected branch", err: errors.New("command error on refs/heads/main: protected branch hook declined"), want: ErrRejected},
		{name: "unpack", err: errors.New("unpack error: index-pack abnormal exit"), want: ErrRejected},
		{name: "401", err: fmt.Errorf("%w: x", transport.ErrAuthenticationRequired), want: ErrAuth},
		{name: "403", err: fmt.Errorf("%w: x", transport.ErrAuthorizationFailed), want: ErrAuth},
		{name: "ssh", err: errors.New("ssh: handshake failed: ssh: unable to authenticate, attempted methods [none publickey]"), want: ErrAuth},
		{name: "404", err: fmt.Errorf("%w: x", transport.ErrRepositoryNotFound), want: ErrNotFound},
		// Issue 8, section 9: git that cannot be reached is ErrUnreachable
		// (503 with Retry-After in the API), over any transport.
		{name: "refused", err: errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), want: ErrUnreachable},
		{name: "refused, typed", err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, want: ErrUnreachable},
		{name: "dns", err: fmt.Errorf("Get x: %w", &net.DNSError{Err: "no such host", Name: "git.invalid"}), want: ErrUnreachable},
		{name: "timeout", err: errors.New("dial tcp 10.0.0.1:443: i/o timeout"), want: ErrUnreachable},
		{name: "ssh eof", err: errors.New("ssh: handshake failed: EOF"), want: ErrUnreachable},
		{name: "reset", err: errors.New("read tcp: connection reset by peer"), want: ErrUnreachable},
		{name: "other", err: errors.New("object not found"), want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classifyPush(tt.err); got != tt.want {
				t.Fatalf("classifyPush(%q) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// TestClassifyLocal: a local repository whose folder is not there is
// unreachable (a volume not mounted), not missing.
func TestClassifyLocal(t *testing.T) {
	local, other := &remote{local: true}, &remote{}
	notFound := fmt.Errorf("%w: x", transport.ErrRepositoryNotFound)
	missing := &fs.PathError{Op: "open", Path: "/nowhere", Err: fs.ErrNotExist}
	for _, tt := range []struct {
		name string
		r    *remote
		err  error
		want error
	}{
		{"local not found", local, notFound, ErrUnreachable},
		{"local missing path", local, missing, ErrUnreachable},
		{"remote not found", other, notFound, ErrNotFound},
		{"local auth", local, transport.ErrAuthorizationFailed, ErrAuth},
	} {
		if got := tt.r.classify(tt.err); got != tt.want {
			t.Errorf("%s: classify = %v, want %v", tt.name, got, tt.want)
		}
	}
}
