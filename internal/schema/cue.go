package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"runtime"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
	cuejson "cuelang.org/go/encoding/json"
	cueyaml "cuelang.org/go/encoding/yaml"

	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/provenance"
)

// Schema definition paths.
var (
	DefPlatform    = cue.ParsePath("#Platform")
	DefEnvironment = cue.ParsePath("#Environment")
	DefApp         = cue.ParsePath("#App")
)

// schemaFilePrefix marks positions inside the embedded schemas, which are
// never the user's own line.
const schemaFilePrefix = "$dmls/schemas/"

// MaxSpecBytes bounds one spec file (app.json, app.cue, ...); specs are
// small, and a bound keeps a stray data file from exhausting memory. The
// loader refuses a larger file, and the API a body that would make one.
const MaxSpecBytes = 1 << 20

// Evaluator owns one CUE context and the schema built in it. A CUE context
// is not safe for concurrent use, so each worker has its own Evaluator.
type Evaluator struct {
	ctx    *cue.Context
	schema cue.Value
	// sub are the schemas of fields of #App, by dotted path, as the fast
	// path of loadApp evaluates them.
	sub map[string]cue.Value
	// evals are EvalInto's checked values, by path and value, each with
	// what it decoded to (see EvalInto).
	evals map[string]evalled
}

func NewEvaluator() (*Evaluator, error) { return buildEvaluator(SchemaOptions{}) }

// idle are evaluators built before that no one uses (ReleaseEvaluator).
// Building one compiles every embedded schema: a server that loads the
// workspace for every batch of changes did that for each load and each
// of its workers, and now compiles them once per worker for its life.
var idle = make(chan *Evaluator, 2*runtime.GOMAXPROCS(0)+2)

// AcquireEvaluator returns an evaluator that no one else uses: one given
// back with ReleaseEvaluator, or a new one.
func AcquireEvaluator() (*Evaluator, error) {
	select {
	case e := <-idle:
		return e, nil
	default:
		return NewEvaluator()
	}
}

// ReleaseEvaluator gives e back for AcquireEvaluator. The caller must not
// use e again, nor any value built with it: the loader keeps none (what it
// loads is Go data), and its next user builds other values in the same
// CUE context, as the API's request schema does (Schema).
func ReleaseEvaluator(e *Evaluator) {
	if e == nil {
		return
	}
	select {
	case idle <- e:
	default:
	}
}

// ParseFile parses one spec file, .cue, .yaml, .yml or .json, into a CUE
// value whose positions name the file as the user sees it.
func (e *Evaluator) ParseFile(name string, src []byte) (cue.Value, error) {
	if len(src) > MaxSpecBytes {
		return cue.Value{}, fmt.Errorf("%s: file is %d bytes; spec files may be at most %d", name, len(src), MaxSpecBytes)
	}
	var expr ast.Expr
	switch path.Ext(name) {
	case ".cue":
		f, err := parser.ParseFile(name, src, parser.ParseComments)
		if err != nil {
			return cue.Value{}, err
		}
		v := e.ctx.BuildFile(f)
		return v, v.Err()
	case ".yaml", ".yml":
		if n := bytes.Count(src, []byte("\n---")); n > 0 || bytes.HasPrefix(src, []byte("---\n---")) {
			return cue.Value{}, fmt.Errorf("%s: a spec file holds one YAML document, found more", name)
		}
		f, err := cueyaml.Extract(name, src)
		if err != nil {
			return cue.Value{}, err
		}
		v := e.ctx.BuildFile(f)
		return v, v.Err()
	case ".json":
		x, err := cuejson.Extract(name, src)
		if err != nil {
			return cue.Value{}, err
		}
		expr = x
	default:
		return cue.Value{}, fmt.Errorf("%s: unknown spec file type; use .cue, .yaml, .yml or .json", name)
	}
	v := e.ctx.BuildExpr(expr)
	return v, v.Err()
}

// FromJSON builds a CUE value from merged JSON data. Its positions are
// meaningless; errors on it are placed through a provenance map.
func (e *Evaluator) FromJSON(data any) (cue.Value, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return cue.Value{}, err
	}
	return e.fromJSON(b)
}

func (e *Evaluator) fromJSON(b []byte) (cue.Value, error) {
	x, err := cuejson.Extract("merged.json", b)
	if err != nil {
		return cue.Value{}, err
	}
	v := e.ctx.BuildExpr(x)
	return v, v.Err()
}

// ToData turns a concrete CUE value into plain JSON data (maps, slices,
// json.Number, strings, bools), the form that environment layers merge.
func ToData(v cue.Value) (map[string]any, error) {
	b, err := v.MarshalJSON()
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// Positions records where each field of v was written.
func Positions(v cue.Value, prov provenance.Map) {
	var walk func(p string, v cue.Value)
	walk = func(p string, v cue.Value) {
		prov.Set(p, toPos(v.Pos()))
		switch v.IncompleteKind() {
		case cue.StructKind:
			it, err := v.Fields(cue.Optional(true))
			if err != nil {
				return
			}
			for it.Next() {
				walk(provenance.Join(p, selectorString(it.Selector())), it.Value())
			}
		case cue.ListKind:
			it, err := v.List()
			if err != nil {
				return
			}
			for i := 0; it.Next(); i++ {
				walk(fmt.Sprintf("%s[%d]", p, i), it.Value())
			}
		}
	}
	walk("", v)
}

func selectorString(s cue.Selector) string {
	if s.LabelType() == cue.StringLabel {
		return s.Unquoted()
	}
	return s.String()
}

func toPos(p token.Pos) provenance.Pos {
	if !p.IsValid() || strings.HasPrefix(p.Filename(), schemaFilePrefix) || p.Filename() == "merged.json" {
		return provenance.Pos{}
	}
	return provenance.Pos{File: p.Filename(), Line: p.Line(), Col: p.Column()}
}

// skeleton rebuilds v with every scalar replaced by _ (top), keeping
// Positions. Unified with a schema, it can fail only on structure: CUE
// reports an unknown field only in a struct without other errors, and the
// skeleton has no other errors, so every unknown field is found.
func skeleton(v cue.Value) ast.Expr {
	switch v.IncompleteKind() {
	case cue.StructKind:
		s := &ast.StructLit{}
		it, err := v.Fields(cue.Optional(true))
		if err != nil {
			return Top(v)
		}
		for it.Next() {
			if it.Selector().LabelType() != cue.StringLabel {
				continue
			}
			label := ast.NewString(it.Selector().Unquoted())
			ast.SetPos(label, it.Value().Pos())
			s.Elts = append(s.Elts, &ast.Field{Label: label, Value: skeleton(it.Value())})
		}
		return s
	case cue.ListKind:
		l := &ast.ListLit{}
		it, err := v.List()
		if err != nil {
			return Top(v)
		}
		for it.Next() {
			l.Elts = append(l.Elts, skeleton(it.Value()))
		}
		return l
	default:
		return Top(v)
	}
}

func Top(v cue.Value) ast.Expr {
	id := ast.NewIdent("_")
	ast.SetPos(id, v.Pos())
	return id
}

// UnknownFields finds the fields of v that def does not allow, except at
// paths that found already reports. It completes a failed validation,
// which stops short of unknown fields in structs with other errors.
func UnknownFields(ev *Evaluator, def cue.Path, v cue.Value, prov provenance.Map, fallback provenance.Pos, found diag.List) diag.List {
	sk := ev.ctx.BuildExpr(skeleton(v))
	err := ev.schema.LookupPath(def).Unify(sk).Validate()
	if err == nil {
		return nil
	}
	seen := map[string]bool{}
	for _, d := range found {
		seen[d.Path] = true
	}
	var out diag.List
	for _, d := range FromCUE(err, def.String(), prov, fallback) {
		if !seen[d.Path] && strings.HasPrefix(d.Message, "field not allowed") {
			out = append(out, d)
		}
	}
	return out
}

// Schema returns the compiled schemas, in the Evaluator's context.
func (e *Evaluator) Schema() cue.Value { return e.schema }
