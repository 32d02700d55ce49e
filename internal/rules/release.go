package rules

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/schedule"
	"github.com/dmls-project/dmls/internal/spec"
)

// Release checks an instance's release policy, run outputs and model from
// training, as written (before the loader resolves them; see
// spec.Release). envs are the environments the app runs in, in order.
// What is the app's alone (trainIn, the promotion chain, rejected runs) is
// checked on the base instance; what an environment may override (canary,
// gates, the model's run), on every instance.
func Release(in *spec.Instance, envs []string) diag.List {
	c := &checker{in: in}
	a := in.Spec
	var output string
	if t := a.Training; t != nil && t.Output != nil {
		output = t.Output.StorageURI
		if _, ok := t.Env[spec.OutputEnvVar]; ok {
			c.add("training.env."+spec.OutputEnvVar, "%s is set by dmls to the run's output (training.output.storageUri); remove it from env", spec.OutputEnvVar)
		}
	}
	if s := a.Serving; s != nil && s.Model != nil {
		m := s.Model
		switch {
		case m.FromTraining && m.StorageURI != "":
			c.add("serving.model.storageUri", "set serving.model.storageUri or serving.model.fromTraining, not both")
		case m.FromTraining && output == "":
			c.add("serving.model.fromTraining", "fromTraining serves the output of a training run: set training.output.storageUri, where each run writes")
		case m.FromTraining && s.Runtime != spec.RuntimeKServe && !strings.HasPrefix(output, "pvc://"):
			c.add("serving.model.fromTraining", "Knative serves models from a volume claim only, and training.output.storageUri is %q: write the runs to pvc://<claim>/<path>, or set serving.runtime: \"kserve\"", output)
		case !m.FromTraining && m.StorageURI == "":
			c.add("serving.model", "set serving.model.storageUri, or serving.model.fromTraining: true to serve a training run's output")
		case !m.FromTraining && m.Run != 0:
			c.add("serving.model.run", "run names the training run a model from training serves; set serving.model.fromTraining: true, or remove run")
		}
	}
	if t := a.Training; t != nil && t.Schedule != nil && in.Env == nil {
		sc := t.Schedule
		if _, err := schedule.Parse(schedule.Schedule{Cron: sc.Cron, TimeZone: sc.TimeZone, WhileRunning: sc.WhileRunning}); err != nil {
			at := "training.schedule.cron"
			if strings.HasPrefix(err.Error(), "whileRunning") {
				at = "training.schedule.whileRunning"
			} else if !strings.HasPrefix(err.Error(), "cron") {
				at = "training.schedule.timeZone"
			}
			c.add(at, "%v", err)
		}
	}
	r := a.Release
	if r == nil {
		return c.diags
	}
	if _, err := spec.ParseDuration(r.Canary.Duration); err != nil {
		c.add("release.canary.duration", "%v", err)
	}
	seen := map[string]bool{}
	for i, g := range r.Gates {
		if seen[g.Name] {
			c.add(fmt.Sprintf("release.gates[%d].name", i), "gate %q is named twice; gate names must be unique", g.Name)
		}
		seen[g.Name] = true
	}
	if in.Env != nil {
		return c.diags
	}
	switch {
	case a.Training == nil:
		c.add("release", "a release policy carries the output of training runs to production: add a training job with training.output.storageUri")
	case output == "":
		c.add("training", "a release policy needs training.output.storageUri, where each run writes")
	}
	if s := a.Serving; s == nil || s.Model == nil || !s.Model.FromTraining {
		c.add("release", "a release policy serves the runs it promotes: set serving.model.fromTraining: true")
	}
	quoted := diag.QuoteList(envs)
	if r.TrainIn != "" && !slices.Contains(envs, r.TrainIn) {
		c.add("release.trainIn", "the app does not run in environment %q; it runs in %s", r.TrainIn, quoted)
	}
	visited := []string{r.TrainEnv(envs)}
	for i, s := range r.Promotion {
		at := fmt.Sprintf("release.promotion[%d]", i)
		switch {
		case !slices.Contains(envs, s.From):
			c.add(at+".from", "the app does not run in environment %q; it runs in %s", s.From, quoted)
		case !slices.Contains(envs, s.To):
			c.add(at+".to", "the app does not run in environment %q; it runs in %s", s.To, quoted)
		case s.From != visited[len(visited)-1]:
			c.add(at+".from", "the promotion chain goes on from %q (where the previous step ends, or trainIn), not %q", visited[len(visited)-1], s.From)
		case slices.Contains(visited, s.To):
			c.add(at+".to", "environment %q is in the chain already; each environment is promoted into once", s.To)
		case slices.Index(envs, s.To) < slices.Index(envs, s.From):
			c.add(at+".to", "a promotion goes forward in the order of the environments (%s): %q comes before %q", strings.Join(envs, ", "), s.To, s.From)
		}
		visited = append(visited, s.To)
		if s.After != "" {
			if _, err := spec.ParseDuration(s.After); err != nil {
				c.add(at+".after", "%v", err)
			}
		} else if !s.Approval {
			c.add(at, "set after (a soak time such as \"1h\"), approval: true, or both")
		}
	}
	return c.diags
}
