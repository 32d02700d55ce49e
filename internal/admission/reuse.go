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
	return reused{root: newVnode(schema, nil, "", strfmt.Default)}
}

// Validate validates new as apiservervalidation's create validator does.
func (r reused) Validate(new any, _ ...apiservervalidation.ValidationOption) *validate.Result {
	return r.root.sv.Validate(new)
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
}

func newVnode(schema *spec.Schema, root any, path string, formats strfmt.Registry) *vnode {
	n := &vnode{keyed: len(schema.PatternProperties) == 0 && schema.AdditionalItems == nil &&
		(schema.Items == nil || len(schema.Items.Schemas) == 0)}
	n.sv = validate.NewSchemaValidator(schema, root, path, formats, n.option)
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
	return memoized{n.sv, n.memo}
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

// A memo keeps the results of one field path's validator by the exact
// value validated. The schema validator's result is a function of its
// schema, its path and the value alone, so a value validated before (the
// same pod spec in an app's three environments, or in two replica sets)
// gets the same result without a second walk of its schema.
type memo struct {
	mu sync.Mutex
	m  map[string]*validate.Result
}

// memoized is a node's SchemaValidator with its memo.
type memoized struct {
	*validate.SchemaValidator
	memo *memo
}

var keyBufs = sync.Pool{New: func() any { return new([]byte) }}

// Validate returns a copy of the kept result for data, or validates it
// and keeps the result. A value that valueKey cannot encode exactly is
// validated every time.
func (v memoized) Validate(data any) *validate.Result {
	bp := keyBufs.Get().(*[]byte)
	defer keyBufs.Put(bp)
	key, ok := valueKey((*bp)[:0], data)
	*bp = key
	if !ok {
		return v.SchemaValidator.Validate(data)
	}
	v.memo.mu.Lock()
	r, hit := v.memo.m[string(key)]
	v.memo.mu.Unlock()
	if !hit {
		r = v.SchemaValidator.Validate(data)
		v.memo.mu.Lock()
		if len(v.memo.m) >= maxMemo {
			clear(v.memo.m)
		}
		v.memo.m[string(key)] = r
		v.memo.mu.Unlock()
	}
	// A copy: callers merge into the result they get.
	return &validate.Result{Errors: slices.Clone(r.Errors), Warnings: slices.Clone(r.Warnings), MatchCount: r.MatchCount}
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
		b = binary.AppendUvarint(append(b, 'l'), uint64(len(x)))
		for _, e := range x {
			var ok bool
			if b, ok = valueKey(b, e); !ok {
				return b, false
			}
		}
		return b, true
	case map[string]any:
		b = binary.AppendUvarint(append(b, 'm'), uint64(len(x)))
		for _, k := range slices.Sorted(maps.Keys(x)) {
			b = binary.AppendUvarint(b, uint64(len(k)))
			b = append(b, k...)
			var ok bool
			if b, ok = valueKey(b, x[k]); !ok {
				return b, false
			}
		}
		return b, true
	}
	return b, false
}
