package schema

import (
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"cuelang.org/go/cue/ast"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"

	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/schemas"
)

// friendly says what a schema pattern means, by where the schemas write
// it: the definition or field whose value holds the pattern, with " !~"
// for a negated one. The patterns themselves are read from the parsed
// schemas (patterns), so that they are written once, in schemas/*.cue;
// TestFriendlyMessages fails if a key here names no pattern there.
var friendly = map[string]string{
	"#Name":           "must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters",
	"#AppName":        "must be a DNS-1035 label: lower-case letters, digits and '-', starting with a letter and ending with a letter or digit, at most 63 characters",
	"#Quantity":       "must be a Kubernetes quantity such as 500m, 2, 1.5Gi or 8Gi",
	"#Image":          "must be an image reference such as registry.example.com/team/trainer:1.2 or repo@sha256:<64 hex>",
	"#AbsPath":        "must be an absolute path such as /trained_model",
	"#AbsPath !~":     "must not contain . or .. elements",
	"#RelPath":        "must be a relative path such as models/v2",
	"#EnvVarName":     "must be an environment variable name: letters, digits and '_', not starting with a digit",
	"#StorageURI":     "must be a storage URI such as pvc://<claim>/<path>, s3://<bucket>/<path> or gs://<bucket>/<path>",
	"hyperparameters": "must be a lower-case identifier such as learning_rate",
	"#ObjectName":     "must be a Kubernetes object name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit",
	"#DataKey":        "must be a Secret or ConfigMap key: letters, digits, '-', '_' and '.'",
	"refreshInterval": "must be a duration such as 15m, 1h or 1h30m",
	"#RemoteKey":      "must be a store key without spaces, such as ml/mnist/db",
}

// parsed are the embedded schema files, parsed.
var parsed = sync.OnceValues(func() ([]*ast.File, error) {
	entries, err := fs.ReadDir(schemas.FS, ".")
	if err != nil {
		return nil, err
	}
	var out []*ast.File
	for _, e := range entries {
		if path.Ext(e.Name()) != ".cue" {
			continue
		}
		b, err := fs.ReadFile(schemas.FS, e.Name())
		if err != nil {
			return nil, err
		}
		f, err := parser.ParseFile(e.Name(), b)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
})

// patterns maps each pattern of the schemas (=~"..." or !~"...", as CUE
// prints it in a message) to the key of friendly that names where it is
// written: the innermost enclosing definition or field.
var patterns = sync.OnceValue(func() map[string]string {
	files, _ := parsed()
	out := map[string]string{}
	for _, f := range files {
		var labels []string
		ast.Walk(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.Field:
				name, _, _ := ast.LabelName(x.Label)
				labels = append(labels, name)
			case *ast.UnaryExpr:
				if x.Op != token.MAT && x.Op != token.NMAT {
					return true
				}
				key := ""
				for i := len(labels) - 1; i >= 0 && key == ""; i-- {
					key = labels[i]
				}
				if x.Op == token.NMAT {
					key += " !~"
				}
				if b, err := format.Node(x); err == nil {
					if _, ok := out[string(b)]; !ok {
						out[string(b)] = key
					}
				}
			}
			return true
		}, func(n ast.Node) {
			if _, ok := n.(*ast.Field); ok {
				labels = labels[:len(labels)-1]
			}
		})
	}
	return out
})

var (
	outOfBound = regexp.MustCompile(`\(out of bound (.*)\)$`)
	lineInMsg  = regexp.MustCompile(`^(\S+\.ya?ml):([0-9]+): (.*)$`)
)

// humanize rewrites a CUE message into one a spec author can act on.
func humanize(msg string) string {
	if m := outOfBound.FindStringSubmatch(msg); m != nil {
		if text, ok := friendly[patterns()[m[1]]]; ok {
			return strings.TrimSpace(strings.TrimSuffix(msg, m[0])) + ": " + text
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

// enums are the members of every disjunction of literals in the parsed
// schemas, in the order written there (a default's * dropped).
var enums = sync.OnceValue(func() [][]string {
	files, _ := parsed()
	var out [][]string
	for _, f := range files {
		ast.Walk(f, func(n ast.Node) bool {
			b, ok := n.(*ast.BinaryExpr)
			if !ok || b.Op != token.OR {
				return true
			}
			var members []string
			if !literals(b, &members) {
				return true // a disjunction with a non-literal: look inside
			}
			out = append(out, members)
			return false
		}, nil)
	}
	return out
})

// literals appends the members of the disjunction e to out, as CUE prints
// them, and reports whether every member is a literal.
func literals(e ast.Expr, out *[]string) bool {
	switch x := e.(type) {
	case *ast.BinaryExpr:
		return x.Op == token.OR && literals(x.X, out) && literals(x.Y, out)
	case *ast.ParenExpr:
		return literals(x.X, out)
	case *ast.UnaryExpr:
		switch l, ok := x.X.(*ast.BasicLit); {
		case x.Op == token.MUL:
			return literals(x.X, out)
		case x.Op == token.SUB && ok:
			*out = append(*out, "-"+l.Value)
			return true
		}
	case *ast.BasicLit:
		if x.Kind == token.NULL {
			return false
		}
		*out = append(*out, x.Value)
		return true
	}
	return false
}

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
