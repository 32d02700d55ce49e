package diff

import (
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// apply applies a unified diff made by Unified to a, and fails on any
// hunk that does not fit: a check that the diff is correct.
func apply(t *testing.T, a, patch string) string {
	t.Helper()
	src := splitLines(a)
	var out []string
	pos := 0
	lines := splitLines(patch)
	for i := 2; i < len(lines); i++ {
		l := lines[i]
		if !strings.HasPrefix(l, "@@ ") {
			t.Fatalf("expected a hunk header, got %q", l)
		}
		r := strings.Fields(l)[1][1:]
		s, n, _ := strings.Cut(r, ",")
		start, _ := strconv.Atoi(s)
		if n != "0" {
			start-- // to a 0-based index; an empty range names the line before
		}
		for pos < start {
			out = append(out, src[pos])
			pos++
		}
		for i+1 < len(lines) && !strings.HasPrefix(lines[i+1], "@@ ") {
			i++
			l := lines[i]
			if strings.HasPrefix(l, `\`) {
				n := len(out) - 1
				out[n] = strings.TrimSuffix(out[n], "\n")
				continue
			}
			body := l[1:]
			switch l[0] {
			case ' ', '-':
				if pos >= len(src) || strings.TrimSuffix(src[pos], "\n") != strings.TrimSuffix(body, "\n") {
					t.Fatalf("hunk does not fit at line %d: %q", pos+1, l)
				}
				if l[0] == ' ' {
					out = append(out, src[pos])
				}
				pos++
			case '+':
				out = append(out, body)
			}
		}
	}
	out = append(out, src[pos:]...)
	return strings.Join(out, "")
}

func TestUnifiedRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	words := []string{"a\n", "b\n", "c\n", "d\n", "e\n"}
	gen := func() string {
		var sb strings.Builder
		for range rng.Intn(30) {
			sb.WriteString(words[rng.Intn(len(words))])
		}
		return sb.String()
	}
	for i := range 2000 {
		a, b := gen(), gen()
		if i%7 == 0 && len(b) > 0 {
			b = strings.TrimSuffix(b, "\n") // a last line without newline
		}
		d := Unified("a", "b", a, b, 1+i%4)
		if a == b {
			if d != "" {
				t.Fatalf("equal texts gave a diff")
			}
			continue
		}
		if got := apply(t, a, d); got != b {
			t.Fatalf("case %d: applying the diff gives\n%q\nwant\n%q\ndiff:\n%s", i, got, b, d)
		}
	}
}

// TestUnifiedLikeGit compares with git diff on a case with several hunks.
func TestUnifiedLikeGit(t *testing.T) {
	var a, b strings.Builder
	for i := range 40 {
		fmt.Fprintf(&a, "line %d\n", i)
		switch {
		case i == 3:
			b.WriteString("changed 3\n")
		case i == 20:
		case i == 30:
			fmt.Fprintf(&b, "line %d\nnew\n", i)
		default:
			fmt.Fprintf(&b, "line %d\n", i)
		}
	}
	dir := t.TempDir()
	pa, pb := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(pa, []byte(a.String()), 0o644)
	os.WriteFile(pb, []byte(b.String()), 0o644)
	out, _ := exec.Command("git", "diff", "--no-index", "--no-color", pa, pb).Output()
	git := string(out)
	git = regexp.MustCompile(`(?m)^(@@ [^@]* @@).*$`).ReplaceAllString(git[strings.Index(git, "@@"):], "$1")
	got := Unified("a", "b", a.String(), b.String(), 3)
	got = got[strings.Index(got, "@@"):]
	if got != git {
		t.Fatalf("Unified differs from git diff:\n%s\ngit:\n%s", got, git)
	}
}
