package importer

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/token"
)

// node is a CUE struct under construction: fields in the order they are
// set, each with an optional comment saying where a value came from.
type node struct {
	fields []*field
}

type field struct {
	key     string
	val     any // string, int64, float64, bool, []any, *node
	comment string
}

// set sets key to v (replacing an earlier value) with an optional comment.
func (n *node) set(key string, v any, comment ...string) {
	f := n.get(key)
	if f == nil {
		f = &field{key: key}
		n.fields = append(n.fields, f)
	}
	f.val = v
	if len(comment) > 0 {
		f.comment = comment[0]
	}
}

func (n *node) get(key string) *field {
	for _, f := range n.fields {
		if f.key == key {
			return f
		}
	}
	return nil
}

// sub returns the struct at key, making it if needed.
func (n *node) sub(key string) *node {
	if f := n.get(key); f != nil {
		if s, ok := f.val.(*node); ok {
			return s
		}
	}
	s := &node{}
	n.set(key, s)
	return s
}

func (n *node) del(key string) {
	for i, f := range n.fields {
		if f.key == key {
			n.fields = append(n.fields[:i], n.fields[i+1:]...)
			return
		}
	}
}

func (n *node) empty() bool { return n == nil || len(n.fields) == 0 }

// toAny returns the plain Go value of n (maps and slices), as the loader
// and the API see a spec.
func (n *node) toAny() map[string]any {
	out := map[string]any{}
	for _, f := range n.fields {
		out[f.key] = plain(f.val)
	}
	return out
}

func plain(v any) any {
	switch x := v.(type) {
	case *node:
		return x.toAny()
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plain(e)
		}
		return out
	}
	return v
}

// fromAny builds a node from a plain value, keys sorted.
func fromAny(m map[string]any) *node {
	n := &node{}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		n.set(k, fromAnyValue(m[k]))
	}
	return n
}

func fromAnyValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return fromAny(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = fromAnyValue(e)
		}
		return out
	}
	return v
}

// formatCUE writes a file of top-level fields as formatted CUE, with a
// leading comment.
func formatCUE(header string, n *node) ([]byte, error) {
	f := &ast.File{}
	if header != "" {
		ast.AddComment(f, comment(header, true))
	}
	for _, fl := range n.fields {
		decl := fieldDecl(fl)
		f.Decls = append(f.Decls, decl)
	}
	b, err := format.Node(f, format.Simplify())
	if err != nil {
		return nil, fmt.Errorf("format CUE: %w", err)
	}
	return b, nil
}

func fieldDecl(fl *field) *ast.Field {
	label := ast.NewString(fl.key)
	var lbl ast.Label = label
	if ast.IsValidIdent(fl.key) && !strings.HasPrefix(fl.key, "#") && !strings.HasPrefix(fl.key, "_") {
		lbl = ast.NewIdent(fl.key)
	}
	d := &ast.Field{Label: lbl, Value: expr(fl.val)}
	if fl.comment != "" {
		ast.AddComment(d, comment(fl.comment, true))
	}
	return d
}

func comment(text string, doc bool) *ast.CommentGroup {
	cg := &ast.CommentGroup{Doc: doc}
	for _, line := range strings.Split(text, "\n") {
		cg.List = append(cg.List, &ast.Comment{Text: "// " + line})
	}
	return cg
}

func expr(v any) ast.Expr {
	switch x := v.(type) {
	case *node:
		s := &ast.StructLit{Lbrace: token.Blank.Pos(), Rbrace: token.Newline.Pos()}
		for _, f := range x.fields {
			s.Elts = append(s.Elts, fieldDecl(f))
		}
		return s
	case []any:
		l := &ast.ListLit{}
		for _, e := range x {
			l.Elts = append(l.Elts, expr(e))
		}
		return l
	case string:
		return ast.NewString(x)
	case bool:
		return ast.NewBool(x)
	case int64:
		return ast.NewLit(token.INT, strconv.FormatInt(x, 10))
	case int:
		return ast.NewLit(token.INT, strconv.Itoa(x))
	case float64:
		if x == float64(int64(x)) && x < 1e15 && x > -1e15 {
			return ast.NewLit(token.FLOAT, strconv.FormatFloat(x, 'f', 1, 64))
		}
		return ast.NewLit(token.FLOAT, strconv.FormatFloat(x, 'g', -1, 64))
	case nil:
		return ast.NewNull()
	}
	return ast.NewString(fmt.Sprint(v))
}
