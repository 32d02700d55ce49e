package schema

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"cuelang.org/go/cue"

	"github.com/dmls-project/dmls/internal/spec"
)

// TestSpecTypesMatchSchemas holds the model's Go types (internal/spec) to
// the CUE schemas they are decoded from: every field a definition allows
// has a Go field of the same JSON name, and every Go field (but those
// marked json:"-", which the loader sets) is a field of the definition, at
// every depth the two share. A field added to one and not the other fails
// here instead of being dropped silently by the decoder.
func TestSpecTypesMatchSchemas(t *testing.T) {
	ev, err := NewEvaluator()
	if err != nil {
		t.Fatal(err)
	}
	for def, typ := range map[string]reflect.Type{
		"#App":         reflect.TypeFor[spec.AppSpec](),
		"#Platform":    reflect.TypeFor[spec.Platform](),
		"#Environment": reflect.TypeFor[spec.Environment](),
	} {
		t.Run(def, func(t *testing.T) {
			var problems []string
			compare(ev.Schema().LookupPath(cue.ParsePath(def)), typ, def, &problems, 0)
			for _, p := range problems {
				t.Error(p)
			}
		})
	}
}

// skipped are the schema fields that the loader reads itself and the
// model does not carry as such.
var skipped = map[string]bool{
	"#App.overrides": true, // applied by the loader: each Instance is the app in its environment
}

func compare(v cue.Value, typ reflect.Type, at string, problems *[]string, depth int) {
	if depth > 12 || skipped[at] {
		return
	}
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	switch typ.Kind() {
	case reflect.Map:
		if elem := v.LookupPath(cue.MakePath(cue.AnyString)); elem.Exists() {
			compare(elem, typ.Elem(), at+".<name>", problems, depth+1)
		}
		return
	case reflect.Slice:
		if elem := v.LookupPath(cue.MakePath(cue.AnyIndex)); elem.Exists() {
			compare(elem, typ.Elem(), at+"[]", problems, depth+1)
		}
		return
	case reflect.Struct:
	default:
		return
	}
	if _, ok := reflect.New(typ).Interface().(interface{ UnmarshalJSON([]byte) error }); ok {
		return // decoded by its own rules (spec.EnvValue)
	}
	if v.IncompleteKind()&cue.StructKind == 0 {
		return
	}
	// The struct's fields: from each disjunct where it is a disjunction
	// of structs (#Env is a string or a reference).
	schema := map[string]cue.Value{}
	op, parts := v.Expr()
	if op != cue.OrOp {
		parts = []cue.Value{v}
	}
	for _, p := range parts {
		it, err := p.Fields(cue.Optional(true))
		if err != nil {
			continue
		}
		for it.Next() {
			schema[it.Selector().Unquoted()] = it.Value()
		}
	}
	goFields := map[string]reflect.StructField{}
	var walk func(reflect.Type)
	walk = func(st reflect.Type) {
		for i := range st.NumField() {
			f := st.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Anonymous && name == "" {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				walk(ft)
				continue
			}
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			goFields[name] = f
		}
	}
	walk(typ)
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range schema {
			if !yield(k) {
				return
			}
		}
	}) {
		if skipped[at+"."+name] {
			continue
		}
		f, ok := goFields[name]
		if !ok {
			*problems = append(*problems, at+"."+name+": in the schema, but "+typ.String()+" has no field for it (the decoder would drop it)")
			continue
		}
		compare(schema[name], f.Type, at+"."+name, problems, depth+1)
	}
	for name := range goFields {
		if _, ok := schema[name]; !ok {
			*problems = append(*problems, at+"."+name+": a field of "+typ.String()+" that the schema does not allow")
		}
	}
}

// TestCompareCatchesDrift checks the comparison itself: a Go type with a
// field the schema lacks, and without one the schema has, is reported
// both ways, also below the top level.
func TestCompareCatchesDrift(t *testing.T) {
	ev, err := NewEvaluator()
	if err != nil {
		t.Fatal(err)
	}
	type training struct {
		Image string `json:"image"`
		Extra int    `json:"extra"`
	}
	type app struct {
		Name     string    `json:"name"`
		Training *training `json:"training"`
		Bogus    int       `json:"bogus"`
	}
	var problems []string
	compare(ev.Schema().LookupPath(cue.ParsePath("#App")), reflect.TypeFor[app](), "#App", &problems, 0)
	got := strings.Join(problems, "\n")
	for _, want := range []string{"#App.bogus: a field of", "#App.team: in the schema", "#App.training.extra: a field of", "#App.training.command: in the schema"} {
		if !strings.Contains(got, want) {
			t.Errorf("no finding %q in:\n%s", want, got)
		}
	}
}
