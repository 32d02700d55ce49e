package gittest

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// DefaultBranch is the branch that new repositories' HEAD points to.
const DefaultBranch = "main"

// ErrBadName is returned for a repository name that is not a simple relative slash path.
var ErrBadName = errors.New("invalid repository name")

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*(/[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*)*$`)

// RepoURL returns the clone URL of the repository called name (without ".git").
func (s *Server) RepoURL(name string) string { return s.URL + "/" + name + ".git" }

// RepoDir returns the on-disk path of the bare repository called name.
func (s *Server) RepoDir(name string) string {
	return filepath.Join(s.root, filepath.FromSlash(name)+".git")
}

// NewRepo creates an empty bare repository name.git that accepts pushes over HTTP and whose HEAD
// points to refs/heads/main, and returns its URL.
func (s *Server) NewRepo(name string) (string, error) {
	if !nameRE.MatchString(name) || strings.HasSuffix(name, ".git") {
		return "", fmt.Errorf("%w: %q", ErrBadName, name)
	}
	dir := s.RepoDir(name)
	if _, err := os.Stat(dir); err == nil {
		return "", fmt.Errorf("create repo %s: %w", name, os.ErrExist)
	}
	if _, err := s.run("", nil, nil, "init", "--quiet", "--bare", "--initial-branch="+DefaultBranch, dir); err != nil {
		return "", fmt.Errorf("create repo %s: %w", name, err)
	}
	if _, err := s.run(dir, nil, nil, "config", "http.receivepack", "true"); err != nil {
		return "", fmt.Errorf("create repo %s: %w", name, err)
	}
	return s.RepoURL(name), nil
}

// CreateRepo is NewRepo that fails the test on error.
func (s *Server) CreateRepo(t testing.TB, name string) string {
	t.Helper()
	u, err := s.NewRepo(name)
	if err != nil {
		t.Fatalf("gittest: %v", err)
	}
	return u
}

// SetHook installs script as the executable hook hookName (for example "pre-receive") of repo.
// The script needs its own interpreter line, such as "#!/bin/sh".
func (s *Server) SetHook(t testing.TB, repo, hookName, script string) {
	t.Helper()
	if strings.ContainsAny(hookName, `/\`) || hookName == "" || hookName == "." || hookName == ".." {
		t.Fatalf("gittest: invalid hook name %q", hookName)
	}
	dir := filepath.Join(s.RepoDir(repo), "hooks")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("gittest: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, hookName), []byte(script), 0o755); err != nil {
		t.Fatalf("gittest: %v", err)
	}
}

// Git runs the git CLI with args inside the bare repository repo and returns its stdout.
func (s *Server) Git(t testing.TB, repo string, args ...string) string {
	t.Helper()
	out, err := s.run(s.RepoDir(repo), nil, nil, args...)
	if err != nil {
		t.Fatalf("gittest: %v", err)
	}
	return out
}

// Head returns the commit SHA that ref (a branch name such as "main" or "env/prod", a full ref
// or a revision; "" means DefaultBranch) resolves to in repo, or "" if it does not exist.
func (s *Server) Head(t testing.TB, repo, ref string) string {
	t.Helper()
	sha, err := s.head(repo, ref)
	if err != nil {
		t.Fatalf("gittest: %v", err)
	}
	return sha
}

func (s *Server) head(repo, ref string) (string, error) {
	out, err := s.run(s.RepoDir(repo), nil, nil, "rev-parse", "--verify", "--quiet", "--end-of-options", orDefault(ref)+"^{commit}")
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 1 {
		return "", nil // --verify --quiet: the ref does not exist
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(out), nil
}

// CommitCount returns the number of commits reachable from ref (see Head), 0 if it does not exist.
func (s *Server) CommitCount(t testing.TB, repo, ref string) int {
	t.Helper()
	sha := s.Head(t, repo, ref)
	if sha == "" {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(s.Git(t, repo, "rev-list", "--count", sha)))
	if err != nil {
		t.Fatalf("gittest: rev-list: %v", err)
	}
	return n
}

// Messages returns the full commit messages reachable from ref (see Head), newest first.
func (s *Server) Messages(t testing.TB, repo, ref string) []string {
	t.Helper()
	sha := s.Head(t, repo, ref)
	if sha == "" {
		return nil
	}
	var msgs []string
	for _, m := range strings.Split(s.Git(t, repo, "log", "--format=%B%x00", sha), "\x00") {
		if m = strings.Trim(m, "\n"); m != "" {
			msgs = append(msgs, m)
		}
	}
	return msgs
}

// Files returns every file at ref (see Head) in repo, path to content. A symlink's content is
// its target; submodules are left out. A missing ref gives an empty map.
func (s *Server) Files(t testing.TB, repo, ref string) map[string]string {
	t.Helper()
	files, err := s.files(repo, ref)
	if err != nil {
		t.Fatalf("gittest: %v", err)
	}
	return files
}

func (s *Server) files(repo, ref string) (map[string]string, error) {
	files := map[string]string{}
	sha, err := s.head(repo, ref)
	if err != nil || sha == "" {
		return files, err
	}
	dir := s.RepoDir(repo)
	out, err := s.run(dir, nil, nil, "ls-tree", "-r", "-z", "--full-tree", sha)
	if err != nil {
		return nil, err
	}
	var paths []string
	var batch bytes.Buffer
	for _, rec := range strings.Split(out, "\x00") {
		meta, path, ok := strings.Cut(rec, "\t")
		if !ok {
			continue
		}
		f := strings.Fields(meta) // mode type hash
		if len(f) != 3 || f[1] != "blob" {
			continue
		}
		paths = append(paths, path)
		batch.WriteString(f[2] + "\n")
	}
	if len(paths) == 0 {
		return files, nil
	}
	out, err = s.run(dir, nil, &batch, "cat-file", "--batch")
	if err != nil {
		return nil, err
	}
	r := bufio.NewReader(strings.NewReader(out))
	for _, p := range paths {
		header, err := r.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("cat-file output: %w", err)
		}
		f := strings.Fields(header)
		if len(f) != 3 {
			return nil, fmt.Errorf("cat-file output: unexpected header %q", header)
		}
		size, err := strconv.Atoi(f[2])
		if err != nil {
			return nil, fmt.Errorf("cat-file output: %w", err)
		}
		content := make([]byte, size+1) // content and a newline
		if _, err := io.ReadFull(r, content); err != nil {
			return nil, fmt.Errorf("cat-file output: %w", err)
		}
		files[p] = string(content[:size])
	}
	return files, nil
}

// Change is a commit that another writer makes with the git CLI and pushes through the server.
type Change struct {
	Branch   string            // defaults to DefaultBranch; created as an orphan if missing
	Files    map[string]string // slash paths to write, with their content
	Symlinks map[string]string // slash paths to create as symlinks, with their targets
	Delete   []string          // slash paths to remove
	Message  string            // defaults to "gittest: another writer"
}

// Push clones repo over HTTP with the git CLI, applies c, commits and pushes it like a second
// writer would, and returns the new commit's SHA. It fails the test if the push is refused.
func (s *Server) Push(t testing.TB, repo string, c Change) string {
	t.Helper()
	sha, err := s.PushChange(repo, c)
	if err != nil {
		t.Fatalf("gittest: %v", err)
	}
	return sha
}

// PushChange is Push that returns an error instead of failing a test.
func (s *Server) PushChange(repo string, c Change) (string, error) {
	branch := orDefault(c.Branch)
	msg := c.Message
	if msg == "" {
		msg = "gittest: another writer"
	}
	dir, err := os.MkdirTemp("", "gittest-writer-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)

	// Credentials travel in the environment so that they never show up in argv or in errors.
	var auth []string
	if s.cfg.auth {
		token := base64.StdEncoding.EncodeToString([]byte(s.cfg.user + ":" + s.cfg.password))
		auth = []string{"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.extraHeader", "GIT_CONFIG_VALUE_0=Authorization: Basic " + token}
	}
	url := s.RepoURL(repo)
	steps := [][]string{{"init", "--quiet", "--initial-branch=" + branch, "."}}
	remote, err := s.run(dir, auth, nil, "ls-remote", "--heads", url, "refs/heads/"+branch)
	if err != nil {
		return "", fmt.Errorf("push to %s: %w", repo, err)
	}
	if strings.TrimSpace(remote) != "" {
		steps = append(steps,
			[]string{"fetch", "--quiet", url, "+refs/heads/" + branch + ":refs/remotes/origin/" + branch},
			[]string{"checkout", "--quiet", "-B", branch, "origin/" + branch})
	}
	for _, args := range steps {
		if _, err := s.run(dir, auth, nil, args...); err != nil {
			return "", fmt.Errorf("push to %s: %w", repo, err)
		}
	}
	for _, p := range c.Delete {
		if err := os.RemoveAll(filepath.Join(dir, filepath.FromSlash(p))); err != nil {
			return "", err
		}
	}
	for p, content := range c.Files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			return "", err
		}
	}
	for p, target := range c.Symlinks {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return "", err
		}
		if err := os.Symlink(target, full); err != nil {
			return "", err
		}
	}
	for _, args := range [][]string{
		{"add", "--all"},
		{"commit", "--quiet", "--allow-empty", "-m", msg},
		{"push", "--quiet", url, "refs/heads/" + branch + ":refs/heads/" + branch},
	} {
		if _, err := s.run(dir, auth, nil, args...); err != nil {
			return "", fmt.Errorf("push to %s: %w", repo, err)
		}
	}
	out, err := s.run(dir, nil, nil, "rev-parse", "HEAD")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(out), nil
}

// run executes the git CLI isolated from the caller's git configuration and environment.
func (s *Server) run(dir string, env []string, stdin io.Reader, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Stdin = stdin
	cmd.Env = append(s.env(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// env is the environment of git commands: the process's, without GIT_* variables (set, for
// example, when tests run inside a git hook, they would redirect the commands), and with a
// HOME and global config of the server's own.
func (s *Server) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	return append(env,
		"HOME="+s.home,
		"GIT_CONFIG_GLOBAL="+filepath.Join(s.home, ".gitconfig"),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0",
	)
}

func orDefault(branch string) string {
	if branch == "" {
		return DefaultBranch
	}
	return branch
}
