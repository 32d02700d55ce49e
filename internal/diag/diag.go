// Package diag holds the findings dmls reports against users' spec files.
package diag

import (
	"fmt"
	"sort"
	"strings"

	"github.com/dmls-project/dmls/internal/provenance"
)

// Severity says whether a finding fails the run.
type Severity string

// Severities. The zero value is an error, so that a finding is an error
// unless it says otherwise.
const (
	SeverityError   Severity = ""
	SeverityWarning Severity = "warning"
)

// Diagnostic is one finding: where, which spec field, and what is wrong.
type Diagnostic struct {
	Pos     provenance.Pos `json:"pos"`
	Path    string         `json:"path,omitempty"`
	Message string         `json:"message"`
	// Severity is SeverityError unless the finding is only a warning.
	Severity Severity `json:"severity,omitempty"`
	// Rule is the ID of the rule that made the finding, when it has one.
	Rule string `json:"rule,omitempty"`
}

// IsWarning reports whether d is a warning, which does not fail a run.
func (d Diagnostic) IsWarning() bool { return d.Severity == SeverityWarning }

// String formats d as "file:line:col: path: message", with "warning: "
// before the path of a warning and the rule ID in brackets at the end.
func (d Diagnostic) String() string {
	var b strings.Builder
	b.WriteString(d.Pos.String())
	b.WriteString(": ")
	if d.IsWarning() {
		b.WriteString("warning: ")
	}
	if d.Path != "" {
		b.WriteString(d.Path)
		b.WriteString(": ")
	}
	b.WriteString(d.Message)
	if d.Rule != "" {
		b.WriteString(" [")
		b.WriteString(d.Rule)
		b.WriteString("]")
	}
	return b.String()
}

// List is a set of findings. A non-empty List is an error; it reports every
// finding, not only the first.
type List []Diagnostic

// Add appends a finding.
func (l *List) Add(pos provenance.Pos, path, format string, args ...any) {
	*l = append(*l, Diagnostic{Pos: pos, Path: path, Message: fmt.Sprintf(format, args...)})
}

// Warn appends a warning.
func (l *List) Warn(pos provenance.Pos, path, format string, args ...any) {
	*l = append(*l, Diagnostic{Pos: pos, Path: path, Message: fmt.Sprintf(format, args...), Severity: SeverityWarning})
}

// Errors returns the findings of l that are errors.
func (l List) Errors() List { return l.filter(false) }

// Warnings returns the findings of l that are warnings.
func (l List) Warnings() List { return l.filter(true) }

// HasErrors reports whether any finding of l is an error.
func (l List) HasErrors() bool {
	for _, d := range l {
		if !d.IsWarning() {
			return true
		}
	}
	return false
}

func (l List) filter(warnings bool) List {
	var out List
	for _, d := range l {
		if d.IsWarning() == warnings {
			out = append(out, d)
		}
	}
	return out
}

// Error implements error: one finding per line.
func (l List) Error() string {
	lines := make([]string, len(l))
	for i, d := range l {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// Err returns the errors of l as an error, or nil when l holds none.
// Warnings are left out: callers that report them keep them separately.
func (l List) Err() error {
	errs := l.Errors()
	if len(errs) == 0 {
		return nil
	}
	errs.Sort()
	return errs
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
