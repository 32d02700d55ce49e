package admission

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	celconfig "k8s.io/apiserver/pkg/apis/cel"

	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
)

// UpdateErrors runs the rules of obj's CRD that only an update has, from
// old (as deployed) to obj, and returns their findings: the transition
// rules of x-kubernetes-validations, which compare a field with oldSelf,
// such as the immutability of a TrainJob's runtimeRef, trainer and
// initializer ("self == oldSelf"). No check of one object alone sees
// them. Findings creating obj has too are left out (Validate reports
// those). It returns nil for kinds the schemas do not know.
func (s *Schemas) UpdateErrors(old, obj *unstructured.Unstructured) []Finding {
	v, ok, err := s.get(obj.GroupVersionKind())
	if !ok {
		return nil
	}
	if err != nil {
		return []Finding{{Message: err.Error()}}
	}
	prev, err := decoded(old)
	if err != nil {
		return []Finding{{Message: err.Error()}}
	}
	cur, err := decoded(obj)
	if err != nil {
		return []Finding{{Message: err.Error()}}
	}
	defaulting.Default(prev, v.structural)
	defaulting.Default(cur, v.structural)
	onCreate := map[Finding]bool{}
	created, _ := v.cel.Validate(context.Background(), nil, v.structural, cur, nil, celconfig.RuntimeCELCostBudget)
	for _, e := range created {
		onCreate[Finding{Field: tracePath(e.Field), Message: message(e)}] = true
	}
	updated, _ := v.cel.Validate(context.Background(), nil, v.structural, cur, prev, celconfig.RuntimeCELCostBudget)
	var out []Finding
	for _, e := range updated {
		f := Finding{Field: tracePath(e.Field), Message: message(e)}
		if onCreate[f] {
			continue
		}
		if e.Detail != "" {
			f.Message = e.Detail
		}
		// Point below a whole struct at the first field that changed,
		// which the trace of a generated object knows.
		f.Changed = changedLeaf(prev, cur, f.Field)
		out = append(out, f)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out
}

// changedLeaf returns the path (trace form) of the first field under at
// (in key order) whose value differs between old and cur, or at itself
// when the difference is at at or the path cannot be followed.
func changedLeaf(old, cur map[string]any, at string) string {
	var a, b any = old, cur
	for _, k := range strings.Split(at, ".") {
		am, ok1 := a.(map[string]any)
		bm, ok2 := b.(map[string]any)
		if !ok1 || !ok2 {
			return at
		}
		a, b = am[k], bm[k]
	}
	return at + leafDiff(a, b)
}

// leafDiff is the path below a and b to their first difference: "" when
// they differ as wholes (or not at all).
func leafDiff(a, b any) string {
	switch am := a.(type) {
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok {
			return ""
		}
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			if !reflect.DeepEqual(am[k], bm[k]) {
				return "." + k + leafDiff(am[k], bm[k])
			}
		}
	case []any:
		bl, ok := b.([]any)
		if !ok || len(am) != len(bl) {
			return ""
		}
		for i := range am {
			if !reflect.DeepEqual(am[i], bl[i]) {
				return fmt.Sprintf("[%d]", i) + leafDiff(am[i], bl[i])
			}
		}
	}
	return ""
}
