package workspace

import (
	"maps"
	"reflect"
	"slices"
	"sync/atomic"

	"cuelang.org/go/cue"

	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/internal/schema"
	"github.com/dmls-project/dmls/internal/spec"
)

// envInput is an app's data layered for one environment: its own
// settings, then the environment's adjustments, then its overrides for
// the environment.
type envInput struct {
	env             *spec.Environment
	layer, override map[string]any
	merged          map[string]any
	prov            provenance.Map
	origins         map[string]string
	// touched are the top-level fields that the environment or the
	// overrides set; every other field is the base's.
	touched map[string]bool
}

// fastHits counts the apps that took the fast path, for tests that must
// know it was taken.
var fastHits atomic.Int64

// fastInstances builds an app's base and environment instances with as
// little CUE evaluation as the layers allow. The base is decoded from
// checked, the schema already unified with the app's files: no second
// evaluation. Each environment evaluates only what its layers touched,
// against the schema of that field alone, and shares the rest with the
// base: a layer that sets training.replicas.worker.replicas costs one
// evaluation of #TrainingJob.replicas, not of the whole #App. That is
// exact because no schema field refers to another outside its own
// subtree: each subtree's value, defaults included, is the same alone as
// within the app.
//
// It reports false when any step fails; the caller then takes the full
// path, whose findings and positions are the ones users see. So the fast
// path decides nothing on bad input: it only accepts what the full path
// accepts, with the same result (TestFastPathEqualsFullPath compares the
// two on every workspace the tests have).
func (l *loader) fastInstances(ev *schema.Evaluator, checked cue.Value, data map[string]any, prov provenance.Map, layers []envInput) (*spec.Instance, []*spec.Instance, bool) {
	if l.legacy {
		return nil, nil, false
	}
	it, err := checked.Fields()
	if err != nil {
		return nil, nil, false
	}
	for it.Next() {
		if it.Selector().LabelType() == cue.StringLabel && it.Selector().Unquoted() == spec.PathOverrides {
			continue
		}
		if err := it.Value().Validate(cue.Concrete(true), cue.Final()); err != nil {
			return nil, nil, false
		}
	}
	var a spec.AppSpec
	if err := schema.Decode(checked, &a); err != nil {
		return nil, nil, false
	}
	base := &spec.Instance{Spec: &a, Prov: prov}
	envs := make([]*spec.Instance, 0, len(layers))
	for _, in := range layers {
		e := a // the fields no layer touched are the base's
		e.Secrets = maps.Clone(a.Secrets)
		rv := reflect.ValueOf(&e).Elem()
		for _, p := range touchedPaths(in, data) {
			v := in.merged[p[0]]
			dst := schema.FieldByJSON(rv, p[0])
			if !dst.IsValid() {
				return nil, nil, false
			}
			if len(p) == 2 {
				v = v.(map[string]any)[p[1]]
				if dst.Kind() != reflect.Pointer || dst.IsNil() {
					return nil, nil, false
				}
				// copy the section before changing it: the base shares it
				sec := reflect.New(dst.Type().Elem())
				sec.Elem().Set(dst.Elem())
				dst.Set(sec)
				dst = schema.FieldByJSON(sec.Elem(), p[1])
			}
			if !dst.IsValid() || !ev.EvalInto(p, v, dst) {
				return nil, nil, false
			}
		}
		envs = append(envs, &spec.Instance{Env: in.env, Spec: &e, Prov: in.prov, Origins: in.origins})
	}
	fastHits.Add(1)
	return base, envs, true
}

// touchedPaths lists, sorted, what the layers of in set: a section of
// the app (training, serving) by its fields when the app has the section
// and every layer of it is a struct, else the top-level field whole.
func touchedPaths(in envInput, data map[string]any) [][]string {
	var out [][]string
	for _, k := range slices.Sorted(maps.Keys(in.touched)) {
		if _, ok := data[k].(map[string]any); k != spec.PathTraining && k != spec.PathServing || !ok {
			out = append(out, []string{k})
			continue
		}
		subs := map[string]bool{}
		whole := false
		for _, layer := range []map[string]any{in.layer, in.override} {
			x, set := layer[k]
			if !set {
				continue
			}
			m, ok := x.(map[string]any)
			if !ok {
				whole = true
				break
			}
			for s := range m {
				subs[s] = true
			}
		}
		if whole {
			out = append(out, []string{k})
			continue
		}
		for _, s := range slices.Sorted(maps.Keys(subs)) {
			out = append(out, []string{k, s})
		}
	}
	return out
}
