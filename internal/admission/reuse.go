package admission

import (
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
}

func newVnode(schema *spec.Schema, root any, path string, formats strfmt.Registry) *vnode {
	n := &vnode{keyed: len(schema.PatternProperties) == 0 && schema.AdditionalItems == nil &&
		(schema.Items == nil || len(schema.Items.Schemas) == 0)}
	n.sv = validate.NewSchemaValidator(schema, root, path, formats, n.option)
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
		return c.(*vnode).sv
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
	return c.(*vnode).sv
}
