package schema

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"io/fs"

	cueerrors "cuelang.org/go/cue/errors"

	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/schemas"
)

// friendly replaces schema regexps in CUE messages with what they mean. The
// keys are the patterns as written in schemas/*.cue; TestFriendlyMessages
// fails if a schema pattern changes without its entry here.
var friendly = []struct{ pattern, text string }{
	{`=~"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"`, "must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"},
	{`=~"^[a-z]([-a-z0-9]*[a-z0-9])?$"`, "must be a DNS-1035 label: lower-case letters, digits and '-', starting with a letter and ending with a letter or digit, at most 63 characters"},
	{`=~"^([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][-+]?[0-9]+)?$"`, "must be a Kubernetes quantity such as 500m, 2, 1.5Gi or 8Gi"},
	{`=~"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$"`, "must be an image reference such as registry.example.com/team/trainer:1.2 or repo@sha256:<64 hex>"},
	{`=~"^(/[A-Za-z0-9_.@+-]+)+$"`, "must be an absolute path such as /trained_model"},
	{`!~"(^|/)\\.\\.?(/|$)"`, "must not contain . or .. elements"},
	{`=~"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$"`, "must be a relative path such as models/v2"},
	{`=~"^[A-Za-z_][A-Za-z0-9_]*$"`, "must be an environment variable name: letters, digits and '_', not starting with a digit"},
	{`=~"^(pvc|s3|gs|https?|hf|hdfs|webhdfs|oci)://[A-Za-z0-9]([-A-Za-z0-9_.:@]*[A-Za-z0-9])?(/[A-Za-z0-9_.:@=+-]+)*/?$"`, "must be a storage URI such as pvc://<claim>/<path>, s3://<bucket>/<path> or gs://<bucket>/<path>"},
	{`=~"^[a-z][a-z0-9_]*$"`, "must be a lower-case identifier such as learning_rate"},
	{`=~"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"`, "must be a Kubernetes object name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit"},
	{`=~"^[-._a-zA-Z0-9]+$"`, "must be a Secret or ConfigMap key: letters, digits, '-', '_' and '.'"},
	{`=~"^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$"`, "must be a duration such as 15m, 1h or 1h30m"},
	{`=~"^[^\\s]+$"`, "must be a store key without spaces, such as ml/mnist/db"},
}

var (
	outOfBound = regexp.MustCompile(`\(out of bound (.*)\)$`)
	lineInMsg  = regexp.MustCompile(`^(\S+\.ya?ml):([0-9]+): (.*)$`)
)

// humanize rewrites a CUE message into one a spec author can act on.
func humanize(msg string) string {
	if m := outOfBound.FindStringSubmatch(msg); m != nil {
		for _, f := range friendly {
			if m[1] == f.pattern {
				return strings.TrimSpace(strings.TrimSuffix(msg, m[0])) + ": " + f.text
			}
		}
		bound := m[1]
		switch {
		case strings.HasPrefix(bound, ">="):
			return strings.TrimSpace(strings.TrimSuffix(msg, m[0])) + ": must be at least " + bound[2:]
		case strings.HasPrefix(bound, "<="):
			return strings.TrimSpace(strings.TrimSuffix(msg, m[0])) + ": must be at most " + bound[2:]
		case strings.HasPrefix(bound, "strings.MaxRunes("):
			return strings.TrimSpace(strings.TrimSuffix(msg, m[0])) + ": must be at most " + strings.TrimSuffix(strings.TrimPrefix(bound, "strings.MaxRunes("), ")") + " characters"
		}
	}
	if msg == "field not allowed" {
		return "field not allowed (unknown field; check its spelling and the schema)"
	}
	return msg
}

// finding is one CUE error, placed.
type finding struct {
	pos      provenance.Pos
	path     string
	msg      string
	conflict *conflict
	// users are the positions in the user's own files among the error's
	// inputs: two of them on a conflict mean two places of the user's set
	// the field to different values.
	users []provenance.Pos
}

// FromCUE turns a CUE error into findings. Each finding is placed at the
// first position inside a user file; failing that, at the position the
// provenance map gives for its path; failing that, at fallback.
func FromCUE(err error, trim string, prov provenance.Map, fallback provenance.Pos) diag.List {
	var items []finding
	for _, e := range cueerrors.Errors(err) {
		sels := e.Path()
		if len(sels) > 0 && sels[0] == trim {
			sels = sels[1:]
		}
		for i, s := range sels {
			sels[i] = strings.Trim(s, `"`)
		}
		p := joinSelectors(sels)
		format, args := e.Msg()
		msg := fmt.Sprintf(format, args...)
		if msg == "" {
			msg = e.Error()
		}
		// YAML errors carry their line in the message: "file:3: ...".
		if m := lineInMsg.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[2])
			pos := provenance.Pos{File: m[1], Line: line, Col: 1}
			items = append(items, finding{pos: pos, path: p, msg: m[3]})
			continue
		}
		pos := provenance.Pos{}
		var users []provenance.Pos
		for _, ip := range append(e.InputPositions(), e.Position()) {
			if pp := toPos(ip); pp.IsValid() {
				if !pos.IsValid() {
					pos = pp
				}
				if !slices.Contains(users, pp) {
					users = append(users, pp)
				}
			}
		}
		if !pos.IsValid() {
			if pp, ok := prov.Lookup(p); ok {
				pos = pp
			} else {
				pos = fallback
			}
		}
		items = append(items, finding{pos: pos, path: p, msg: msg, conflict: conflictOf(format, args), users: users})
	}

	// A value that fails a field with a default (`*1 | int & >=1`) or an
	// enum fails every branch of the disjunction; say it once, plainly.
	byPath := map[string][]finding{}
	var order []string
	for _, it := range items {
		if _, ok := byPath[it.path]; !ok {
			order = append(order, it.path)
		}
		byPath[it.path] = append(byPath[it.path], it)
	}
	var out diag.List
	for _, p := range order {
		group := byPath[p]
		var specific, conflicts []finding
		var allowed []string
		got, sameGot, mismatched := "", true, false
		for _, it := range group {
			switch {
			case strings.Contains(it.msg, "errors in empty disjunction"):
			case it.conflict != nil:
				conflicts = append(conflicts, it)
				allowed = append(allowed, it.conflict.member)
				if got != "" && got != it.conflict.got {
					sameGot = false
				}
				got = it.conflict.got
				mismatched = mismatched || it.conflict.mismatched
			default:
				specific = append(specific, it)
			}
		}
		if c := userConflict(conflicts); c != nil {
			// Two of the user's files set the field to different values:
			// a conflict, not a value outside an enum.
			out = append(out, diag.Diagnostic{Pos: c.users[0], Path: p, Message: fmt.Sprintf(
				"conflicting values %s and %s: the field is set both at %s and at %s; an app's files are unified, not layered, so set the field in one of them (or use overrides.<env> to change it in an environment)",
				c.conflict.member, c.conflict.got, c.users[0], c.users[1])})
			continue
		}
		switch {
		case len(specific) > 0:
			for _, it := range specific {
				out = append(out, diag.Diagnostic{Pos: it.pos, Path: p, Message: humanize(it.msg)})
			}
		case len(conflicts) > 1 && sameGot:
			out = append(out, diag.Diagnostic{Pos: bestPos(conflicts), Path: p, Message: notOneOf(got, allowed, mismatched)})
		case len(conflicts) > 0:
			for _, it := range conflicts {
				out = append(out, diag.Diagnostic{Pos: it.pos, Path: p, Message: it.msg})
			}
		default:
			for _, it := range group {
				out = append(out, diag.Diagnostic{Pos: it.pos, Path: p, Message: humanize(it.msg)})
			}
		}
	}
	return out
}

// conflict is a "conflicting values" error: the user's value against one
// member of a disjunction.
type conflict struct {
	got, member string
	// mismatched says the two are of different types.
	mismatched bool
}

// CUE's formats for a value that conflicts with a disjunct. With types that
// match, the disjunct comes first; with types that do not, the value.
const (
	formatConflict   = "conflicting values %s and %s"
	formatMismatched = "conflicting values %s and %s (mismatched types %s and %s)"
)

// conflictOf reads a conflict from a CUE error's format and arguments, or
// returns nil.
func conflictOf(format string, args []any) *conflict {
	switch {
	case format == formatConflict && len(args) == 2:
		return &conflict{member: fmt.Sprint(args[0]), got: fmt.Sprint(args[1])}
	case format == formatMismatched && len(args) == 4:
		return &conflict{got: fmt.Sprint(args[0]), member: fmt.Sprint(args[1]), mismatched: true}
	}
	return nil
}

// notOneOf says that got is none of an enum's members, listed as the
// schema declares them, plainly: `"Sometimes" is not one of Always,
// OnFailure, Never, ExitCode`.
func notOneOf(got string, members []string, mismatched bool) string {
	members = enumOrder(members)
	plain := make([]string, len(members))
	strs := true
	for i, m := range members {
		if u, err := strconv.Unquote(m); err == nil && strings.HasPrefix(m, `"`) {
			plain[i] = u
			if u == "" {
				plain[i] = `"" (empty)`
			}
		} else {
			plain[i], strs = m, false
		}
	}
	msg := fmt.Sprintf("%s is not one of %s", got, strings.Join(plain, ", "))
	if mismatched && strs {
		msg += " (a string is needed)"
	}
	return msg
}

// enums are the members of every disjunction of literals in the schemas,
// in the order written there.
var enums = sync.OnceValue(func() [][]string {
	src, _ := schemaFiles()
	var out [][]string
	for _, f := range src {
		for _, d := range disjunction.FindAllString(f, -1) {
			out = append(out, literal.FindAllString(d, -1))
		}
	}
	return out
})

var (
	literal     = regexp.MustCompile(`"(?:[^"\\\n]|\\.)*"|-?[0-9]+(?:\.[0-9]+)?|true|false`)
	disjunction = regexp.MustCompile(`\*?(?:"(?:[^"\\\n]|\\.)*"|-?[0-9]+(?:\.[0-9]+)?)(?:\s*\|\s*\*?(?:"(?:[^"\\\n]|\\.)*"|-?[0-9]+(?:\.[0-9]+)?))+`)
)

// enumOrder sorts members as the schema disjunction with exactly these
// members lists them, or alphabetically when there is none.
func enumOrder(members []string) []string {
	want := slices.Clone(members)
	slices.Sort(want)
	want = slices.Compact(want)
	for _, e := range enums() {
		have := slices.Clone(e)
		slices.Sort(have)
		if slices.Equal(have, want) {
			return e
		}
	}
	return want
}

// userConflict returns the conflict among conflicts whose two values both
// come from the user's files, or nil.
func userConflict(conflicts []finding) *finding {
	for i := range conflicts {
		if len(conflicts[i].users) >= 2 {
			return &conflicts[i]
		}
	}
	return nil
}

// bestPos returns the first valid position among items.
func bestPos(items []finding) provenance.Pos {
	for _, it := range items {
		if it.pos.IsValid() {
			return it.pos
		}
	}
	return provenance.Pos{}
}

func joinSelectors(sels []string) string {
	var b strings.Builder
	for _, s := range sels {
		if s != "" && s[0] >= '0' && s[0] <= '9' {
			fmt.Fprintf(&b, "[%s]", s)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

// schemaFiles returns the source of the embedded schema files.
func schemaFiles() ([]string, error) {
	entries, err := fs.ReadDir(schemas.FS, ".")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		b, err := fs.ReadFile(schemas.FS, e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, string(b))
	}
	return out, nil
}
