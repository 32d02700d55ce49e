package schema

import (
	"reflect"
	"testing"

	"github.com/dmls-project/dmls/internal/spec"
)

// TestEvalIntoKeepsCheckedValues checks EvalInto's kept values: the same
// path and value decode to equal, unshared Go values (changing one leaves
// the next alone), a value that differs is evaluated anew, and a value
// the schema refuses is refused every time, not kept.
func TestEvalIntoKeepsCheckedValues(t *testing.T) {
	ev, err := NewEvaluator()
	if err != nil {
		t.Fatal(err)
	}
	path := []string{"training", "replicas"}
	eval := func(v any) (*spec.Replicas, bool) {
		t.Helper()
		var r spec.Replicas
		ok := ev.EvalInto(path, v, reflect.ValueOf(&r).Elem())
		return &r, ok
	}
	four := map[string]any{"worker": map[string]any{"replicas": 4}}
	a, ok := eval(four)
	if !ok || a.Worker == nil || a.Worker.Replicas != 4 {
		t.Fatalf("EvalInto(%v) = %+v, %v", four, a, ok)
	}
	if len(ev.evals) != 1 {
		t.Fatalf("%d values kept, want 1", len(ev.evals))
	}
	a.Worker.Replicas = 99
	b, ok := eval(four)
	if !ok || b.Worker == a.Worker || b.Worker.Replicas != 4 {
		t.Fatalf("the kept value again = %+v (%v), want an unshared worker with 4 replicas", b.Worker, ok)
	}
	if len(ev.evals) != 1 {
		t.Fatalf("%d values kept after the same value again, want 1", len(ev.evals))
	}
	c, ok := eval(map[string]any{"worker": map[string]any{"replicas": 2}})
	if !ok || c.Worker.Replicas != 2 || len(ev.evals) != 2 {
		t.Fatalf("another value = %+v (%v), %d kept; want 2 replicas, 2 kept", c.Worker, ok, len(ev.evals))
	}
	bad := map[string]any{"worker": map[string]any{"replicas": "four"}}
	for i := range 2 {
		if _, ok := eval(bad); ok {
			t.Fatalf("call %d: EvalInto accepted %v", i, bad)
		}
	}
	if len(ev.evals) != 2 {
		t.Fatalf("a refused value was kept: %d values", len(ev.evals))
	}
}
