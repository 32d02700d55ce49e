package docgen

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"
)

// linkRE matches an inline Markdown link or image: [text](target) or
// [text](target "title").
var linkRE = regexp.MustCompile(`!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)

// codeSpanRE matches an inline code span, whose brackets are no link.
var codeSpanRE = regexp.MustCompile("`+[^`]*`+")

// BrokenLink is a relative link of a Markdown page that leads nowhere.
type BrokenLink struct {
	// File is the page, relative to the checked root, and Line the link's
	// line in it (from 1).
	File string
	Line int
	// Target is the link as written; Reason says what is missing.
	Target string
	Reason string
}

func (b BrokenLink) String() string {
	return fmt.Sprintf("%s:%d: %s: %s", b.File, b.Line, b.Target, b.Reason)
}

// DocPages are the Markdown pages whose links CheckLinks follows: README.md
// and every .md file under docs/, relative to root, in lexical order.
func DocPages(root string) ([]string, error) {
	pages := []string{"README.md"}
	err := filepath.WalkDir(filepath.Join(root, "docs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".md") {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			pages = append(pages, filepath.ToSlash(rel))
		}
		return nil
	})
	return pages, err
}

// CheckLinks follows every relative link of the given pages (paths
// relative to root, with slashes) and returns those that lead to no file,
// or to an #anchor that no heading of the target page makes. Links with a
// scheme (https:, mailto:) are not followed; links in code are no links.
func CheckLinks(root string, pages []string) ([]BrokenLink, error) {
	anchors := map[string]map[string]bool{}
	anchorsOf := func(page string) (map[string]bool, error) {
		if a, ok := anchors[page]; ok {
			return a, nil
		}
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(page)))
		if err != nil {
			return nil, err
		}
		a := Anchors(string(b))
		anchors[page] = a
		return a, nil
	}
	var broken []BrokenLink
	for _, page := range pages {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(page)))
		if err != nil {
			return nil, err
		}
		forEachProseLine(string(b), func(n int, line string) {
			line = codeSpanRE.ReplaceAllString(line, "")
			for _, m := range linkRE.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if hasScheme(target) {
					continue
				}
				bad := func(reason string) {
					broken = append(broken, BrokenLink{File: page, Line: n, Target: target, Reason: reason})
				}
				file, anchor, _ := strings.Cut(target, "#")
				dest := page
				if file != "" {
					dest = path.Join(path.Dir(page), file)
					if dest == ".." || strings.HasPrefix(dest, "../") {
						bad("leaves the repository")
						continue
					}
					if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(dest))); err != nil {
						bad("no such file " + dest)
						continue
					}
				}
				if anchor == "" {
					continue
				}
				if !strings.HasSuffix(dest, ".md") {
					bad("an anchor in " + dest + ", which is no Markdown page")
					continue
				}
				a, err := anchorsOf(dest)
				if err != nil {
					bad(err.Error())
					continue
				}
				if !a[anchor] {
					bad("no heading of " + dest + " makes the anchor #" + anchor)
				}
			}
		})
	}
	return broken, nil
}

// hasScheme reports whether a link target is an absolute URL (https:,
// mailto:, ...) rather than a path.
func hasScheme(target string) bool {
	scheme, _, ok := strings.Cut(target, ":")
	if !ok || scheme == "" || strings.ContainsAny(scheme, "/#.") {
		return false
	}
	for _, r := range scheme {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '+' && r != '-' {
			return false
		}
	}
	return true
}

// Anchors returns the anchors that GitHub makes for the headings of a
// Markdown page: the heading's text in lower case, without punctuation,
// with spaces as hyphens, and "-1", "-2", ... after a repeated one.
func Anchors(page string) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	forEachProseLine(page, func(_ int, line string) {
		text, ok := headingText(line)
		if !ok {
			return
		}
		a := Slug(text)
		if n := seen[a]; n > 0 {
			seen[a] = n + 1
			a = fmt.Sprintf("%s-%d", a, n)
		} else {
			seen[a] = 1
		}
		anchors[a] = true
	})
	return anchors
}

// headingText is the text of an ATX heading line ("## Text ##"), or false.
func headingText(line string) (string, bool) {
	trimmed := strings.TrimLeft(line, " ")
	if len(line)-len(trimmed) > 3 {
		return "", false
	}
	hashes := len(trimmed) - len(strings.TrimLeft(trimmed, "#"))
	if hashes < 1 || hashes > 6 {
		return "", false
	}
	rest := trimmed[hashes:]
	if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
		return "", false
	}
	rest = strings.TrimSpace(rest)
	if t := strings.TrimRight(rest, "#"); t == "" || strings.HasSuffix(t, " ") {
		rest = strings.TrimSpace(t)
	}
	return rest, true
}

// linkTextRE matches a link or image in a heading, whose text alone counts.
var linkTextRE = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)

// Slug is GitHub's anchor of a heading's text: a link counts by its text;
// letters, digits, '-' and '_' are kept, letters in lower case; spaces
// become '-'; everything else is dropped.
func Slug(text string) string {
	text = linkTextRE.ReplaceAllString(text, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

// fenceRE matches the opening or closing line of a fenced code block.
var fenceRE = regexp.MustCompile("^ {0,3}(`{3,}|~{3,})")

// forEachProseLine calls fn with every line of a Markdown page that is
// outside fenced code blocks, and its number (from 1).
func forEachProseLine(page string, fn func(n int, line string)) {
	var fence string
	for i, line := range strings.Split(page, "\n") {
		if m := fenceRE.FindStringSubmatch(line); m != nil {
			switch {
			case fence == "":
				fence = m[1]
			case m[1][0] == fence[0] && len(m[1]) >= len(fence) && strings.TrimSpace(line) == m[1]:
				fence = ""
			}
			continue
		}
		if fence == "" {
			fn(i+1, line)
		}
	}
}
