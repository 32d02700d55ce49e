package gitops

import (
	"fmt"
	"path"
	"strings"
	"unicode/utf8"
)

// RootPrefix, as a managed prefix, hands the whole repository to dmls.
const RootPrefix = "."

// ValidatePath reports whether p can name a file in a generated tree: a non-empty, clean,
// relative, slash-separated path of valid UTF-8 without "..", ".git", backslashes or control
// characters. The rules are stricter than git's because the tree is checked out by other tools
// (Argo CD, kustomize) on other systems.
func ValidatePath(p string) error {
	reason := pathProblem(p)
	if reason == "" {
		return nil
	}
	return fmt.Errorf("%w %q: %s", ErrInvalidPath, p, reason)
}

func pathProblem(p string) string {
	switch {
	case p == "":
		return "empty"
	case !utf8.ValidString(p):
		return "not valid UTF-8"
	case strings.ContainsRune(p, 0):
		return "contains NUL"
	case strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "contains a control character"
	case strings.Contains(p, `\`):
		return `contains a backslash; use "/"`
	case strings.HasPrefix(p, "/"):
		return "absolute; want a path relative to the repository root"
	case p == ".":
		return "names the repository root, not a file"
	case path.Clean(p) != p:
		return fmt.Sprintf("not clean (want %q)", path.Clean(p))
	}
	for c := range strings.SplitSeq(p, "/") {
		if c == ".." {
			return `contains ".."`
		}
		if strings.EqualFold(c, ".git") {
			return `contains ".git", which git reserves`
		}
	}
	return ""
}

// validatePrefix is ValidatePath for managed prefixes, which may also be RootPrefix.
func validatePrefix(p string) error {
	if p == RootPrefix {
		return nil
	}
	if reason := pathProblem(p); reason != "" {
		return fmt.Errorf("%w: managed prefix %q: %s", ErrInvalidPath, p, reason)
	}
	return nil
}

// underPrefix reports whether file p lies inside directory prefix.
func underPrefix(p, prefix string) bool {
	return prefix == RootPrefix || strings.HasPrefix(p, prefix+"/")
}

func components(p string) []string {
	if p == RootPrefix || p == "" {
		return nil
	}
	return strings.Split(p, "/")
}
