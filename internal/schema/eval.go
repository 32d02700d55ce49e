package schema

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"reflect"
	"strings"
	"sync"

	"cuelang.org/go/cue"
	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/schemas"
)

// Validate checks v against the schema definition def and decodes it into
// target. Findings are placed through prov when CUE has no user position.
func Validate(ev *Evaluator, def cue.Path, v cue.Value, prov provenance.Map, fallback provenance.Pos, target any) diag.List {
	u := ev.schema.LookupPath(def).Unify(v)
	if err := u.Validate(cue.Concrete(true), cue.Final()); err != nil {
		found := FromCUE(err, def.String(), prov, fallback)
		if def.String() != DefApp.String() { // an app's files were checked by loadApp
			found = append(found, UnknownFields(ev, def, v, prov, fallback, found)...)
		}
		return found
	}
	if err := u.Decode(target); err != nil {
		var d diag.List
		d.Add(fallback, "", "decode: %v", err)
		return d
	}
	return nil
}

// Digest identifies the embedded schemas: a cache key of anything evaluated
// against them.
var Digest = sync.OnceValue(func() string {
	h := sha256.New()
	_ = fs.WalkDir(schemas.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := fs.ReadFile(schemas.FS, p)
			fmt.Fprintf(h, "%s %d\n", p, len(b))
			h.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))
})

// EvalInto unifies v, plain data, with the schema of #App at path p and
// decodes the result into dst, a field of spec.AppSpec or of one of its
// sections, replacing what it held.
//
// The checked value is kept by path and value (its JSON, whose objects
// encoding/json writes with sorted keys), so that the same section in
// another app or environment (an environment's replica counts,
// resources or scaling, which most apps share) is only copied: unifying
// with the schema and validating was most of what the environments of
// 1,000 apps cost the loader, and decoding what was left (an evaluation
// context for every field looked up). Each caller gets its own copy,
// which shares nothing with the kept value. A value that fails is not
// kept.
func (e *Evaluator) EvalInto(p []string, v any, dst reflect.Value) bool {
	key := strings.Join(p, ".")
	s, ok := e.sub[key]
	if !ok {
		sels := []cue.Selector{}
		for _, x := range p {
			sels = append(sels, cue.Str(x).Optional())
		}
		s = e.schema.LookupPath(DefApp).LookupPath(cue.MakePath(sels...))
		if e.sub == nil {
			e.sub = map[string]cue.Value{}
		}
		e.sub[key] = s
	}
	if !s.Exists() {
		return false
	}
	b, err := json.Marshal(v)
	if err != nil {
		return false
	}
	ek := key + "\x00" + string(b)
	u, hit := e.evals[ek]
	if hit && u.decoded.IsValid() && u.decoded.Type() == dst.Type() {
		dst.Set(deepCopy(u.decoded))
		return true
	}
	if !hit {
		x, err := e.fromJSON(b)
		if err != nil {
			return false
		}
		u.v = s.Unify(x)
		if err := u.v.Validate(cue.Concrete(true), cue.Final()); err != nil {
			return false
		}
	}
	nv := reflect.New(dst.Type())
	if err := Decode(u.v, nv.Interface()); err != nil {
		return false
	}
	u.decoded = nv.Elem()
	if e.evals == nil || len(e.evals) >= maxEvals {
		e.evals = map[string]evalled{}
	}
	e.evals[ek] = u
	dst.Set(deepCopy(u.decoded))
	return true
}

// evalled is a value EvalInto checked, and the Go value it decoded to,
// which EvalInto hands out copies of.
type evalled struct {
	v       cue.Value
	decoded reflect.Value
}

// maxEvals bounds the values EvalInto keeps per evaluator; when full, it
// starts over.
const maxEvals = 1024

// FieldByJSON returns the field of the struct v whose JSON name is name,
// looking into embedded structs, or the zero Value.
func FieldByJSON(v reflect.Value, name string) reflect.Value {
	if v.Kind() != reflect.Struct {
		return reflect.Value{}
	}
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			if r := FieldByJSON(v.Field(i), name); r.IsValid() {
				return r
			}
			continue
		}
		if tag, _, _ := strings.Cut(f.Tag.Get("json"), ","); tag == name {
			return v.Field(i)
		}
	}
	return reflect.Value{}
}
