// Package diag holds the findings dmls reports against users' spec files.
package diag

import (
	"fmt"
	"sort"
	"strings"

	"github.com/dmls-project/dmls/internal/provenance"
)

// Diagnostic is one finding: where, which spec field, and what is wrong.
type Diagnostic struct {
	Pos     provenance.Pos `json:"pos"`
	Path    string         `json:"path,omitempty"`
	Message string         `json:"message"`
}

// String formats d as "file:line:col: path: message".
func (d Diagnostic) String() string {
	var b strings.Builder
	b.WriteString(d.Pos.String())
	b.WriteString(": ")
	if d.Path != "" {
		b.WriteString(d.Path)
		b.WriteString(": ")
	}
	b.WriteString(d.Message)
	return b.String()
}

// List is a set of findings. A non-empty List is an error; it reports every
// finding, not only the first.
type List []Diagnostic

// Add appends a finding.
func (l *List) Add(pos provenance.Pos, path, format string, args ...any) {
	*l = append(*l, Diagnostic{Pos: pos, Path: path, Message: fmt.Sprintf(format, args...)})
}

// Error implements error: one finding per line.
func (l List) Error() string {
	lines := make([]string, len(l))
	for i, d := range l {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// Err returns l as an error, or nil when l is empty.
func (l List) Err() error {
	if len(l) == 0 {
		return nil
	}
	l.Sort()
	return l
}

// Sort orders findings by file, line, column, path and message, and drops
// exact duplicates.
func (l *List) Sort() {
	s := *l
	sort.SliceStable(s, func(i, j int) bool {
		a, b := s[i], s[j]
		if a.Pos.File != b.Pos.File {
			return a.Pos.File < b.Pos.File
		}
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		if a.Pos.Col != b.Pos.Col {
			return a.Pos.Col < b.Pos.Col
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Message < b.Message
	})
	out := s[:0]
	for i, d := range s {
		if i > 0 && d == s[i-1] {
			continue
		}
		out = append(out, d)
	}
	*l = out
}
