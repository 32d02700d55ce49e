// Package gittest serves real git repositories over HTTP and SSH, with authentication, for tests.
//
// The HTTP server is the system's git-http-backend behind net/http/cgi, and the SSH server runs
// git-upload-pack and git-receive-pack, so clients (go-git, the git CLI, Argo CD's repo-server)
// talk to the same implementation they meet in production, hooks included. Repositories live
// on disk under one root and can be inspected with the git CLI.
package gittest

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// BackendPath is where Debian's git package installs git-http-backend.
const BackendPath = "/usr/lib/git-core/git-http-backend"

// Default credentials that a server started without WithBasicAuth or WithoutAuth requires.
const (
	DefaultUser     = "gittest"
	DefaultPassword = "gittest-password-8c1f"
)

// ErrNoBackend is returned when git-http-backend is not installed.
var ErrNoBackend = errors.New("git-http-backend not found (install the git package)")

// Option configures a Server.
type Option func(*config)

type config struct {
	user, password string
	auth           bool
	log            io.Writer
	backend        string
	latency        time.Duration
}

// WithBasicAuth makes the server require these credentials on every request.
func WithBasicAuth(user, password string) Option {
	return func(c *config) { c.user, c.password, c.auth = user, password, true }
}

// WithoutAuth makes the server accept anonymous reads and pushes.
func WithoutAuth() Option {
	return func(c *config) { c.user, c.password, c.auth = "", "", false }
}

// WithLog sends git-http-backend's stderr and the server's own errors to w.
func WithLog(w io.Writer) Option {
	return func(c *config) { c.log = w }
}

// WithBackend overrides the path of git-http-backend.
func WithBackend(path string) Option {
	return func(c *config) { c.backend = path }
}

// WithLatency makes the server wait d before it serves each request: the
// round trip to a git host across a network, for benchmarks.
func WithLatency(d time.Duration) Option {
	return func(c *config) { c.latency = d }
}

// Server is a running git HTTP server. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL, http://127.0.0.1:PORT, without a trailing slash.
	URL string

	root    string // GIT_PROJECT_ROOT
	home    string // HOME and global git config for the backend and the CLI helpers
	cfg     config
	http    *httptest.Server
	cleanup func() error

	mu      sync.Mutex
	pushes  map[string]int // receive-pack POSTs per repo name
	fetches map[string]int // upload-pack POSTs per repo name
}

// Start serves a new, empty project root on 127.0.0.1 until the test ends.
// Without options the server requires DefaultUser and DefaultPassword.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	opts = append([]Option{WithLog(testLogWriter{t})}, opts...)
	s, err := Listen("127.0.0.1:0", t.TempDir(), opts...)
	if err != nil {
		t.Fatalf("gittest: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("gittest: close: %v", err)
		}
	})
	return s
}

// Listen serves the repositories under root on addr ("127.0.0.1:0" picks a free port) until
// Close. An empty root means a new temporary directory that Close removes. Use it outside
// `go test`, for example to give a local Argo CD repo-server something to clone from.
func Listen(addr, root string, opts ...Option) (*Server, error) {
	cfg := config{user: DefaultUser, password: DefaultPassword, auth: true, log: os.Stderr, backend: BackendPath}
	for _, o := range opts {
		o(&cfg)
	}
	if _, err := os.Stat(cfg.backend); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrNoBackend, cfg.backend)
	}
	var removeRoot bool
	if root == "" {
		dir, err := os.MkdirTemp("", "gittest-")
		if err != nil {
			return nil, fmt.Errorf("create root: %w", err)
		}
		root, removeRoot = dir, true
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("resolve root: %w", err)
	}
	home := filepath.Join(root, ".gittest-home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("create home: %w", err)
	}
	// safe.directory is honoured only in global config; the backend and the CLI helpers may run as a
	// different user from the one that owns root (for example in CI containers).
	gitconfig := "[safe]\n\tdirectory = *\n[init]\n\tdefaultBranch = main\n[user]\n\tname = gittest\n\temail = gittest@example.invalid\n"
	if err := os.WriteFile(filepath.Join(home, ".gitconfig"), []byte(gitconfig), 0o600); err != nil {
		return nil, fmt.Errorf("write git config: %w", err)
	}

	s := &Server{root: root, home: home, cfg: cfg, pushes: map[string]int{}, fetches: map[string]int{}}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	hs := &httptest.Server{Listener: l, Config: &http.Server{Handler: s.Handler()}}
	hs.Start()
	s.http = hs
	s.URL = hs.URL
	s.cleanup = func() error {
		if removeRoot {
			return os.RemoveAll(root)
		}
		return nil
	}
	return s, nil
}

// Close stops the server, waiting for requests in flight, and removes a root that Listen created.
func (s *Server) Close() error {
	s.http.Close()
	return s.cleanup()
}

// Root returns the directory that holds the bare repositories (GIT_PROJECT_ROOT).
func (s *Server) Root() string { return s.root }

// Credentials returns the user and password the server requires, or empty strings without auth.
func (s *Server) Credentials() (user, password string) { return s.cfg.user, s.cfg.password }

// Pushes returns how many push attempts reached receive-pack for the repository named name,
// past authentication: HTTP POSTs to git-receive-pack and SSH git-receive-pack sessions.
func (s *Server) Pushes(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pushes[name]
}

// Fetches returns how many fetches (and clones) reached upload-pack for
// the repository named name over HTTP, past authentication: POSTs to
// git-upload-pack, which a fetch makes only when it wants objects.
func (s *Server) Fetches(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches[name]
}

// Handler returns the server's HTTP handler: basic auth in front of git-http-backend. It can be
// mounted on any listener; it serves paths of the form /<name>.git/... .
func (s *Server) Handler() http.Handler {
	env := []string{
		"GIT_PROJECT_ROOT=" + s.root,
		"GIT_HTTP_EXPORT_ALL=1",
		"HOME=" + s.home,
		"GIT_CONFIG_GLOBAL=" + filepath.Join(s.home, ".gitconfig"),
		"GIT_CONFIG_NOSYSTEM=1",
	}
	logger := log.New(s.cfg.log, "gittest: ", 0)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.latency > 0 {
			time.Sleep(s.cfg.latency)
		}
		user := ""
		if s.cfg.auth {
			u, p, ok := r.BasicAuth()
			if !ok || !equal(u, s.cfg.user) || !equal(p, s.cfg.password) {
				w.Header().Set("WWW-Authenticate", `Basic realm="gittest", charset="UTF-8"`)
				http.Error(w, "authentication required", http.StatusUnauthorized)
				return
			}
			user = u
		}
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack") {
			name := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), ".git/git-receive-pack")
			s.mu.Lock()
			s.pushes[name]++
			s.mu.Unlock()
		}
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-upload-pack") {
			name := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), ".git/git-upload-pack")
			s.mu.Lock()
			s.fetches[name]++
			s.mu.Unlock()
		}
		// net/http/cgi refuses chunked bodies, which the git CLI sends for packs larger than
		// http.postBuffer. Spool such a body so that the backend gets a CONTENT_LENGTH.
		if len(r.TransferEncoding) > 0 {
			spooled, cleanup, err := spool(r)
			if err != nil {
				fmt.Fprintf(s.cfg.log, "gittest: spool request body: %v\n", err)
				http.Error(w, "cannot read request body", http.StatusBadRequest)
				return
			}
			defer cleanup()
			r = spooled
		}
		h := &cgi.Handler{
			Path:   s.cfg.backend,
			Root:   "/",
			Dir:    s.root,
			Env:    append(env[:len(env):len(env)], "REMOTE_USER="+user),
			Stderr: s.cfg.log,
			Logger: logger,
		}
		h.ServeHTTP(w, r)
	})
}

func equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// spool copies r's body to a temporary file and returns a request that reads it with a known length.
func spool(r *http.Request) (*http.Request, func(), error) {
	f, err := os.CreateTemp("", "gittest-body-")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() {
		_ = f.Close()
		_ = os.Remove(f.Name())
	}
	n, err := io.Copy(f, r.Body)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	r2 := r.Clone(r.Context())
	r2.Body = f
	r2.ContentLength = n
	r2.TransferEncoding = nil
	return r2, cleanup, nil
}

// testLogWriter forwards backend stderr to the test log.
type testLogWriter struct{ t testing.TB }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Logf("git-http-backend: %s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
