package admission

import (
	"encoding/binary"
	"maps"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
)

// A reused is the API server's schema validator (kube-openapi's
// validate.SchemaValidator, which apiservervalidation.ValidateCustomResource
// runs) with its per-field validators kept across calls.
//
// Upstream builds a new SchemaValidator for every field and list item of
// every object it validates (objectValidator and schemaSliceValidator call
// SchemaValidatorOptions.NewValidatorForField/Index), which was a third of
// the cost of checking thousands of generated objects. The API server's
// ratcheting validator hooks the same two options; reused hooks them to
// return, for a field or index it has seen under the same parent, the
// validator it built then. That is the same validator upstream would
// build: a parent's schema decides the child's schema and path from the
// field name or index alone (properties and additionalProperties are
// exclusive per key), and SchemaValidator and its value validators hold
// no state between Validate calls (the API server reuses its root
// validator the same way when ratcheting is off). Where a parent's schema
// could give one key two schemas (patternProperties, tuple items,
// additionalItems), its children are built fresh, as upstream does.
//
// Each node keeps at most maxChildren children, so that map keys a user
// picks (labels, annotations) cannot grow it without bound in a
// long-running server; beyond that, children are built fresh.
type reused struct{ root *vnode }

var _ apiservervalidation.SchemaCreateValidator = reused{}

// maxChildren bounds the children a node keeps.
const maxChildren = 256

func newReused(schema *spec.Schema) reused {
	root := newVnode(schema, nil, "", strfmt.Default)
	// The root keeps its results too: objects of one shape (see shape)
	// are validated once.
	root.memo = &memo{m: map[string]*validate.Result{}}
	return reused{root: root}
}

// Validate validates new as apiservervalidation's create validator does.
func (r reused) Validate(new any, _ ...apiservervalidation.ValidationOption) *validate.Result {
	return r.root.validator().Validate(new)
}

// vnode is one field path's validator and its children's.
type vnode struct {
	sv *validate.SchemaValidator
	// keyed tells a schema whose children's schemas follow from their
	// field name or index alone.
	keyed  bool
	fields sync.Map // string -> *vnode
	items  sync.Map // int -> *vnode
	n      atomic.Int32
	// memo, for a large object schema, keeps its results (see memo).
	memo *memo
	// schema is the node's schema; shape, compiled from it on first use,
	// the memo's shape keys.
	schema    *spec.Schema
	shapeOnce sync.Once
	shape     *shape
}

func newVnode(schema *spec.Schema, root any, path string, formats strfmt.Registry) *vnode {
	n := &vnode{keyed: len(schema.PatternProperties) == 0 && schema.AdditionalItems == nil &&
		(schema.Items == nil || len(schema.Items.Schemas) == 0)}
	n.sv = validate.NewSchemaValidator(schema, root, path, formats, n.option)
	n.schema = schema
	if path != "" && len(schema.Properties) >= memoMinProperties {
		n.memo = &memo{m: map[string]*validate.Result{}}
	}
	return n
}

func (n *vnode) option(o *validate.SchemaValidatorOptions) {
	o.NewValidatorForField = n.field
	o.NewValidatorForIndex = n.index
}

func (n *vnode) field(name string, schema *spec.Schema, root any, path string, formats strfmt.Registry, opts ...validate.Option) validate.ValueValidator {
	return n.child(&n.fields, name, schema, root, path, formats, opts)
}

func (n *vnode) index(i int, schema *spec.Schema, root any, path string, formats strfmt.Registry, opts ...validate.Option) validate.ValueValidator {
	return n.child(&n.items, i, schema, root, path, formats, opts)
}

func (n *vnode) child(m *sync.Map, key any, schema *spec.Schema, root any, path string, formats strfmt.Registry, opts []validate.Option) validate.ValueValidator {
	if c, ok := m.Load(key); ok {
		return c.(*vnode).validator()
	}
	if !n.keyed || n.n.Load() >= maxChildren {
		return validate.NewSchemaValidator(schema, root, path, formats, opts...)
	}
	// The schema is copied: objectValidator passes the address of its
	// loop variable, which the next property overwrites.
	own := *schema
	c, loaded := m.LoadOrStore(key, newVnode(&own, root, path, formats))
	if !loaded {
		n.n.Add(1)
	}
	return c.(*vnode).validator()
}

// validator is the node's validator: its SchemaValidator, or for a large
// object schema (a pod spec, a container) one that keeps its results.
func (n *vnode) validator() validate.ValueValidator {
	if n.memo == nil {
		return n.sv
	}
	n.shapeOnce.Do(func() { n.shape = compileShape(n.schema, 0) })
	return memoized{n.sv, n.memo, n.shape}
}

// memoMinProperties is the size of an object schema whose results a node
// keeps: a pod spec has about 40 properties, a container about 20, a
// probe 8. A cold render of 1,000 apps × 3 environments spent 1.9 CPU-s
// in the schema validator without the memos, 0.9–1.1 s with them at this
// size; at 16 (pod specs and containers only) about 1.5 s; at 3 the keys
// cost more than the smaller memos save.
const memoMinProperties = 6

// maxMemo bounds the results a node keeps, so that a server's memos stay
// small (a pod spec's key is a few KB); when full, it starts over. An
// app's environments are checked one after another, so a short memory
// finds what they share: a cold render validated no more at 128 than at
// 512.
const maxMemo = 128

// A memo keeps the results of one field path's validator. The schema
// validator's result is a function of its schema, its path and the value
// alone, and most of the value does not matter to it: a string whose
// schema has no pattern, format, enum or length bounds is checked for
// being a string, nothing else. So a valid result is kept under the
// value's shape (see shape): its keys, its list lengths, the JSON type of
// every value, and the exact value of whatever a constraint looks at
// (numbers, and everything under an enum, a pattern, a format, bounds,
// uniqueItems or a combinator). Two TFJobs that differ in their names,
// images, arguments and namespaces, as an app's environments and most
// apps do, are then validated once. A result with errors or warnings
// names the values it refused, so it is kept under the exact value only.
type memo struct {
	mu sync.Mutex
	m  map[string]*validate.Result
}

// memoized is a node's SchemaValidator with its memo.
type memoized struct {
	*validate.SchemaValidator
	memo  *memo
	shape *shape
}

var keyBufs = sync.Pool{New: func() any { return new([]byte) }}

// Validate returns a copy of the result kept for data's shape or exact
// value, or validates it and keeps the result: a valid one by shape, one
// with findings by value. A value that the keys cannot encode exactly is
// validated every time.
func (v memoized) Validate(data any) *validate.Result {
	bp := keyBufs.Get().(*[]byte)
	defer keyBufs.Put(bp)
	key, ok := v.shape.key(append((*bp)[:0], 'S'), data)
	*bp = key
	if !ok {
		return v.SchemaValidator.Validate(data)
	}
	r, hit := v.memo.get(key)
	var exact []byte
	if !hit {
		exact, _ = valueKey(append(key[len(key):], 'E'), data)
		*bp = exact[:0]
		r, hit = v.memo.get(exact)
	}
	if !hit {
		r = v.SchemaValidator.Validate(data)
		if len(r.Errors) == 0 && len(r.Warnings) == 0 {
			v.memo.put(key, r)
		} else {
			v.memo.put(exact, r)
		}
	}
	// A copy: callers merge into the result they get.
	return &validate.Result{Errors: slices.Clone(r.Errors), Warnings: slices.Clone(r.Warnings), MatchCount: r.MatchCount}
}

func (m *memo) get(key []byte) (*validate.Result, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.m[string(key)]
	return r, ok
}

func (m *memo) put(key []byte, r *validate.Result) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.m) >= maxMemo {
		clear(m.m)
	}
	m.m[string(key)] = r
}

// A shape tells which parts of a value the schema validator's verdict can
// depend on, for one schema: a nil or exact shape keys the whole value.
type shape struct {
	exact bool
	// free: an object whose fields no schema validates (no properties,
	// no additionalProperties schema): only its keys count.
	free  bool
	props map[string]*shape
	extra *shape // additionalProperties
	items *shape
}

// maxShapeDepth bounds the compiled schema; deeper values are keyed
// exactly.
const maxShapeDepth = 64

// compileShape returns the shape of schema s.
func compileShape(s *spec.Schema, depth int) *shape {
	if s == nil || depth > maxShapeDepth || !valueFree(s) {
		return &shape{exact: true}
	}
	p := &shape{}
	if len(s.Properties) > 0 {
		p.props = make(map[string]*shape, len(s.Properties))
		for k := range s.Properties {
			c := s.Properties[k]
			p.props[k] = compileShape(&c, depth+1)
		}
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		p.extra = compileShape(s.AdditionalProperties.Schema, depth+1)
	}
	p.free = len(s.Properties) == 0 && p.extra == nil
	if s.Items != nil && s.Items.Schema != nil {
		p.items = compileShape(s.Items.Schema, depth+1)
	}
	return p
}

// valueFree reports whether kube-openapi's validators of s (typeValidator,
// schemaPropsValidator, stringValidator, formatValidator,
// numberValidator, sliceValidator, basicCommonValidator,
// objectValidator) judge a string or boolean by its type alone and an
// object or list by its keys, length and items: no constraint of s looks
// at a value. Numbers are always keyed exactly (a float that is a whole
// number passes as an integer).
func valueFree(s *spec.Schema) bool {
	return len(s.Enum) == 0 && s.Pattern == "" && s.Format == "" &&
		s.MaxLength == nil && s.MinLength == nil &&
		s.Maximum == nil && s.Minimum == nil && s.MultipleOf == nil &&
		len(s.AllOf) == 0 && len(s.AnyOf) == 0 && len(s.OneOf) == 0 && s.Not == nil &&
		len(s.Dependencies) == 0 && len(s.PatternProperties) == 0 &&
		s.AdditionalItems == nil && !s.UniqueItems &&
		(s.Items == nil || len(s.Items.Schemas) == 0) &&
		s.Ref.String() == ""
}

// key appends to b the shape key of the JSON value v: what valueKey
// writes, except that a string or boolean that p does not constrain is
// written as its type, and the fields of a free object as their names.
func (p *shape) key(b []byte, v any) ([]byte, bool) {
	if p == nil || p.exact {
		return valueKey(b, v)
	}
	switch x := v.(type) {
	case string:
		return append(b, 'S'), true
	case bool:
		return append(b, 'B'), true
	case []any:
		return appendList(b, x, func(b []byte, e any) ([]byte, bool) { return p.items.key(b, e) })
	case map[string]any:
		return appendMap(b, x, func(b []byte, k string, e any) ([]byte, bool) {
			if p.free {
				return append(b, '-'), true
			}
			c, known := p.props[k]
			if !known {
				c = p.extra
			}
			return c.key(b, e)
		})
	}
	return valueKey(b, v)
}

// appendList appends the list x: its length, and each item as item
// appends it.
func appendList(b []byte, x []any, item func([]byte, any) ([]byte, bool)) ([]byte, bool) {
	b = binary.AppendUvarint(append(b, 'l'), uint64(len(x)))
	var ok bool
	for _, e := range x {
		if b, ok = item(b, e); !ok {
			return b, false
		}
	}
	return b, true
}

// appendMap appends the object x: its size, and in key order each key and
// its value as field appends it.
func appendMap(b []byte, x map[string]any, field func([]byte, string, any) ([]byte, bool)) ([]byte, bool) {
	b = binary.AppendUvarint(append(b, 'm'), uint64(len(x)))
	var ok bool
	for _, k := range slices.Sorted(maps.Keys(x)) {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		if b, ok = field(b, k, x[k]); !ok {
			return b, false
		}
	}
	return b, true
}

// valueKey appends to b an encoding of the JSON value v that tells every
// two values apart that differ in a key, a value or a Go type (an int64
// and the float64 of the same number validate differently). It reports
// false for a type a decoded object does not hold.
func valueKey(b []byte, v any) ([]byte, bool) {
	switch x := v.(type) {
	case nil:
		return append(b, 'n'), true
	case bool:
		if x {
			return append(b, 't'), true
		}
		return append(b, 'f'), true
	case string:
		b = binary.AppendUvarint(append(b, 's'), uint64(len(x)))
		return append(b, x...), true
	case int64:
		return binary.BigEndian.AppendUint64(append(b, 'i'), uint64(x)), true
	case float64:
		return binary.BigEndian.AppendUint64(append(b, 'd'), math.Float64bits(x)), true
	case []any:
		return appendList(b, x, func(b []byte, e any) ([]byte, bool) { return valueKey(b, e) })
	case map[string]any:
		return appendMap(b, x, func(b []byte, _ string, e any) ([]byte, bool) { return valueKey(b, e) })
	}
	return b, false
}
