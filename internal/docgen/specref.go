package docgen

import (
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/parser"

	"github.com/dmls-project/dmls/schemas"
)

// SpecReferencePath is the spec reference's page, relative to the
// repository root.
const SpecReferencePath = "docs/spec-reference.md"

// topDefinitions come first in the spec reference, in this order: the
// definitions of the files a user writes. Every other definition follows
// in lexical order.
var topDefinitions = []string{"#Platform", "#Environment", "#App", "#TrainingJob", "#ModelService"}

// definition is one #Name of the schemas with its doc comment and value.
type definition struct {
	name, file, doc string
	value           ast.Expr
}

// SpecReference renders the spec reference from the CUE schemas that dmls
// embeds (schemas.FS), the single source of truth of every spec: a section
// per definition with its doc comment, and a row per field, nested structs
// flattened to dotted paths.
func SpecReference() ([]byte, error) {
	defs, err := schemaDefinitions(schemas.FS)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("<!-- Generated from the CUE schemas in schemas/ by `make docs` (internal/docgen); do not edit. -->\n\n")
	b.WriteString("# Spec reference\n\n")
	b.WriteString("The fields of every spec, generated from the CUE schemas in [`schemas/`](../schemas), which dmls embeds\n")
	b.WriteString("and checks every file and API request against. `platform.cue` is a [#Platform](#platform), each\n")
	b.WriteString("`overlays/<env>.cue` an [#Environment](#environment), and the files of `apps/<app>/` together an [#App](#app).\n")
	b.WriteString("What the fields do is told in [Concepts](concepts.md) and [The platform](platform.md).\n\n")
	b.WriteString("How to read a type: `a | b` is one of them, `*a` marks the default, `&` joins constraints, `=~` is a\n")
	b.WriteString("regular expression the value must match; a field ending in `?` is optional, one ending in `!` must be set,\n")
	b.WriteString("and `[pattern]: T` is a map whose keys match the pattern. A `#Name` in a type is defined below.\n\n")
	b.WriteString("| definition | file |\n|---|---|\n")
	for _, d := range defs {
		fmt.Fprintf(&b, "| [%s](#%s) | [`schemas/%s`](../schemas/%s) |\n", d.name, Slug(d.name), d.file, d.file)
	}
	for _, d := range defs {
		fmt.Fprintf(&b, "\n## %s\n\n", d.name)
		if d.doc != "" {
			b.WriteString(prose(d.doc) + "\n\n")
		}
		st, ok := d.value.(*ast.StructLit)
		if !ok || !hasFields(st) {
			fmt.Fprintf(&b, "```cue\n%s: %s\n```\n", d.name, source(d.value))
			continue
		}
		b.WriteString("| field | type | description |\n|---|---|---|\n")
		if err := fieldRows(&b, "", st); err != nil {
			return nil, fmt.Errorf("%s: %w", d.name, err)
		}
	}
	return []byte(b.String()), nil
}

// schemaDefinitions parses every .cue file of fsys and returns its
// top-level definitions, topDefinitions first.
func schemaDefinitions(fsys fs.FS) ([]definition, error) {
	names, err := fs.Glob(fsys, "*.cue")
	if err != nil {
		return nil, err
	}
	var defs []definition
	for _, name := range names {
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		f, err := parser.ParseFile(name, src, parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("parse schemas/%s: %w", name, err)
		}
		for _, decl := range f.Decls {
			field, ok := decl.(*ast.Field)
			if !ok {
				continue
			}
			label := source(field.Label)
			if !strings.HasPrefix(label, "#") {
				continue
			}
			defs = append(defs, definition{name: label, file: name, doc: docOf(field), value: field.Value})
		}
	}
	rank := func(name string) int {
		for i, top := range topDefinitions {
			if name == top {
				return i
			}
		}
		return len(topDefinitions)
	}
	sort.SliceStable(defs, func(i, j int) bool {
		ri, rj := rank(defs[i].name), rank(defs[j].name)
		if ri != rj {
			return ri < rj
		}
		return defs[i].name < defs[j].name
	})
	return defs, nil
}

// fieldRows writes a table row per field of st, with prefix before its
// name; a field whose value is a struct gets a row and then its own
// fields', and an embedded definition a row that names it.
func fieldRows(b *strings.Builder, prefix string, st *ast.StructLit) error {
	for _, elt := range st.Elts {
		switch e := elt.(type) {
		case *ast.Field:
			path := prefix + source(e.Label)
			name := path + constraintMark(e)
			if inner, ok := e.Value.(*ast.StructLit); ok && hasFields(inner) {
				fmt.Fprintf(b, "| `%s` | struct | %s |\n", cell(name), prose(docOf(e)))
				if err := fieldRows(b, path+".", inner); err != nil {
					return err
				}
				continue
			}
			fmt.Fprintf(b, "| `%s` | `%s` | %s |\n", cell(name), cell(source(e.Value)), prose(docOf(e)))
		case *ast.EmbedDecl:
			what := source(e.Expr)
			desc := "the fields of `" + cell(what) + "`"
			if id, ok := e.Expr.(*ast.Ident); ok && strings.HasPrefix(id.Name, "#") {
				desc = fmt.Sprintf("every field of [%s](#%s)", id.Name, Slug(id.Name))
			}
			if doc := docOf(e); doc != "" {
				desc += ": " + prose(doc)
			}
			fmt.Fprintf(b, "| `%s…` | `%s` | %s |\n", cell(prefix), cell(what), desc)
		case *ast.Ellipsis:
			fmt.Fprintf(b, "| `%s…` | `%s` | any other field |\n", cell(prefix), cell(source(e)))
		case *ast.CommentGroup, *ast.Attribute:
		default:
			return fmt.Errorf("unexpected %T in a struct at %s", elt, elt.Pos())
		}
	}
	return nil
}

// hasFields reports whether a struct literal declares a field or embeds
// one, rather than being only open ({...}) or empty.
func hasFields(st *ast.StructLit) bool {
	for _, elt := range st.Elts {
		switch elt.(type) {
		case *ast.Field, *ast.EmbedDecl:
			return true
		}
	}
	return false
}

// constraintMark is "?" for an optional field and "!" for a required one.
func constraintMark(f *ast.Field) string {
	switch f.Constraint.String() {
	case "?":
		return "?"
	case "!":
		return "!"
	}
	return ""
}

// docOf is a node's doc comment (and its line comment), as one paragraph.
func docOf(n ast.Node) string {
	var parts []string
	for _, cg := range ast.Comments(n) {
		if cg.Doc || cg.Line {
			parts = append(parts, strings.Join(strings.Fields(cg.Text()), " "))
		}
	}
	return strings.Join(parts, " ")
}

// spaceRE matches a run of white space that holds a line break.
var spaceRE = regexp.MustCompile(`\s*\n\s*`)

// source is a node as CUE source on one line, without its comments.
func source(n ast.Node) string {
	n = stripComments(n)
	b, err := format.Node(n)
	if err != nil {
		return fmt.Sprintf("%v", n)
	}
	s := spaceRE.ReplaceAllString(strings.TrimSpace(string(b)), " ")
	s = strings.ReplaceAll(strings.ReplaceAll(s, "{ ", "{"), " }", "}")
	return s
}

// stripComments returns n with every comment removed, so that the one-line
// source of a value holds no comment that would swallow the rest of it.
func stripComments(n ast.Node) ast.Node {
	ast.Walk(n, func(n ast.Node) bool {
		ast.SetComments(n, nil)
		return true
	}, nil)
	return n
}

// proseEscaper escapes what Markdown would read as markup in a schema
// comment: <app> would be an HTML tag, *PASSWORD* emphasis, a | a new cell.
var proseEscaper = strings.NewReplacer("<", "&lt;", ">", "&gt;", "*", `\*`, "_", `\_`, "|", `\|`, "`", "\\`")

// prose is a schema comment as Markdown text for a table cell or a
// paragraph.
func prose(s string) string { return proseEscaper.Replace(s) }

// cell escapes text for a Markdown table cell.
func cell(s string) string {
	return strings.ReplaceAll(s, "|", `\|`)
}
