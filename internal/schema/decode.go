package schema

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strings"
	"sync"

	"cuelang.org/go/cue"
)

// Decode decodes the concrete value v into x, a pointer, as v.Decode(x)
// does, and errs where it errs.
//
// cue.Value.Decode reads a struct by iterating its fields, and CUE orders
// the fields of every struct it iterates topologically: at 1,000 apps ×
// 3 environments that ordering was 7% of a cold render's CPU, spent on
// the order of fields of Go structs, which have their own. Decode looks
// up each field of a Go struct by its JSON name instead (a regular field:
// optional ones are not found, as Fields does not list them).
//
// It also reads scalars, lists and maps with string keys itself: CUE
// makes an evaluation context (about a kilobyte) for each Err, IsNull
// and Decode call, and cue.Value.Decode makes several for every value it
// reads, while String, Bool, Int64 and Float64 read a final value
// without one. Decoding an app took 227 KB and 236 µs that way, 142 KB
// and 150 µs this way (BenchmarkDecode, medians of 3 on an idle 2-core
// machine, load 0.39-0.49).
//
// It leaves to v.Decode interfaces, bytes, maps of other keys, types
// that decode themselves (json.Unmarshaler, encoding.TextUnmarshaler,
// cue.Unmarshaler), and a value that is not concrete or is an error. A
// struct type whose fields CUE could match another way (no JSON name, an
// embedded pointer, an unexported field) is decoded by v.Decode whole.
// On any error, the whole value is decoded by v.Decode again, so that
// the error is its. TestDecodeIsCUEDecode holds it to v.Decode on every
// app of the example and synthetic workspaces; cue.Value.Decode would
// also match a field whose name differs in case, which
// TestSpecTypesMatchSchemas rules out for the model's types (every CUE
// field has a Go field of its very JSON name).
func Decode(v cue.Value, x any) error {
	p := reflect.ValueOf(x)
	if p.Kind() != reflect.Pointer || p.IsNil() || !decodeValue(p.Elem(), v) {
		return v.Decode(x)
	}
	return nil
}

// decodeValue decodes v into x, reporting false on any error.
func decodeValue(x reflect.Value, v cue.Value) bool {
	v, _ = v.Default()
	// Kind and Exists read the evaluated value; Err and IsNull would
	// each make an evaluation context (an allocation of a kilobyte) for
	// every field. A value that is not concrete, or an error, is left to
	// v.Decode.
	k := v.Kind()
	if !v.Exists() || k == cue.BottomKind {
		return false
	}
	t := x.Type()
	if t.Kind() != reflect.Pointer && selfDecoding(reflect.PointerTo(t)) {
		return v.Decode(x.Addr().Interface()) == nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		if selfDecoding(t) {
			return v.Decode(x.Addr().Interface()) == nil
		}
		if k == cue.NullKind {
			x.SetZero()
			return true
		}
		e := reflect.New(t.Elem())
		if !decodeValue(e.Elem(), v) {
			return false
		}
		x.Set(e)
		return true
	case reflect.Struct:
		fields, ok := structFields(t)
		if !ok {
			return v.Decode(x.Addr().Interface()) == nil
		}
		if k != cue.StructKind {
			return false
		}
		for _, f := range fields {
			fv := v.LookupPath(f.path)
			if !fv.Exists() {
				continue
			}
			if !decodeValue(x.FieldByIndex(f.index), fv) {
				return false
			}
		}
		return true
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return v.Decode(x.Addr().Interface()) == nil // bytes
		}
		if k == cue.NullKind {
			x.SetZero()
			return true
		}
		list, err := v.List()
		if err != nil {
			return false
		}
		var elems []cue.Value
		for list.Next() {
			elems = append(elems, list.Value())
		}
		s := reflect.MakeSlice(t, len(elems), len(elems))
		for i, e := range elems {
			if !decodeValue(s.Index(i), e) {
				return false
			}
		}
		x.Set(s)
		return true
	case reflect.Map:
		// As cue.Value.Decode: entries go into the map there is, or a new
		// one; keys of string kind only (others are left to it).
		if t.Key().Kind() != reflect.String || selfDecoding(reflect.PointerTo(t.Key())) {
			return v.Decode(x.Addr().Interface()) == nil
		}
		if k == cue.NullKind {
			x.SetZero()
			return true
		}
		if k != cue.StructKind {
			return false
		}
		it, err := v.Fields()
		if err != nil {
			return false
		}
		if x.IsNil() {
			x.Set(reflect.MakeMap(t))
		}
		for it.Next() {
			e := reflect.New(t.Elem()).Elem()
			if !decodeValue(e, it.Value()) {
				return false
			}
			x.SetMapIndex(reflect.ValueOf(it.Selector().Unquoted()).Convert(t.Key()), e)
		}
		return true
	case reflect.String:
		str, err := v.String()
		if err != nil {
			return false
		}
		x.SetString(str)
		return true
	case reflect.Bool:
		b, err := v.Bool()
		if err != nil {
			return false
		}
		x.SetBool(b)
		return true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := v.Int64()
		if err != nil || x.OverflowInt(i) {
			return false
		}
		x.SetInt(i)
		return true
	case reflect.Float32, reflect.Float64:
		f, err := v.Float64()
		if err != nil || x.OverflowFloat(f) {
			return false
		}
		x.SetFloat(f)
		return true
	}
	return v.Decode(x.Addr().Interface()) == nil
}

// field is a Go struct field that Decode looks up: its JSON name and its
// index path (through embedded structs).
type field struct {
	name  string
	path  cue.Path
	index []int
}

var fieldsCache sync.Map // reflect.Type -> []field, or nil for "use Decode"

// structFields returns the fields of the struct type t as Decode reads
// them, or false when t is to be decoded by cue.Value.Decode.
func structFields(t reflect.Type) ([]field, bool) {
	if t.Kind() != reflect.Struct {
		return nil, true
	}
	if f, ok := fieldsCache.Load(t); ok {
		fs, _ := f.([]field)
		return fs, fs != nil
	}
	fs, ok := collectFields(t, nil)
	if !ok || selfDecoding(reflect.PointerTo(t)) {
		fs = nil
	}
	if fs == nil {
		fieldsCache.Store(t, nil)
		return nil, false
	}
	fieldsCache.Store(t, fs)
	return fs, true
}

func collectFields(t reflect.Type, at []int) ([]field, bool) {
	var out []field
	for i := range t.NumField() {
		f := t.Field(i)
		index := append(append([]int(nil), at...), i)
		tag, has := f.Tag.Lookup("json")
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			if f.Type.Kind() != reflect.Struct || selfDecoding(reflect.PointerTo(f.Type)) {
				return nil, false
			}
			inner, ok := collectFields(f.Type, index)
			if !ok {
				return nil, false
			}
			out = append(out, inner...)
			continue
		}
		if !f.IsExported() || !has || name == "" {
			return nil, false
		}
		if name == "-" {
			continue
		}
		out = append(out, field{name: name, path: cue.MakePath(cue.Str(name)), index: index})
	}
	// Two fields of one name (an embedded struct's and the outer's):
	// leave it to Decode.
	seen := map[string]bool{}
	for _, f := range out {
		if seen[f.name] {
			return nil, false
		}
		seen[f.name] = true
	}
	return out, true
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	cueUnmarshaler  = reflect.TypeFor[cue.Unmarshaler]()
)

// selfDecoding reports whether the pointer type p, or what it points to
// (for a pointer to a pointer), decodes itself.
func selfDecoding(p reflect.Type) bool {
	for ; p.Kind() == reflect.Pointer; p = p.Elem() {
		if p.Implements(jsonUnmarshaler) || p.Implements(textUnmarshaler) || p.Implements(cueUnmarshaler) {
			return true
		}
	}
	return false
}

// deepCopy returns a copy of v that shares no pointer, slice, map or
// interface value with it through exported fields (the model's types
// have no others).
func deepCopy(v reflect.Value) reflect.Value {
	c := reflect.New(v.Type()).Elem()
	copyInto(c, v)
	return c
}

func copyInto(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Pointer:
		if src.IsNil() {
			return
		}
		p := reflect.New(src.Type().Elem())
		copyInto(p.Elem(), src.Elem())
		dst.Set(p)
	case reflect.Struct:
		// Unexported fields cannot be set through reflection: copy the
		// struct whole first, then replace what it shares.
		dst.Set(src)
		for i := range src.NumField() {
			if dst.Field(i).CanSet() {
				copyInto(dst.Field(i), src.Field(i))
			}
		}
	case reflect.Slice:
		if src.IsNil() {
			return
		}
		s := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		for i := range src.Len() {
			copyInto(s.Index(i), src.Index(i))
		}
		dst.Set(s)
	case reflect.Array:
		for i := range src.Len() {
			copyInto(dst.Index(i), src.Index(i))
		}
	case reflect.Map:
		if src.IsNil() {
			return
		}
		m := reflect.MakeMapWithSize(src.Type(), src.Len())
		it := src.MapRange()
		for it.Next() {
			e := reflect.New(src.Type().Elem()).Elem()
			copyInto(e, it.Value())
			m.SetMapIndex(it.Key(), e)
		}
		dst.Set(m)
	case reflect.Interface:
		if src.IsNil() {
			return
		}
		e := reflect.New(src.Elem().Type()).Elem()
		copyInto(e, src.Elem())
		dst.Set(e)
	default:
		dst.Set(src)
	}
}
