package api

import (
	"encoding/json"
	"maps"
	"slices"

	"github.com/dmls-project/dmls/generators/argocd"
	"github.com/dmls-project/dmls/generators/catalog"
	"github.com/dmls-project/dmls/internal/apiclient"
	"github.com/dmls-project/dmls/internal/spec"
	"github.com/dmls-project/dmls/internal/specops"
	"github.com/dmls-project/dmls/internal/specrepo"
)

// trainingView shows the training job of a valid app, or nil.
func trainingView(sn *specrepo.Snapshot, e *specrepo.Entry) *apiclient.TrainingJob {
	if e == nil || !e.Valid() || e.App.TrainingJob() == nil {
		return nil
	}
	a := e.App
	job := a.TrainingJob()
	v := &apiclient.TrainingJob{
		Team: a.Team, App: a.Name, Managed: e.Managed(), Commit: sn.Commits[a.Name],
		Run: job.Run, TFJob: spec.JobName(a.Name, job), Kind: job.Kind(),
		Environments: []apiclient.TrainingEnvironment{},
	}
	v.Training, v.Overrides = stored(sn, e, specops.Training, job)
	for _, in := range a.Envs {
		t := in.Spec.Training
		if t == nil {
			continue
		}
		env := apiclient.TrainingEnvironment{
			Env: in.Env.Name, Namespace: in.Namespace, Application: argocd.ApplicationName(a.Name, in.Env.Name),
			TFJob: spec.JobName(a.Name, t), Image: t.Image, Replicas: map[string]int{},
		}
		for _, role := range spec.Roles {
			if rs := t.Replicas.Get(role); rs != nil {
				env.Replicas[role] = rs.Replicas
			}
		}
		if t.IsTrainJob() {
			env.Nodes = t.Nodes()
		}
		v.Environments = append(v.Environments, env)
	}
	return v
}

// serviceView shows the model service of a valid app, or nil.
func serviceView(sn *specrepo.Snapshot, e *specrepo.Entry) *apiclient.ModelService {
	if e == nil || !e.Valid() || e.App.ModelService() == nil {
		return nil
	}
	a := e.App
	v := &apiclient.ModelService{Team: a.Team, App: a.Name, Managed: e.Managed(), Commit: sn.Commits[a.Name],
		Environments: []apiclient.ServingEnvironment{}}
	v.Serving, v.Overrides = stored(sn, e, specops.Serving, a.ModelService())
	for _, in := range a.Envs {
		s := in.Spec.Serving
		if s == nil {
			continue
		}
		env := apiclient.ServingEnvironment{
			Env: in.Env.Name, Namespace: in.Namespace, Application: argocd.ApplicationName(a.Name, in.Env.Name),
			Revision: s.Revision, Image: s.Image, Traffic: traffic(e, in.Env.Name),
		}
		if s.Model != nil {
			env.StorageURI = s.Model.StorageURI
		}
		v.Environments = append(v.Environments, env)
	}
	return v
}

// stored returns a section as the app's own file holds it, and its
// overrides. Hand-written apps show the section as loaded, defaults filled
// in, and no overrides: their files are CUE, not JSON.
func stored(sn *specrepo.Snapshot, e *specrepo.Entry, section string, loaded any) (json.RawMessage, map[string]json.RawMessage) {
	if e.Managed() {
		if d, err := sn.Doc(e.App.Name); err == nil && d.Data != nil {
			raw, _ := json.Marshal(d.Data[section])
			var ov map[string]json.RawMessage
			if o, ok := d.Data["overrides"].(map[string]any); ok {
				for _, env := range slices.Sorted(maps.Keys(o)) {
					if s, _ := o[env].(map[string]any); s[section] != nil {
						if ov == nil {
							ov = map[string]json.RawMessage{}
						}
						ov[env], _ = json.Marshal(s[section])
					}
				}
			}
			return raw, ov
		}
	}
	raw, _ := json.Marshal(loaded)
	return raw, nil
}

// traffic reads the traffic split of the serving objects generated for
// env (catalog.Traffic).
func traffic(e *specrepo.Entry, env string) []apiclient.TrafficTarget {
	out := []apiclient.TrafficTarget{}
	targets, _ := catalog.Traffic(e.Built.Objects[env])
	for _, t := range targets {
		out = append(out, apiclient.TrafficTarget{Tag: t.Tag, Revision: t.Revision, LatestRevision: t.LatestRevision, Percent: t.Percent})
	}
	return out
}

// fillViews sets on res the views of app e of sn that section asks for
// (submit.Config.View): the training job's, the model service's, or
// both when the operation is about the app as a whole.
func fillViews(sn *specrepo.Snapshot, e *specrepo.Entry, section string, res *apiclient.Result) {
	switch section {
	case specops.Training:
		res.TrainingJob = trainingView(sn, e)
	case specops.Serving:
		res.ModelService = serviceView(sn, e)
	default:
		res.TrainingJob = trainingView(sn, e)
		res.ModelService = serviceView(sn, e)
	}
}
