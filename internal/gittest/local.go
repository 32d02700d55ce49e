package gittest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Local is a non-bare repository in a folder, driven with the git CLI. Its
// commits have a fixed author and dates one minute apart, so the same
// history gets the same hashes on every run.
type Local struct {
	// Dir is the work tree.
	Dir  string
	t    testing.TB
	home string
	n    int
}

// NewLocal makes an empty repository in dir with DefaultBranch checked out.
func NewLocal(t testing.TB, dir string) *Local {
	t.Helper()
	l := &Local{Dir: dir, t: t, home: t.TempDir()}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	l.Git("init", "-q", "-b", DefaultBranch)
	return l
}

// Write writes files (path from the work tree, slash-separated); an empty
// content deletes the file, and the folders it leaves empty.
func (l *Local) Write(files map[string]string) {
	l.t.Helper()
	for p, content := range files {
		full := filepath.Join(l.Dir, filepath.FromSlash(p))
		if content == "" {
			if err := os.Remove(full); err != nil {
				l.t.Fatal(err)
			}
			// Folders left empty go too, as git has no record of them.
			for d := filepath.Dir(full); d != l.Dir && os.Remove(d) == nil; d = filepath.Dir(d) {
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			l.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			l.t.Fatal(err)
		}
	}
}

// Commit commits every change of the work tree and returns the commit's hash.
func (l *Local) Commit(msg string) string {
	l.t.Helper()
	l.n++
	date := fmt.Sprintf("2026-01-01T00:%02d:00Z", l.n%60)
	l.Git("add", "-A")
	l.run([]string{"GIT_AUTHOR_DATE=" + date, "GIT_COMMITTER_DATE=" + date}, "commit", "-q", "--allow-empty", "-m", msg)
	return l.Git("rev-parse", "HEAD")
}

// Git runs git in the work tree and returns its trimmed output.
func (l *Local) Git(args ...string) string {
	l.t.Helper()
	return l.run(nil, args...)
}

func (l *Local) run(env []string, args ...string) string {
	l.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = l.Dir
	s := &Server{home: l.home}
	cmd.Env = append(s.env(), append([]string{
		"GIT_AUTHOR_NAME=dmls test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=dmls test", "GIT_COMMITTER_EMAIL=test@example.com",
	}, env...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		l.t.Fatalf("git %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}
