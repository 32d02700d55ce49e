package workspace

import (
	"github.com/dmls-project/dmls/internal/spec"
)

// resolveRelease makes an instance what its release policy and its model
// from training generate (rules.Release checked them first):
//   - with a release policy, only the environment it trains in (and not
//     the base) runs the training job; the others serve what is promoted
//     to them;
//   - a model from training serves <training.output.storageUri>/r<run>
//     as revision r<run> (unless the spec names the revision); with no run
//     yet, the instance serves nothing.
//
// The instance's sections may be shared with other instances (the fast
// path), so a changed section is copied, never changed in place.
func resolveRelease(in *spec.Instance, envs []string) {
	a := in.Spec
	var output string
	if t := a.Training; t != nil && t.Output != nil {
		output = t.Output.StorageURI
	}
	if r := a.Release; r != nil && a.Training != nil && (in.Env == nil || in.Env.Name != r.TrainEnv(envs)) {
		a.Training = nil
	}
	s := a.Serving
	if s == nil || s.Model == nil || !s.Model.FromTraining {
		return
	}
	if s.Model.Run == 0 {
		a.Serving = nil
		return
	}
	m := *s.Model
	m.StorageURI = spec.RunOutput(output, m.Run)
	sv := *s
	sv.Model = &m
	if sv.Revision == "" {
		sv.Revision = spec.RunRevision(m.Run)
	}
	a.Serving = &sv
	// What the model's location produces points at the run that set it.
	if pos, ok := in.Prov["serving.model.run"]; ok {
		in.Prov.Set("serving.model.storageUri", pos)
		if o, ok := in.Origins["serving.model.run"]; ok {
			in.Origins["serving.model.storageUri"] = o
		}
	}
}
