package schema

import (
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"cuelang.org/go/cue"

	"github.com/dmls-project/dmls/internal/spec"
	"github.com/dmls-project/dmls/internal/synth"
)

// TestDecodeIsCUEDecode checks Decode against cue.Value.Decode on every
// app of the bundled example and of a synthetic workspace (every section
// as #App checks it, and each section and replica set alone), and that it
// errs where cue.Value.Decode errs.
func TestDecodeIsCUEDecode(t *testing.T) {
	ev, err := NewEvaluator()
	if err != nil {
		t.Fatal(err)
	}
	// the apps: each folder's files unified, as the loader does
	apps := map[string]map[string][]byte{}
	add := func(dir, name string, src []byte) {
		if apps[dir] == nil {
			apps[dir] = map[string][]byte{}
		}
		apps[dir][name] = src
	}
	example, _ := filepath.Glob("../../apps/*/*.cue")
	for _, f := range example {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		add(filepath.Base(filepath.Dir(f)), filepath.Base(f), src)
	}
	for name, src := range synth.Workspace(60) {
		if dir, file, ok := strings.Cut(strings.TrimPrefix(name, "apps/"), "/"); ok && strings.HasPrefix(name, "apps/") {
			add(dir, file, src.Data)
		}
	}
	if len(apps) < 50 {
		t.Fatalf("%d apps", len(apps))
	}
	checkedApps := 0
	for _, dir := range slices.Sorted(maps.Keys(apps)) {
		var raw cue.Value
		for i, name := range slices.Sorted(maps.Keys(apps[dir])) {
			v, err := ev.ParseFile(name, apps[dir][name])
			if err != nil {
				t.Fatalf("%s/%s: %v", dir, name, err)
			}
			if i == 0 {
				raw = v
			} else {
				raw = raw.Unify(v)
			}
		}
		if !raw.LookupPath(cue.ParsePath("name")).Exists() {
			raw = raw.FillPath(cue.ParsePath("name"), dir)
		}
		checked := ev.Schema().LookupPath(DefApp).Unify(raw)
		if err := checked.Validate(); err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		same(t, dir, checked, &spec.AppSpec{}, &spec.AppSpec{})
		checkedApps++
		for _, sec := range []struct {
			path string
			new  func() any
		}{
			{"training", func() any { return &spec.TrainingJob{} }},
			{"training.replicas", func() any { return &spec.Replicas{} }},
			{"training.replicas.worker", func() any { return &spec.ReplicaSet{} }},
			{"serving", func() any { return &spec.ModelService{} }},
			{"serving.autoscaling", func() any { return &spec.Autoscaling{} }},
		} {
			if v := checked.LookupPath(cue.ParsePath(sec.path)); v.Exists() {
				same(t, dir+" "+sec.path, v, sec.new(), sec.new())
			}
		}
	}
	t.Logf("%d apps decoded alike", checkedApps)
	for _, typ := range []reflect.Type{reflect.TypeFor[spec.AppSpec](), reflect.TypeFor[spec.TrainingJob](), reflect.TypeFor[spec.ReplicaSet](), reflect.TypeFor[spec.ModelService]()} {
		if _, ok := structFields(typ); !ok {
			t.Errorf("%v is decoded by cue.Value.Decode whole: the test shows nothing of Decode's own reading", typ)
		}
	}
	// errors: a value that is not concrete, of the wrong kind, absent
	bad := ev.ctx.CompileString(`{name: string, team: "t", training: {replicas: 3}}`)
	var a, b spec.AppSpec
	if errCUE, errOurs := bad.Decode(&a), Decode(bad, &b); (errCUE == nil) != (errOurs == nil) || errOurs == nil {
		t.Errorf("a bad value: cue %v, Decode %v", errCUE, errOurs)
	}
}

func same(t *testing.T, what string, v cue.Value, a, b any) {
	t.Helper()
	errCUE, errOurs := v.Decode(a), Decode(v, b)
	if (errCUE == nil) != (errOurs == nil) {
		t.Fatalf("%s: cue.Value.Decode: %v, Decode: %v", what, errCUE, errOurs)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("%s: Decode differs from cue.Value.Decode:\n%+v\n%+v", what, b, a)
	}
}

// BenchmarkDecode decodes every app of a synthetic workspace, checked by
// #App, into spec.AppSpec.
func BenchmarkDecode(b *testing.B) {
	ev, err := NewEvaluator()
	if err != nil {
		b.Fatal(err)
	}
	files := map[string][][]byte{}
	for name, src := range synth.Workspace(100) {
		if dir, _, ok := strings.Cut(strings.TrimPrefix(name, "apps/"), "/"); ok && strings.HasPrefix(name, "apps/") {
			files[dir] = append(files[dir], src.Data)
		}
	}
	var checked []cue.Value
	for _, dir := range slices.Sorted(maps.Keys(files)) {
		var raw cue.Value
		for i, src := range files[dir] {
			v, err := ev.ParseFile(dir+".cue", src)
			if err != nil {
				b.Fatal(err)
			}
			if i == 0 {
				raw = v
			} else {
				raw = raw.Unify(v)
			}
		}
		c := ev.Schema().LookupPath(DefApp).Unify(raw)
		if err := c.Validate(); err != nil {
			b.Fatalf("%s: %v", dir, err)
		}
		checked = append(checked, c)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, c := range checked {
			var a spec.AppSpec
			if err := Decode(c, &a); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// TestDeepCopySharesNothing checks that a copy of a value with pointers,
// slices, maps and interfaces can be changed without changing the value.
func TestDeepCopySharesNothing(t *testing.T) {
	type inner struct {
		N []int
		M map[string]any
	}
	type outer struct {
		P   *inner
		S   []inner
		Any any
		Str string
	}
	src := outer{
		P:   &inner{N: []int{1}, M: map[string]any{"a": []any{"x"}}},
		S:   []inner{{N: []int{2}}},
		Any: map[string]any{"k": "v"},
		Str: "s",
	}
	want := outer{
		P:   &inner{N: []int{1}, M: map[string]any{"a": []any{"x"}}},
		S:   []inner{{N: []int{2}}},
		Any: map[string]any{"k": "v"},
		Str: "s",
	}
	c := deepCopy(reflect.ValueOf(src)).Interface().(outer)
	if !reflect.DeepEqual(c, src) {
		t.Fatalf("copy %+v differs from %+v", c, src)
	}
	c.P.N[0] = 9
	c.P.M["a"].([]any)[0] = "y"
	c.P.M["b"] = 1
	c.S[0].N[0] = 9
	c.Any.(map[string]any)["k"] = "w"
	if !reflect.DeepEqual(src, want) {
		t.Errorf("changing the copy changed the value: %+v", src)
	}
}
