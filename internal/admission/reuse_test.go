package admission

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	structurallisttype "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/dmls-project/dmls/internal/admission/corpus"
)

// reference is Check as it was before validators were reused: upstream's
// validator as the API server builds it, the JSON round trip, and pruning
// a copy.
func reference(s *Schemas, obj *unstructured.Unstructured) []Finding {
	var out []Finding
	if v, ok, err := s.get(obj.GroupVersionKind()); err != nil {
		return []Finding{{Message: err.Error()}}
	} else if ok {
		u, err := roundTrip(obj)
		if err != nil {
			return []Finding{{Message: err.Error()}}
		}
		copied := false
		out = v.validate(func() (map[string]any, error) {
			if !copied {
				copied = true
				return runtime.DeepCopyJSON(u), nil
			}
			return roundTrip(obj)
		}, v.validator.(apiservervalidation.SchemaCreateValidator))
	}
	return append(out, Builtin(obj)...)
}

// variants are the corpus objects and, for each, copies broken in the
// ways reuse could get wrong: a field of the wrong type deep in the
// object, an unknown field, a list grown and shrunk, one value twice.
func variants(t *testing.T) []*unstructured.Unstructured {
	cases, err := corpus.Load("testdata/corpus")
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	for _, tc := range cases {
		if tc.Obj.GetKind() != "Namespace" {
			tc.Obj.SetNamespace("ml")
		}
		out = append(out, tc.Obj)
		for i := 0; i < 4; i++ {
			c := tc.Obj.DeepCopy()
			n := 0
			walk(c.Object, func(parent map[string]any, k string) {
				if _, top := parent["kind"]; top && k != "spec" {
					return // the kind and name stay, to tell the object
				}
				n++
				if n%(5+i) != 0 {
					return
				}
				switch v := parent[k].(type) {
				case string:
					parent[k] = int64(len(v))
				case int64, float64:
					parent[k] = fmt.Sprint(v)
				case bool:
					parent[k] = "yes"
				case []any:
					parent[k] = append(v, v...)
				case map[string]any:
					v["dmlsUnknown"] = "x"
				}
			})
			out = append(out, c)
		}
	}
	return out
}

func walk(m map[string]any, f func(parent map[string]any, k string)) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		f(m, k)
		switch v := m[k].(type) {
		case map[string]any:
			walk(v, f)
		case []any:
			for _, e := range v {
				if em, ok := e.(map[string]any); ok {
					walk(em, f)
				}
			}
		}
	}
}

// TestReusedValidatorsFindTheSame checks that Check, with validators kept
// across calls and decoding without JSON, gives exactly the findings of
// upstream's validator built for each call, on the corpus and broken
// variants of it, checked twice over in an order that warms the kept
// validators with other objects first; and that CheckJSON gives the same.
func TestReusedValidatorsFindTheSame(t *testing.T) {
	s, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	objs := variants(t)
	bad := 0
	for round := 0; round < 2; round++ {
		for i := range objs {
			obj := objs[(i*7+round)%len(objs)]
			want := reference(s, obj)
			if len(want) > 0 {
				bad++
			}
			if got := s.Check(obj); !reflect.DeepEqual(got, want) {
				t.Errorf("%s %s: Check = %v, want %v", obj.GetKind(), obj.GetName(), got, want)
			}
			// CheckIn sets the namespace on its own copy.
			bare := obj.DeepCopy()
			bare.SetNamespace("")
			inNS := reference(s, obj)
			if got := s.CheckIn(bare, obj.GetNamespace()); !reflect.DeepEqual(got, inNS) {
				t.Errorf("%s %s: CheckIn = %v, want %v", obj.GetKind(), obj.GetName(), got, inNS)
			}
			if bare.GetNamespace() != "" {
				t.Fatalf("CheckIn changed its object")
			}
			data, err := json.Marshal(obj.Object)
			if err != nil {
				t.Fatal(err)
			}
			gvk, name, got, err := s.CheckJSON(data)
			if err != nil || gvk != obj.GroupVersionKind() || name != obj.GetName() {
				t.Fatalf("CheckJSON: %v %v %q", err, gvk, name)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s %s: CheckJSON = %v, want %v", obj.GetKind(), obj.GetName(), got, want)
			}
		}
	}
	t.Logf("%d objects, %d checks with findings", len(objs), bad)
	if bad < len(objs)/2 {
		t.Fatalf("only %d of %d checks found something: the variants test too little", bad, 2*len(objs))
	}
}

// TestJSONCopyIsTheRoundTrip checks decoded's copy against encoding and
// decoding, and that what it cannot copy takes the round trip.
func TestJSONCopyIsTheRoundTrip(t *testing.T) {
	obj := &unstructured.Unstructured{Object: map[string]any{
		"kind": "K", "apiVersion": "v1",
		"n": map[string]any{
			"i": 3, "i32": int32(-4), "i64": int64(1 << 60), "f": 2.5, "whole": 4.0, "negzero": math.Copysign(0, -1),
			"big": 1e20, "huge": 1e300, "tiny": 1e-7, "edge": float64(1 << 63), "s": "é", "b": true, "null": nil,
			"list": []any{1, 2.0, "x", map[string]any{"y": 1.5}},
		},
	}}
	got := jsonCopy(obj.Object)
	want, err := roundTrip(obj)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("jsonCopy = %#v\nround trip = %#v", got, want)
	}
	for _, v := range []any{float32(0.1), uint64(1 << 63), "\xff", map[string]string{}, math.NaN()} {
		if _, ok := jsonCopy(map[string]any{"v": v}).(errNotJSON); !ok {
			t.Errorf("jsonCopy(%#v) copied what it cannot be sure of", v)
		}
	}
	if m, err := decoded(&unstructured.Unstructured{Object: map[string]any{"kind": "K", "v": float32(0.5)}}); err != nil || m["v"] != 0.5 {
		t.Errorf("decoded of a float32 = %v, %v; want the round trip's 0.5", m, err)
	}
	if !strings.Contains(fmt.Sprint(jsonCopy(map[string]any{"v": float32(0.1)})), "{}") {
		t.Errorf("errNotJSON prints oddly")
	}
}

// TestReusedValidatorsKeepTheirSchema checks formats, which a kept
// validator reads from its schema at each call, field by field: upstream
// hands each field's validator the address of a loop variable that the
// next field overwrites, so a kept validator must hold a copy.
func TestReusedValidatorsKeepTheirSchema(t *testing.T) {
	s := New()
	err := s.Add([]byte(`
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: things.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Thing, plural: things, singular: thing, listKind: ThingList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              a: {type: string, format: uuid}
              b: {type: string}
              c: {type: string, format: date-time}
              d: {type: string}
              e: {type: string, format: email}
              f: {type: string}
`))
	if err != nil {
		t.Fatal(err)
	}
	bad := object(t, "apiVersion: example.com/v1\nkind: Thing\nmetadata: {name: s, namespace: ml}\nspec: {a: x, b: x, c: x, d: x, e: x, f: x}\n")
	for i := 0; i < 20; i++ {
		got := s.Validate(bad)
		want := reference(s, bad)
		if len(want) != 3 || !reflect.DeepEqual(got, want) {
			t.Fatalf("call %d: got %v, want %v (3 findings)", i, got, want)
		}
	}
}

// memoSizes returns the number of results each memo of v's kept
// validators holds, by field path.
func memoSizes(t *testing.T, s *Schemas, gvk schema.GroupVersionKind) map[string]int {
	t.Helper()
	v, ok, err := s.get(gvk)
	if !ok || err != nil {
		t.Fatalf("no schema for %v: %v", gvk, err)
	}
	out := map[string]int{}
	var visit func(n *vnode)
	visit = func(n *vnode) {
		if n.memo != nil {
			n.memo.mu.Lock()
			out[n.sv.Path] = len(n.memo.m)
			n.memo.mu.Unlock()
		}
		for _, m := range []*sync.Map{&n.fields, &n.items} {
			m.Range(func(_, c any) bool { visit(c.(*vnode)); return true })
		}
	}
	visit(v.reused.root)
	return out
}

// TestMemoizedValidatorsShareResults checks that a pod spec validated
// before is not validated again (its memo keeps one result), in another
// object, namespace and replica count, and that the kept result's
// finding is reported there as upstream reports it; and that a pod spec
// that differs is validated anew.
func TestMemoizedValidatorsShareResults(t *testing.T) {
	s, err := lazy(crdFiles)
	if err != nil {
		t.Fatal(err)
	}
	src := `apiVersion: kubeflow.org/v1
kind: TFJob
metadata: {name: NAME}
spec:
  tfReplicaSpecs:
    Worker:
      replicas: REPLICAS
      restartPolicy: Never
      template:
        spec:
          serviceAccountName: train
          containers:
          - name: tensorflow
            image: IMAGE
            resources: {limits: {cpu: lots}}
`
	job := func(name, replicas, image string) *unstructured.Unstructured {
		return object(t, strings.NewReplacer("NAME", name, "REPLICAS", replicas, "IMAGE", image).Replace(src))
	}
	const podSpec = "spec.tfReplicaSpecs.Worker.template.spec"
	for i, step := range []struct {
		obj  *unstructured.Unstructured
		ns   string
		kept int
	}{
		{job("a", "1", "train:1"), "dev", 1},
		{job("b", "3", "train:1"), "prod", 1},
		{job("a", "1", "train:2"), "dev", 2},
	} {
		want := reference(s, withNamespace(step.obj, step.ns))
		got := s.CheckIn(step.obj, step.ns)
		if !reflect.DeepEqual(got, want) || len(want) != 1 || !strings.Contains(want[0].Field, "resources.limits.cpu") {
			t.Errorf("step %d: CheckIn = %v, want %v (the cpu quantity)", i, got, want)
		}
		if n := memoSizes(t, s, step.obj.GroupVersionKind())[podSpec]; n != step.kept {
			t.Errorf("step %d: the pod spec's memo holds %d results, want %d", i, n, step.kept)
		}
	}
}

func withNamespace(obj *unstructured.Unstructured, ns string) *unstructured.Unstructured {
	c := obj.DeepCopy()
	c.SetNamespace(ns)
	return c
}

// TestValueKey checks that the memo's key tells apart values the schema
// validator may judge differently.
func TestValueKey(t *testing.T) {
	vals := []any{
		nil, true, false, "", "1", int64(1), float64(1), int64(0), math.Copysign(0, -1), float64(0),
		[]any{}, []any{"a"}, []any{"a", "b"}, []any{"ab"}, []any{[]any{"a"}},
		map[string]any{}, map[string]any{"a": "b"}, map[string]any{"ab": ""}, map[string]any{"a": "b", "c": nil},
		map[string]any{"a": []any{"b"}},
	}
	seen := map[string]int{}
	for i, v := range vals {
		k, ok := valueKey(nil, v)
		if !ok {
			t.Fatalf("valueKey(%#v) refused", v)
		}
		if j, dup := seen[string(k)]; dup {
			t.Errorf("valueKey(%#v) = valueKey(%#v)", v, vals[j])
		}
		seen[string(k)] = i
	}
	a, _ := valueKey(nil, map[string]any{"x": int64(1), "y": "z"})
	b, _ := valueKey(nil, map[string]any{"y": "z", "x": int64(1)})
	if string(a) != string(b) {
		t.Errorf("valueKey depends on the map's order")
	}
	for _, v := range []any{int(1), float32(1), map[string]string{}, []any{uint8(1)}} {
		if _, ok := valueKey(nil, v); ok {
			t.Errorf("valueKey(%#v) encoded a type a decoded object does not hold", v)
		}
	}
}

// TestShapeMemo checks the memo's shape keys: an object that differs from
// one validated before only in values no constraint looks at is not
// validated again, and one that differs in a value a constraint looks at
// (a pattern, an enum, a format, bounds, a combinator, uniqueItems, a
// number) gets upstream's findings, although its shape is the same.
func TestShapeMemo(t *testing.T) {
	s := New()
	err := s.Add([]byte(`
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: shapes.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Shape, plural: shapes, singular: shape, listKind: ShapeList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          apiVersion: {type: string}
          kind: {type: string}
          metadata: {type: object}
          spec:
            type: object
            required: [plain]
            properties:
              plain: {type: string}
              flag: {type: boolean}
              pattern: {type: string, pattern: '^[a-z]+$'}
              enum: {type: string, enum: [a, b]}
              format: {type: string, format: uuid}
              short: {type: string, maxLength: 3}
              long: {type: string, minLength: 3}
              count: {type: integer, minimum: 1, maximum: 5}
              ratio: {type: number, multipleOf: 0.5}
              whole: {type: integer}
              port: {x-kubernetes-int-or-string: true, anyOf: [{type: integer}, {type: string}], pattern: '^[0-9]+$'}
              set: {type: array, uniqueItems: false, x-kubernetes-list-type: set, items: {type: string}}
              list: {type: array, maxItems: 2, items: {type: string}}
              env: {type: object, additionalProperties: {type: string, maxLength: 4}}
              names: {type: object, additionalProperties: {type: string}}
`))
	if err != nil {
		t.Fatal(err)
	}
	gvk := schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Shape"}
	const good = `apiVersion: example.com/v1
kind: Shape
metadata: {name: NAME, namespace: ml}
spec:
  plain: PLAIN
  flag: true
  pattern: abc
  enum: a
  format: 123e4567-e89b-12d3-a456-426614174000
  short: abc
  long: abcd
  count: 2
  ratio: 1.5
  whole: 3
  port: "80"
  set: [x, z]
  list: [x]
  env: {A: ok}
  names: {a: ANY}
`
	obj := func(r ...string) *unstructured.Unstructured {
		// r first: of two pairs for one string, the first applies
		return object(t, strings.NewReplacer(append(r, "NAME", "a", "PLAIN", "p", "ANY", "q")...).Replace(good))
	}
	check := func(what string, o *unstructured.Unstructured, findings bool) {
		t.Helper()
		got, want := s.Validate(o), reference(s, o)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Validate = %v, want %v", what, got, want)
		}
		if (len(want) > 0) != findings {
			t.Errorf("%s: upstream found %v, want findings: %v (the test's own case is wrong)", what, want, findings)
		}
	}
	check("the first", obj(), false)
	// Other names and free strings: the same shape, validated once.
	for i := range 5 {
		n := fmt.Sprint(i)
		check("free strings "+n, obj("NAME", "name-"+n, "PLAIN", "plain "+n, "ANY", "any "+n, "flag: true", "flag: false"), false)
	}
	if n := memoSizes(t, s, gvk)[""]; n != 1 {
		t.Errorf("the root's memo holds %d results after objects of one shape, want 1", n)
	}
	// The same shape, a value a constraint refuses.
	for _, bad := range [][2]string{
		{"pattern: abc", "pattern: ABC"},
		{"enum: a", "enum: c"},
		{"format: 123e4567-e89b-12d3-a456-426614174000", "format: not-a-uuid"},
		{"short: abc", "short: abcd"},
		{"long: abcd", "long: ab"},
		{"count: 2", "count: 9"},
		{"ratio: 1.5", "ratio: 1.2"},
		{"whole: 3", "whole: 3.5"},
		{`port: "80"`, `port: "http"`},
		{"set: [x, z]", "set: [x, x]"},
		{"env: {A: ok}", "env: {A: toolong}"},
	} {
		check(bad[1], obj(bad[0], bad[1]), true)
		// and the bad value again, now from the memo
		check(bad[1]+" again", obj(bad[0], bad[1]), true)
	}
	// A different shape: a type, a missing field, a longer list.
	for _, bad := range [][2]string{
		{"flag: true", "flag: yes please"},
		{"plain: PLAIN", "other: p"},
		{"list: [x]", "list: [x, w, z]"},
	} {
		check(bad[1], obj(bad[0], bad[1]), true)
	}
}

// TestObjectMetaWithoutEmbedded checks that validate may skip
// objectmeta.Validate for a schema without embedded resources,
// listtype.ValidateListSetsAndMaps for one without lists of type set or
// map, and defaulting for one without defaults: for the corpus and its
// broken variants, upstream's calls find or change nothing there; and
// that schemas with them are still walked (their findings are reported,
// the default applied).
func TestObjectMetaWithoutEmbedded(t *testing.T) {
	s, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	checked, unlisted, undefaulted := 0, 0, 0
	for _, obj := range variants(t) {
		v, ok, err := s.get(obj.GroupVersionKind())
		if !ok || err != nil || v.embedded {
			continue
		}
		u, err := roundTrip(obj)
		if err != nil {
			t.Fatal(err)
		}
		if errs := schemaobjectmeta.Validate(context.Background(), nil, u, v.structural, false); len(errs) != 0 {
			t.Errorf("%s %s: objectmeta.Validate found %v on a schema without embedded resources", obj.GetKind(), obj.GetName(), errs)
		}
		checked++
		if !v.defaulted {
			c := runtime.DeepCopyJSON(u)
			structuraldefaulting.Default(c, v.structural)
			if !reflect.DeepEqual(c, u) {
				t.Errorf("%s %s: Default changed an object of a schema without defaults", obj.GetKind(), obj.GetName())
			}
			undefaulted++
		}
		if !v.listed {
			if errs := structurallisttype.ValidateListSetsAndMaps(nil, v.structural, u); len(errs) != 0 {
				t.Errorf("%s %s: ValidateListSetsAndMaps found %v on a schema without set or map lists", obj.GetKind(), obj.GetName(), errs)
			}
			unlisted++
		}
	}
	if checked < 20 || unlisted < 5 || undefaulted < 5 {
		t.Fatalf("only %d objects checked, %d without list types, %d without defaults", checked, unlisted, undefaulted)
	}
	e := New()
	if err := e.Add([]byte(`
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: wrappers.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Wrapper, plural: wrappers, singular: wrapper, listKind: WrapperList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            x-kubernetes-validations:
            - {rule: "self.mode == 'fast'", message: mode must be fast}
            properties:
              mode: {type: string, default: fast}
              items:
                type: array
                items: {type: object, x-kubernetes-embedded-resource: true, x-kubernetes-preserve-unknown-fields: true}
              tags:
                type: array
                x-kubernetes-list-type: set
                items: {type: string}
`)); err != nil {
		t.Fatal(err)
	}
	o := object(t, "apiVersion: example.com/v1\nkind: Wrapper\nmetadata: {name: w, namespace: ml}\nspec:\n  items:\n  - {apiVersion: v1, kind: ConfigMap, metadata: {name: a/b}}\n  tags: [a, a]\n")
	got := fmt.Sprint(e.Validate(o))
	if !strings.Contains(got, "spec.items[0].metadata.name") || !strings.Contains(got, "spec.tags[1]") || strings.Contains(got, "mode") {
		t.Errorf("an embedded resource's bad name and a set's duplicate, and the defaulted mode: %v", got)
	}
}
