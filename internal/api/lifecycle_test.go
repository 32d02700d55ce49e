package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/dmls-project/dmls/internal/apiclient"
)

// checkSchema fails the test unless v, encoded as JSON, is an instance of
// the CUE definition def: the Go types and the documented schemas agree.
func checkSchema(t *testing.T, ts *testServer, def string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if d := ts.schema.CheckJSON(def, "answer.json", b); len(d) > 0 {
		t.Errorf("answer does not match %s: %v\n%s", def, d, b)
	}
}

// must fails the test on err: must(f())(t).
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// TestTrainingJobLifecycle submits a training job, reads it, changes its
// parameters (for all environments and for one), retrains it and deletes
// it, checking ml-model and k8s-config after each step.
func TestTrainingJobLifecycle(t *testing.T) {
	r := startRepos(t)
	ts := startServer(t, r)
	c := ts.client(researchToken)
	ctx := context.Background()
	const team = "ml-research"

	res := must(c.SubmitTrainingJob(ctx, team, trainingJob("mnist")))(t)
	checkSchema(t, ts, "#Result", res)

	job := must(c.TrainingJob(ctx, team, "mnist"))(t)
	checkSchema(t, ts, "#TrainingJobView", job)
	if job.Run != 1 || job.TFJob != "mnist-r1" || !job.Managed || job.Commit != res.Commit("ml-model") || len(job.Environments) != 3 {
		t.Errorf("job %+v", job)
	}
	if w := job.Environments[0].Replicas["worker"]; job.Environments[0].Env != "dev" || w != 1 {
		t.Errorf("dev runs %d workers, want 1 (overlays/dev.cue)", w)
	}
	list := must(c.TrainingJobs(ctx, team))(t)
	if len(list) != 2 || list[0].App != "fashion-mnist" || list[0].Managed || list[1].App != "mnist" {
		t.Errorf("list %+v", list)
	}
	checkSchema(t, ts, "#TrainingJobList", apiclient.TrainingJobList{Items: list})

	var status int
	res = must(c.SetTrainingJob(ctx, team, "mnist", map[string]any{
		"image":           "registry.example.com/trainer:2.0",
		"args":            []string{"--epochs", "5"},
		"hyperparameters": map[string]any{"learning_rate": 0.1, "batch_size": 64},
		"replicas":        map[string]any{"worker": map[string]any{"replicas": 4}},
		"resources":       map[string]any{"cpu": "1", "memory": "2Gi"},
	}, apiclient.SetOptions{}, apiclient.Status(&status)))(t)
	if status != http.StatusAccepted || !res.Changed {
		t.Fatalf("set: %d %+v", status, res)
	}
	tr := r.appJSON(t, "mnist")["training"].(map[string]any)
	if tr["image"] != "registry.example.com/trainer:2.0" || fmt.Sprint(tr["args"]) != "[--epochs 5]" ||
		fmt.Sprint(tr["hyperparameters"]) != "map[batch_size:64 learning_rate:0.1]" ||
		fmt.Sprint(tr["replicas"]) != "map[worker:map[replicas:4]]" || fmt.Sprint(tr["resources"]) != "map[cpu:1 memory:2Gi]" {
		t.Errorf("training after set: %v", tr)
	}
	tfjob := r.git.Files(t, "k8s-config", "")["apps/mnist/base/tfjob-mnist-r1.yaml"]
	for _, want := range []string{"image: registry.example.com/trainer:2.0", "--learning_rate=0.1", "--epochs"} {
		if !strings.Contains(tfjob, want) {
			t.Errorf("generated TFJob lacks %q:\n%s", want, tfjob)
		}
	}

	must(c.SetTrainingJob(ctx, team, "mnist", map[string]any{"replicas": map[string]any{"worker": map[string]any{"replicas": 8}}}, apiclient.SetOptions{Env: "prod"}))(t)
	if o := r.appJSON(t, "mnist")["overrides"]; fmt.Sprint(o) != "map[prod:map[training:map[replicas:map[worker:map[replicas:8]]]]]" {
		t.Errorf("overrides %v", o)
	}
	prod := r.git.Files(t, "k8s-config", "")["apps/mnist/overlays/prod/kustomization.yaml"]
	if prod == "" {
		t.Error("no prod overlay")
	}

	// The same change again changes nothing and commits nothing.
	before := r.git.CommitCount(t, "ml-model", "")
	res = must(c.SetTrainingJob(ctx, team, "mnist", map[string]any{"image": "registry.example.com/trainer:2.0"}, apiclient.SetOptions{}, apiclient.Status(&status)))(t)
	if status != http.StatusOK || res.Changed || len(res.Commits) != 0 {
		t.Errorf("no-op set: %d %+v", status, res)
	}
	if n := r.git.CommitCount(t, "ml-model", ""); n != before {
		t.Errorf("a no-op made %d commits", n-before)
	}

	res = must(c.Retrain(ctx, team, "mnist", apiclient.Status(&status)))(t)
	if status != http.StatusAccepted || res.TrainingJob.Run != 2 || res.TrainingJob.TFJob != "mnist-r2" {
		t.Errorf("retrain: %d %+v", status, res.TrainingJob)
	}
	files := r.git.Files(t, "k8s-config", "")
	if _, ok := files["apps/mnist/base/tfjob-mnist-r2.yaml"]; !ok {
		t.Error("no TFJob mnist-r2")
	}
	if _, ok := files["apps/mnist/base/tfjob-mnist-r1.yaml"]; ok {
		t.Error("TFJob mnist-r1 is still there")
	}
	res = must(c.SetTrainingJob(ctx, team, "mnist", map[string]any{"hyperparameters": map[string]any{"batch_size": nil}}, apiclient.SetOptions{Retrain: true}))(t)
	if res.TrainingJob.Run != 3 {
		t.Errorf("set with retrain: run %d", res.TrainingJob.Run)
	}
	if hp := r.appJSON(t, "mnist")["training"].(map[string]any)["hyperparameters"]; fmt.Sprint(hp) != "map[learning_rate:0.1]" {
		t.Errorf("null did not remove batch_size: %v", hp)
	}

	res = must(c.DeleteTrainingJob(ctx, team, "mnist", apiclient.Status(&status)))(t)
	if status != http.StatusAccepted || strings.Join(res.Applications, ",") != "mnist-dev,mnist-staging,mnist-prod" {
		t.Errorf("delete: %d %+v", status, res)
	}
	for p := range r.git.Files(t, "ml-model", "") {
		if strings.HasPrefix(p, "apps/mnist/") {
			t.Errorf("%s is left in ml-model", p)
		}
	}
	for p := range r.git.Files(t, "k8s-config", "") {
		if strings.Contains(p, "mnist") && !strings.Contains(p, "fashion-mnist") {
			t.Errorf("%s is left in k8s-config", p)
		}
	}
	if _, err := c.TrainingJob(ctx, team, "mnist"); !apiclient.IsStatus(err, http.StatusNotFound) {
		t.Errorf("get after delete: %v", err)
	}
}

// serving returns the serving settings in ml-model's app.json of app.
func (r *repos) serving(t *testing.T, app string) map[string]any {
	t.Helper()
	s, _ := r.appJSON(t, app)["serving"].(map[string]any)
	return s
}

func trafficOf(s *apiclient.ModelService, env string) string {
	for _, e := range s.Environments {
		if e.Env != env {
			continue
		}
		var parts []string
		for _, t := range e.Traffic {
			target := t.Revision
			if t.LatestRevision {
				target = "latest"
			}
			parts = append(parts, fmt.Sprintf("%s:%s=%d", t.Tag, target, t.Percent))
		}
		return strings.Join(parts, " ")
	}
	return ""
}

// TestModelServiceLifecycle rolls out versions of a model service with a
// canary, changes and promotes the canary, rolls back, and checks the
// spec and the generated traffic split after each step.
func TestModelServiceLifecycle(t *testing.T) {
	r := startRepos(t)
	ts := startServer(t, r)
	c := ts.client(researchToken)
	ctx := context.Background()
	const team = "ml-research"

	var status int
	res := must(c.SubmitModelService(ctx, team, apiclient.ModelServiceSubmission{
		Name: "scorer", Serving: map[string]any{"image": "registry.example.com/scorer:1.0"},
	}, apiclient.Status(&status)))(t)
	if status != http.StatusCreated || res.ModelService == nil {
		t.Fatalf("submit: %d %+v", status, res)
	}
	checkSchema(t, ts, "#Result", res)
	if rev := r.serving(t, "scorer")["revision"]; rev != "v1" {
		t.Errorf("first revision %v, want v1", rev)
	}
	if got := trafficOf(res.ModelService, "dev"); got != "current:latest=100" {
		t.Errorf("traffic %s", got)
	}

	ten := 10
	res = must(c.RolloutModel(ctx, team, "scorer", apiclient.Rollout{Image: "registry.example.com/scorer:2.0", CanaryPercent: &ten}))(t)
	if got := trafficOf(res.ModelService, "staging"); got != "stable:scorer-v1=90 canary:scorer-v2=10 previous:scorer-v1=0" {
		t.Errorf("canary traffic %s", got)
	}
	if s := r.serving(t, "scorer"); s["revision"] != "v2" || s["image"] != "registry.example.com/scorer:2.0" {
		t.Errorf("serving after rollout %v", s)
	}

	res = must(c.SetCanary(ctx, team, "scorer", apiclient.CanaryUpdate{Percent: 50}))(t)
	if got := trafficOf(res.ModelService, "prod"); got != "stable:scorer-v1=50 canary:scorer-v2=50 previous:scorer-v1=0" {
		t.Errorf("traffic at 50%%: %s", got)
	}
	res = must(c.PromoteCanary(ctx, team, "scorer", apiclient.Target{}))(t)
	if got := trafficOf(res.ModelService, "dev"); got != "current:latest=100 previous:scorer-v1=0" {
		t.Errorf("promoted traffic %s", got)
	}
	res = must(c.Rollback(ctx, team, "scorer", apiclient.Target{}))(t)
	if got := trafficOf(res.ModelService, "dev"); got != "stable:scorer-v1=100 canary:scorer-v2=0 previous:scorer-v1=0" {
		t.Errorf("rolled back traffic %s", got)
	}
	res = must(c.Rollback(ctx, team, "scorer", apiclient.Target{}, apiclient.Status(&status)))(t)
	if status != http.StatusOK || res.Changed {
		t.Errorf("second rollback: %d changed %v", status, res.Changed)
	}

	// A rollout from storage after the rollback replaces v2; v1 served last.
	res = must(c.RolloutModel(ctx, team, "scorer", apiclient.Rollout{StorageURI: "pvc://scorer-models/v3"}))(t)
	s := r.serving(t, "scorer")
	if s["revision"] != "v3" || s["image"] != nil || fmt.Sprint(s["model"]) != "map[storageUri:pvc://scorer-models/v3]" {
		t.Errorf("serving after storage rollout %v", s)
	}
	if got := trafficOf(res.ModelService, "dev"); got != "current:latest=100 previous:scorer-v1=0" {
		t.Errorf("traffic after storage rollout %s", got)
	}
	view := must(c.ModelService(ctx, team, "scorer"))(t)
	checkSchema(t, ts, "#ModelServiceView", view)
	if view.Environments[0].StorageURI != "pvc://scorer-models/v3" || view.Environments[0].Revision != "v3" {
		t.Errorf("view %+v", view.Environments[0])
	}
	list := must(c.ModelServices(ctx, team))(t)
	if len(list) != 2 {
		t.Errorf("list: %d services, want fashion-mnist and scorer", len(list))
	}
	if _, err := c.SetCanary(ctx, team, "scorer", apiclient.CanaryUpdate{Percent: 20}); !apiclient.IsStatus(err, http.StatusConflict) {
		t.Errorf("canary without one: %v", err)
	}
	must(c.DeleteModelService(ctx, team, "scorer"))(t)
	if _, ok := r.git.Files(t, "ml-model", "")["apps/scorer/app.json"]; ok {
		t.Error("scorer is left in ml-model")
	}
}

// TestPromoteEnvironments rolls a version out in dev and promotes it to
// staging and prod, one environment at a time.
func TestPromoteEnvironments(t *testing.T) {
	r := startRepos(t)
	ts := startServer(t, r)
	c := ts.client(servingToken)
	ctx := context.Background()
	const team = "ml-serving"

	must(c.RolloutModel(ctx, team, "ranker", apiclient.Rollout{Env: "dev", Image: "registry.example.com/ranker:1.1"}))(t)
	o := r.appJSON(t, "ranker")["overrides"]
	if fmt.Sprint(o) != "map[dev:map[serving:map[image:registry.example.com/ranker:1.1 revision:v2 traffic:map[tags:map[previous:v1]]]]]" {
		t.Errorf("dev override %v", o)
	}
	res := must(c.Promote(ctx, team, "ranker", apiclient.Promotion{From: "dev"}))(t)
	for _, e := range res.ModelService.Environments {
		want := map[string]string{"dev": "v2", "staging": "v2", "prod": "v1"}[e.Env]
		if e.Revision != want {
			t.Errorf("%s runs %s, want %s", e.Env, e.Revision, want)
		}
	}
	if _, err := c.Promote(ctx, team, "ranker", apiclient.Promotion{From: "dev", To: "prod"}); !apiclient.IsStatus(err, 400) {
		t.Errorf("skipping staging: %v", err)
	}
	if _, err := c.Promote(ctx, team, "ranker", apiclient.Promotion{From: "prod"}); !apiclient.IsStatus(err, 400) {
		t.Errorf("promoting from the last environment: %v", err)
	}
	res = must(c.Promote(ctx, team, "ranker", apiclient.Promotion{From: "staging", To: "prod"}))(t)
	for _, e := range res.ModelService.Environments {
		if e.Revision != "v2" || e.Image != "registry.example.com/ranker:1.1" {
			t.Errorf("%s runs %s %s after promotion to prod", e.Env, e.Revision, e.Image)
		}
	}
	var status int
	res = must(c.Promote(ctx, team, "ranker", apiclient.Promotion{From: "staging"}, apiclient.Status(&status)))(t)
	if status != http.StatusOK || res.Changed {
		t.Errorf("promoting what prod already runs: %d changed %v", status, res.Changed)
	}

	// A training image is promoted too.
	rc := ts.client(researchToken)
	must(rc.SubmitTrainingJob(ctx, "ml-research", trainingJob("mnist")))(t)
	must(rc.SetTrainingJob(ctx, "ml-research", "mnist", map[string]any{"image": "registry.example.com/trainer:1.1"}, apiclient.SetOptions{Env: "dev"}))(t)
	res = must(rc.Promote(ctx, "ml-research", "mnist", apiclient.Promotion{From: "dev"}))(t)
	if img := res.TrainingJob.Environments[1].Image; img != "registry.example.com/trainer:1.1" {
		t.Errorf("staging trains with %s after promotion", img)
	}
}
