// Package admission checks generated objects offline the way the API server
// would admit them: custom objects against their upstream CRD's
// openAPIV3Schema with the API server's own validator, pruning and CEL rules.
//
// The CRDs are copies of the upstream files in the Go module cache,
// embedded so that the binary needs no module cache at run time; a test
// checks that each copy still equals its upstream file.
//
// # Profile
//
// A cold render of 1,000 apps × 3 environments checks ~6,000 app objects
// and ~7,000 platform and Argo CD objects. Its profile spent 7.2 s of CPU
// here, most of it not in the rules: kube-openapi builds a SchemaValidator
// for every field and list item of every object on every call (1.6 s), the
// objects were encoded to JSON and decoded again to get the API server's
// number types (1.3 s), pruning worked on a deep copy, and the generated
// trees were parsed YAML -> map -> JSON -> map. Now the per-field
// validators are kept (see reused; a TFJob costs half, a Knative Service
// a third), generator values are copied to their decoded form directly
// (jsonCopy), pruning runs in place, and tree files are decoded once from
// JSON (CheckJSON). The rules are upstream's own, unchanged; a test holds
// every finding to upstream's validator built per call.
//
// An app's three environments differ in a few values (a namespace, a
// label, a replica count), not in their pod specs; nor do the replica
// sets of one job. The kept validator of each large object schema (a pod
// spec, a container, a probe) therefore kept its result by the exact
// value it validated, and a value seen before was not walked again: the
// schema validator's CPU in a cold render of 1,000 apps fell from 1.9 s
// to 1.1 s. Most of what still differed were strings no constraint looks
// at: names, images, arguments, namespaces. A valid result is now kept
// by the value's shape (see memo and shape), and the root of each kind
// keeps its results too, so that objects of one shape (most of an app's
// environments, and most apps) are walked once: 1.1 s → 0.14 s of
// schema validation, with upstream's findings for every constraint
// (TestShapeMemo).
package admission

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"path"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	structurallisttype "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"
)

// The embedded CRDs, one file per CRD, named <plural>.<group>.json: the
// upstream YAML as JSON (crdJSON), which decodes about five times faster
// (the 2 MB KServe InferenceService CRD took 120 ms to parse as YAML, on
// the path of the first KServe app a render checks).
//
//go:embed crds/*.json
var crdFiles embed.FS

// CRDDir is the folder of the embedded CRD files.
const CRDDir = "crds"

// version is one served version of a CRD, ready to validate objects.
type version struct {
	crd        string
	namespaced bool
	structural *structuralschema.Structural
	// validator is upstream's, as the API server builds it; reused is the
	// same validator with its per-field validators kept (see reused),
	// which Validate runs.
	validator apiservervalidation.SchemaValidator
	reused    reused
	cel       *cel.Validator
	// embedded tells whether the schema has an embedded resource
	// (x-kubernetes-embedded-resource) where objectmeta.Validate looks.
	embedded bool
	// listed tells whether the schema has a list of type set or map
	// where listtype.ValidateListSetsAndMaps looks.
	listed bool
	// defaulted tells whether the schema has a default where
	// structuraldefaulting.Default looks.
	defaulted bool
}

// Schemas validates custom objects against a set of CRDs. It is safe for
// concurrent use.
type Schemas struct {
	byGVK map[schema.GroupVersionKind]kindRef
}

// kindRef is where one served version of a kind is defined.
type kindRef struct {
	file    *crdFile
	version string
}

// crdFile is one CRD, prepared on first use: parsing the embedded CRDs
// (7.6 MB of YAML then, 3.1 MB of JSON now) and building their validators
// was a third of the CPU of a warm render that rebuilds one app, which
// needs two or three kinds.
type crdFile struct {
	name     string
	once     sync.Once
	src      func() ([]byte, error) // nil once prepared by Add
	versions map[string]*version
	err      error
}

// prepare parses the CRD and builds its versions, once.
func (f *crdFile) prepare() error {
	f.once.Do(func() {
		if f.src == nil {
			return
		}
		b, err := f.src()
		if err != nil {
			f.err = err
			return
		}
		crds, err := decodeCRDs(b)
		if err != nil {
			f.err = fmt.Errorf("CRD %s: %w", f.name, err)
			return
		}
		if len(crds) != 1 || crds[0].Name != f.name {
			f.err = fmt.Errorf("CRD %s: the file does not hold just that CRD", f.name)
			return
		}
		f.versions, f.err = prepareCRD(crds[0])
		if f.err != nil {
			f.err = fmt.Errorf("CRD %s: %w", f.name, f.err)
		}
	})
	return f.err
}

// New returns an empty set of schemas; Add fills it.
func New() *Schemas {
	return &Schemas{byGVK: map[schema.GroupVersionKind]kindRef{}}
}

var (
	defaultOnce    sync.Once
	defaultSchemas *Schemas
	defaultErr     error
)

// embeddedKinds are the kinds each embedded CRD file defines, so that
// Default knows them without parsing the files; TestEmbeddedKinds holds
// it to the files.
var embeddedKinds = map[string][]schema.GroupVersionKind{
	"applications.argoproj.io":                     {{Group: "argoproj.io", Version: "v1alpha1", Kind: "Application"}},
	"appprojects.argoproj.io":                      {{Group: "argoproj.io", Version: "v1alpha1", Kind: "AppProject"}},
	"clusters.kops.k8s.io":                         {{Group: "kops.k8s.io", Version: "v1alpha2", Kind: "Cluster"}},
	"externalsecrets.external-secrets.io":          {{Group: "external-secrets.io", Version: "v1", Kind: "ExternalSecret"}},
	"inferenceservices.serving.kserve.io":          {{Group: "serving.kserve.io", Version: "v1beta1", Kind: "InferenceService"}},
	"instancegroups.kops.k8s.io":                   {{Group: "kops.k8s.io", Version: "v1alpha2", Kind: "InstanceGroup"}},
	"services.serving.knative.dev":                 {{Group: "serving.knative.dev", Version: "v1", Kind: "Service"}},
	"tfjobs.kubeflow.org":                          {{Group: "kubeflow.org", Version: "v1", Kind: "TFJob"}},
	"trainjobs.trainer.kubeflow.org":               {{Group: "trainer.kubeflow.org", Version: "v1alpha1", Kind: "TrainJob"}},
	"trainingruntimes.trainer.kubeflow.org":        {{Group: "trainer.kubeflow.org", Version: "v1alpha1", Kind: "TrainingRuntime"}},
	"clustertrainingruntimes.trainer.kubeflow.org": {{Group: "trainer.kubeflow.org", Version: "v1alpha1", Kind: "ClusterTrainingRuntime"}},
	"clusterqueues.kueue.x-k8s.io":                 {{Group: "kueue.x-k8s.io", Version: "v1beta1", Kind: "ClusterQueue"}, {Group: "kueue.x-k8s.io", Version: "v1beta2", Kind: "ClusterQueue"}},
	"localqueues.kueue.x-k8s.io":                   {{Group: "kueue.x-k8s.io", Version: "v1beta1", Kind: "LocalQueue"}, {Group: "kueue.x-k8s.io", Version: "v1beta2", Kind: "LocalQueue"}},
	"resourceflavors.kueue.x-k8s.io":               {{Group: "kueue.x-k8s.io", Version: "v1beta1", Kind: "ResourceFlavor"}, {Group: "kueue.x-k8s.io", Version: "v1beta2", Kind: "ResourceFlavor"}},
	"workloadpriorityclasses.kueue.x-k8s.io":       {{Group: "kueue.x-k8s.io", Version: "v1beta1", Kind: "WorkloadPriorityClass"}, {Group: "kueue.x-k8s.io", Version: "v1beta2", Kind: "WorkloadPriorityClass"}},
	"workloads.kueue.x-k8s.io":                     {{Group: "kueue.x-k8s.io", Version: "v1beta1", Kind: "Workload"}, {Group: "kueue.x-k8s.io", Version: "v1beta2", Kind: "Workload"}},
}

// Default returns the schemas of the embedded upstream CRDs. Each CRD is
// parsed and prepared when an object of its kind is first checked.
func Default() (*Schemas, error) {
	defaultOnce.Do(func() {
		defaultSchemas, defaultErr = lazy(crdFiles)
	})
	return defaultSchemas, defaultErr
}

// lazy returns the schemas of fsys's CRD files, as embeddedKinds lists
// them, each prepared on first use.
func lazy(fsys embed.FS) (*Schemas, error) {
	entries, err := fsys.ReadDir(CRDDir)
	if err != nil {
		return nil, err
	}
	s := New()
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), crdExt)
		kinds, ok := embeddedKinds[name]
		if !ok {
			return nil, fmt.Errorf("CRD file %s is not in embeddedKinds", e.Name())
		}
		file := path.Join(CRDDir, e.Name())
		f := &crdFile{name: name, src: func() ([]byte, error) { return fsys.ReadFile(file) }}
		for _, gvk := range kinds {
			s.byGVK[gvk] = kindRef{file: f, version: gvk.Version}
		}
	}
	return s, nil
}

// load returns the schemas of fsys's CRD files, each parsed and prepared
// now.
func load(fsys embed.FS) (*Schemas, error) {
	entries, err := fsys.ReadDir(CRDDir)
	if err != nil {
		return nil, err
	}
	s := New()
	for _, e := range entries {
		b, err := fsys.ReadFile(path.Join(CRDDir, e.Name()))
		if err != nil {
			return nil, err
		}
		if err := s.Add(b); err != nil {
			return nil, fmt.Errorf("CRD %s: %w", e.Name(), err)
		}
	}
	return s, nil
}

// decodeCRDs decodes the CRDs of a YAML stream.
func decodeCRDs(src []byte) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(src), 4096)
	var out []*apiextensionsv1.CustomResourceDefinition
	for {
		var crd apiextensionsv1.CustomResourceDefinition
		err := dec.Decode(&crd)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if crd.Kind == "" {
			continue
		}
		if crd.Kind != "CustomResourceDefinition" {
			return nil, fmt.Errorf("%s %s is not a CustomResourceDefinition", crd.Kind, crd.Name)
		}
		out = append(out, &crd)
	}
}

// crdExt ends every embedded CRD file.
const crdExt = ".json"

// crdJSON returns the one CRD of the YAML stream src as the JSON the API
// machinery's YAML decoder converts it to: the form of the embedded files.
func crdJSON(src []byte) ([]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(src)))
	var out []byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, err
		}
		if string(j) == "null" { // only comments, or nothing
			continue
		}
		if out != nil {
			return nil, fmt.Errorf("more than one document")
		}
		out = j
	}
	if out == nil {
		return nil, fmt.Errorf("no document")
	}
	return out, nil
}

// Add adds the CRDs of a YAML stream, prepared now.
func (s *Schemas) Add(src []byte) error {
	crds, err := decodeCRDs(src)
	if err != nil {
		return err
	}
	for _, crd := range crds {
		versions, err := prepareCRD(crd)
		if err != nil {
			return fmt.Errorf("%s: %w", crd.Name, err)
		}
		f := &crdFile{name: crd.Name, versions: versions}
		f.once.Do(func() {})
		for name := range versions {
			gvk := schema.GroupVersionKind{Group: crd.Spec.Group, Version: name, Kind: crd.Spec.Names.Kind}
			s.byGVK[gvk] = kindRef{file: f, version: name}
		}
	}
	return nil
}

// prepareCRD prepares each served version as the API server does
// (customresource_handler.go): convert to the internal schema, build the
// structural schema with pruned defaults, the schema validator and the CEL
// validator.
func prepareCRD(crd *apiextensionsv1.CustomResourceDefinition) (map[string]*version, error) {
	out := map[string]*version{}
	for _, v := range crd.Spec.Versions {
		if !v.Served || v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			continue
		}
		internal := &apiextensionsinternal.CustomResourceValidation{}
		if err := apiextensionsv1.Convert_v1_CustomResourceValidation_To_apiextensions_CustomResourceValidation(v.Schema, internal, nil); err != nil {
			return nil, fmt.Errorf("version %s: %w", v.Name, err)
		}
		st, err := structuralschema.NewStructural(internal.OpenAPIV3Schema)
		if err != nil {
			return nil, fmt.Errorf("version %s: structural schema: %w", v.Name, err)
		}
		st = st.DeepCopy()
		if err := structuraldefaulting.PruneDefaults(st); err != nil {
			return nil, fmt.Errorf("version %s: %w", v.Name, err)
		}
		validator, openapi, err := apiservervalidation.NewSchemaValidator(internal.OpenAPIV3Schema)
		if err != nil {
			return nil, fmt.Errorf("version %s: %w", v.Name, err)
		}
		out[v.Name] = &version{
			crd:        crd.Name,
			namespaced: crd.Spec.Scope == apiextensionsv1.NamespaceScoped,
			structural: st,
			validator:  validator,
			reused:     newReused(openapi),
			embedded:   hasEmbedded(st),
			listed:     hasListType(st),
			defaulted:  hasDefault(st),
			cel:        cel.NewValidator(st, true, celconfig.PerCallLimit),
		}
	}
	return out, nil
}

// get returns the prepared version of gvk; ok is false for a kind the
// schemas do not know.
func (s *Schemas) get(gvk schema.GroupVersionKind) (v *version, ok bool, err error) {
	r, ok := s.byGVK[gvk]
	if !ok {
		return nil, false, nil
	}
	if err := r.file.prepare(); err != nil {
		return nil, true, err
	}
	v, ok = r.file.versions[r.version]
	if !ok {
		return nil, true, fmt.Errorf("CRD %s does not serve %s", r.file.name, gvk.Version)
	}
	return v, true, nil
}

// Kinds returns the group/version/kinds the schemas know, sorted.
func (s *Schemas) Kinds() []schema.GroupVersionKind {
	out := make([]schema.GroupVersionKind, 0, len(s.byGVK))
	for gvk := range s.byGVK {
		out = append(out, gvk)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// Knows reports whether the schemas cover gvk.
func (s *Schemas) Knows(gvk schema.GroupVersionKind) bool {
	_, ok := s.byGVK[gvk]
	return ok
}

// Finding is one reason the API server would refuse an object.
type Finding struct {
	// Field is the object's field path in dmls's trace form:
	// spec.tfReplicaSpecs.Worker.template.spec.containers[0].image.
	Field string
	// Message says what is wrong and what would be valid.
	Message string
	// Changed, for a finding of UpdateErrors, is the first field under
	// Field whose value changed (Field itself when Field changed as a
	// whole).
	Changed string
}

// Validate checks obj as the API server would on create: defaulting, then
// fields the server would prune as unknown (an error here, since they
// would be lost silently), then the openAPIV3Schema, embedded object
// metadata, list-type invariants and x-kubernetes-validations rules. It
// returns nil for kinds it does not know; use Knows to tell.
func (s *Schemas) Validate(obj *unstructured.Unstructured) []Finding {
	v, ok, err := s.get(obj.GroupVersionKind())
	if !ok {
		return nil
	}
	if err != nil {
		return []Finding{{Message: err.Error()}}
	}
	fresh := func() (map[string]any, error) { return decoded(obj) }
	return v.validate(fresh, v.reused)
}

// validate runs Validate's checks on the object fresh decodes, with
// validator as the schema validator. It prunes in place and decodes a
// fresh copy only when something was pruned: pruning only deletes, and
// records every field it deletes.
func (v *version) validate(fresh func() (map[string]any, error), validator apiservervalidation.SchemaCreateValidator) []Finding {
	u, err := fresh()
	if err != nil {
		return []Finding{{Message: err.Error()}}
	}
	// Without a default in the schema, defaulting changes nothing.
	if v.defaulted {
		structuraldefaulting.Default(u, v.structural)
	}
	var out []Finding
	pruned := pruning.PruneWithOptions(u, v.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	if len(pruned) > 0 {
		if u, err = fresh(); err != nil {
			return []Finding{{Message: err.Error()}}
		}
		if v.defaulted {
			structuraldefaulting.Default(u, v.structural)
		}
	}
	for _, p := range pruned {
		out = append(out, Finding{Field: tracePath(p), Message: fmt.Sprintf("unknown field: the %s schema has no such field, so the API server would drop it", v.crd)})
	}
	var errs field.ErrorList
	errs = append(errs, apiservervalidation.ValidateCustomResource(nil, u, validator)...)
	// objectmeta.Validate reports on embedded resources alone (it walks
	// the object for them, allocating a path per field: a sixth of what
	// checking an object allocated), so a schema without one is not
	// walked.
	if v.embedded {
		errs = append(errs, schemaobjectmeta.Validate(context.Background(), nil, u, v.structural, false)...)
	}
	// Likewise for lists of type set or map (an Argo CD Application has
	// none).
	if v.listed {
		errs = append(errs, structurallisttype.ValidateListSetsAndMaps(nil, v.structural, u)...)
	}
	if !blocking(errs) {
		celErrs, _ := v.cel.Validate(context.Background(), nil, v.structural, u, nil, celconfig.RuntimeCELCostBudget)
		errs = append(errs, celErrs...)
	}
	for _, e := range errs {
		out = append(out, Finding{Field: tracePath(e.Field), Message: message(e)})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out
}

// reaches reports whether s, or a schema reached from it through
// properties, additionalProperties and items (the walk of objectmeta,
// listtype and defaulting alike), satisfies has.
func reaches(s *structuralschema.Structural, has func(*structuralschema.Structural) bool) bool {
	if s == nil {
		return false
	}
	if has(s) {
		return true
	}
	for k := range s.Properties {
		p := s.Properties[k]
		if reaches(&p, has) {
			return true
		}
	}
	if s.AdditionalProperties != nil && reaches(s.AdditionalProperties.Structural, has) {
		return true
	}
	return reaches(s.Items, has)
}

// hasEmbedded reports whether objectmeta.Validate finds an embedded
// resource in s.
func hasEmbedded(s *structuralschema.Structural) bool {
	return reaches(s, func(s *structuralschema.Structural) bool { return s.XEmbeddedResource })
}

// hasListType reports whether ValidateListSetsAndMaps finds a list of
// type set or map in s.
func hasListType(s *structuralschema.Structural) bool {
	return reaches(s, func(s *structuralschema.Structural) bool {
		return s.XListType != nil && (*s.XListType == "set" || *s.XListType == "map")
	})
}

// hasDefault reports whether structuraldefaulting.Default finds a default
// in s: without one, it sets nothing (a null it replaces becomes the
// missing default, null).
func hasDefault(s *structuralschema.Structural) bool {
	return reaches(s, func(s *structuralschema.Structural) bool { return s.Default.Object != nil })
}

// decoded returns a copy of obj as the API server sees it after decoding
// the request body: whole numbers are int64, as CEL and the schema
// validator expect, whatever the Go types that built obj. It copies the
// JSON values generators make directly (see jsonCopy) and takes the JSON
// round trip for anything else.
func decoded(obj *unstructured.Unstructured) (map[string]any, error) {
	if m, ok := jsonCopy(obj.Object).(map[string]any); ok {
		return m, nil
	}
	return roundTrip(obj)
}

// roundTrip is decoded by encoding obj as JSON and decoding it as the API
// server does.
func roundTrip(obj *unstructured.Unstructured) (map[string]any, error) {
	b, err := json.Marshal(obj.Object)
	if err != nil {
		return nil, fmt.Errorf("encode %s %s: %w", obj.GetKind(), obj.GetName(), err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(b); err != nil {
		return nil, fmt.Errorf("decode %s %s: %w", obj.GetKind(), obj.GetName(), err)
	}
	return u.Object, nil
}

// errNotJSON marks a value jsonCopy does not copy.
type errNotJSON struct{}

// jsonCopy returns a deep copy of v with what encoding it as JSON and
// decoding it with k8s.io/apimachinery/pkg/util/json would give: whole
// numbers that fit become int64, other numbers float64. It returns
// errNotJSON{} for a value whose JSON text it cannot be sure of (other
// Go types, float32, uint64, strings that are not UTF-8, NaN), which
// decoded then encodes for real.
func jsonCopy(v any) any {
	switch x := v.(type) {
	case nil, bool:
		return x
	case string:
		if !utf8.ValidString(x) {
			return errNotJSON{}
		}
		return x
	case int64:
		return x
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return errNotJSON{}
		}
		// encoding/json writes a whole float64 below 1e21 without a
		// fraction or exponent, which decodes as int64 when it fits.
		if x == math.Trunc(x) && x >= -(1<<63) && x < 1<<63 {
			return int64(x)
		}
		return x
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			if !utf8.ValidString(k) {
				return errNotJSON{}
			}
			c := jsonCopy(e)
			if _, bad := c.(errNotJSON); bad {
				return c
			}
			m[k] = c
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			c := jsonCopy(e)
			if _, bad := c.(errNotJSON); bad {
				return c
			}
			l[i] = c
		}
		return l
	}
	return errNotJSON{}
}

// CheckJSON decodes one object from its JSON encoding, as the API server
// decodes a request body, and runs Check on it without encoding it again;
// it returns the object's kind and name too. err is set when data is not
// a JSON object with a kind.
func (s *Schemas) CheckJSON(data []byte) (gvk schema.GroupVersionKind, name string, found []Finding, err error) {
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(data); err != nil {
		return gvk, "", nil, err
	}
	gvk, name = u.GroupVersionKind(), u.GetName()
	var out []Finding
	if v, ok, err := s.get(gvk); err != nil {
		out = []Finding{{Message: err.Error()}}
	} else if ok {
		first := true
		fresh := func() (map[string]any, error) {
			if first {
				first = false
				return u.Object, nil
			}
			c := &unstructured.Unstructured{}
			if err := c.UnmarshalJSON(data); err != nil {
				return nil, err
			}
			return c.Object, nil
		}
		out = v.validate(fresh, v.reused)
	}
	if b, ok := builtins[gvk]; ok {
		out = append(out, b.check(gvk.Kind, data)...)
	}
	return gvk, name, out, nil
}

// Check runs every check of this package that applies to obj's kind: its
// CRD schema, or the API server's validation of a built-in kind.
func (s *Schemas) Check(obj *unstructured.Unstructured) []Finding {
	return append(s.Validate(obj), Builtin(obj)...)
}

// CheckIn is Check of obj with its namespace set to namespace (unless
// namespace is empty), as the API server sees an object that a kustomize
// overlay puts in its namespace; obj itself is left as it is, and is
// copied once for all the checks.
func (s *Schemas) CheckIn(obj *unstructured.Unstructured, namespace string) []Finding {
	gvk := obj.GroupVersionKind()
	v, crd, err := s.get(gvk)
	if err != nil {
		return []Finding{{Message: err.Error()}}
	}
	b, built := builtins[gvk]
	if !crd && !built {
		return nil
	}
	u, err := decoded(obj)
	if err != nil {
		return []Finding{{Message: err.Error()}}
	}
	if namespace != "" {
		(&unstructured.Unstructured{Object: u}).SetNamespace(namespace)
	}
	var out []Finding
	if built {
		data, err := json.Marshal(u)
		if err != nil {
			return []Finding{{Message: fmt.Sprintf("encode: %v", err)}}
		}
		out = b.check(obj.GetKind(), data)
	}
	if crd {
		first := true
		fresh := func() (map[string]any, error) {
			if first {
				first = false
				return u, nil
			}
			c, err := decoded(obj)
			if err == nil && namespace != "" {
				(&unstructured.Unstructured{Object: c}).SetNamespace(namespace)
			}
			return c, err
		}
		out = append(v.validate(fresh, v.reused), out...)
	}
	return out
}

// blocking reports whether errs hold an error that stops CEL evaluation,
// as the API server's strategy does (a type error makes rules meaningless).
func blocking(errs field.ErrorList) bool {
	for _, e := range errs {
		if e.Type == field.ErrorTypeTypeInvalid || e.Type == field.ErrorTypeRequired {
			return true
		}
	}
	return false
}

// message renders a field error without its path, which the caller shows
// as the spec position instead.
func message(e *field.Error) string {
	// A Quantity would print as its Go struct.
	switch v := e.BadValue.(type) {
	case resource.Quantity:
		c := *e
		c.BadValue = v.String()
		e = &c
	case *resource.Quantity:
		c := *e
		c.BadValue = v.String()
		e = &c
	}
	msg := e.ErrorBody()
	// ErrorBody starts with the error type ("Invalid value: ...").
	return strings.TrimSpace(msg)
}

// tracePath turns an API field path (spec.containers[0].image, or
// spec.tfReplicaSpecs[Worker].replicas for map keys) into the dotted form
// dmls traces use (spec.tfReplicaSpecs.Worker.replicas).
func tracePath(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != '[' {
			b.WriteByte(c)
			continue
		}
		j := strings.IndexByte(p[i:], ']')
		if j < 0 {
			b.WriteString(p[i:])
			break
		}
		key := p[i+1 : i+j]
		if isIndex(key) {
			b.WriteString(p[i : i+j+1])
		} else {
			b.WriteByte('.')
			b.WriteString(strings.Trim(key, `"`))
		}
		i += j
	}
	return strings.TrimPrefix(b.String(), ".")
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
