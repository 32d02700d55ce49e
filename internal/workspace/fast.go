package workspace

import (
	"maps"
	"sync/atomic"

	"cuelang.org/go/cue"

	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/internal/spec"
)

// envInput is an app's data layered for one environment: its own
// settings, then the environment's adjustments, then its overrides for
// the environment.
type envInput struct {
	env     *spec.Environment
	merged  map[string]any
	prov    provenance.Map
	origins map[string]string
	// touched are the top-level fields that the environment or the
	// overrides set; every other field is the base's.
	touched map[string]bool
}

// fastHits counts the apps that took the fast path, for tests that must
// know it was taken.
var fastHits atomic.Int64

// fastInstances builds an app's base and environment instances with as
// little CUE evaluation as the layers allow: the base is decoded from
// checked, the schema already unified with the app's files, and each
// environment evaluates only the top-level fields its layers touched,
// sharing the rest with the base. It reports false when any step fails;
// the caller then takes the full path, whose findings and positions are
// the ones users see. So the fast path decides nothing on bad input: it
// only accepts what the full path accepts, with the same result (a test
// compares the two on every workspace it has).
func (l *loader) fastInstances(ev *evaluator, checked cue.Value, data map[string]any, prov provenance.Map, layers []envInput) (*Instance, []*Instance, bool) {
	if l.legacy {
		return nil, nil, false
	}
	it, err := checked.Fields()
	if err != nil {
		return nil, nil, false
	}
	for it.Next() {
		if it.Selector().LabelType() == cue.StringLabel && it.Selector().Unquoted() == pathOverrides {
			continue
		}
		if err := it.Value().Validate(cue.Concrete(true), cue.Final()); err != nil {
			return nil, nil, false
		}
	}
	var a spec.App
	if err := checked.Decode(&a); err != nil {
		return nil, nil, false
	}
	base := &Instance{Spec: &a, Prov: prov}
	envs := make([]*Instance, 0, len(layers))
	schema := ev.schema.LookupPath(defApp)
	for _, in := range layers {
		e := a // the fields no layer touched are the base's
		e.Secrets = maps.Clone(a.Secrets)
		if len(in.touched) > 0 {
			part := map[string]any{}
			for _, k := range []string{pathName, pathTeam} {
				if v, ok := in.merged[k]; ok {
					part[k] = v
				}
			}
			for k := range in.touched {
				part[k] = in.merged[k]
			}
			v, err := ev.fromJSON(part)
			if err != nil {
				return nil, nil, false
			}
			u := schema.Unify(v)
			if err := u.Validate(cue.Concrete(true), cue.Final()); err != nil {
				return nil, nil, false
			}
			var p spec.App
			if err := u.Decode(&p); err != nil {
				return nil, nil, false
			}
			for k := range in.touched {
				switch k {
				case pathTraining:
					e.Training = p.Training
				case pathServing:
					e.Serving = p.Serving
				case pathPolicy:
					e.Policy = p.Policy
				case pathSecrets:
					e.Secrets = p.Secrets
				default:
					return nil, nil, false
				}
			}
		}
		envs = append(envs, &Instance{Env: in.env, Spec: &e, Prov: in.prov, origins: in.origins})
	}
	fastHits.Add(1)
	return base, envs, true
}
