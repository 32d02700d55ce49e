package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dmls-project/dmls/internal/apiclient"
	"github.com/dmls-project/dmls/internal/gittest"
	"github.com/dmls-project/dmls/internal/spec"
)

// submitRelease submits an app with a release policy through the API: a
// training job whose runs write to pvc://models/<app>, then a model
// service from training with the policy, serving run 1 everywhere.
func submitRelease(t *testing.T, c *apiclient.Client, app string, training map[string]any) {
	t.Helper()
	ctx := context.Background()
	tj := trainingJob(app)
	tj.Training.(map[string]any)["output"] = map[string]any{"storageUri": "pvc://models/" + app}
	for k, v := range training {
		tj.Training.(map[string]any)[k] = v
	}
	must(c.SubmitTrainingJob(ctx, "ml-research", tj))(t)
	run1 := map[string]any{"serving": map[string]any{"model": map[string]any{"run": 1}}}
	must(c.SubmitModelService(ctx, "ml-research", apiclient.ModelServiceSubmission{
		Name:    app,
		Serving: map[string]any{"model": map[string]any{"fromTraining": true}},
		Release: map[string]any{
			"canary": map[string]any{"percent": 10, "duration": "30s"},
			"promotion": []any{
				map[string]any{"from": "dev", "to": "staging", "after": "1h"},
				map[string]any{"from": "staging", "to": "prod", "approval": true},
			},
		},
		Overrides: map[string]any{"dev": run1, "staging": run1, "prod": run1},
	}))(t)
}

func envOf(v *apiclient.ReleaseView, env string) apiclient.ReleaseEnvironment {
	for _, e := range v.Environments {
		if e.Env == env {
			return e
		}
	}
	return apiclient.ReleaseEnvironment{}
}

// TestReleaseSubmitted checks what a release policy makes of an app: it
// trains in dev only, with the run's output in DMLS_OUTPUT_URI, serves
// pvc://models/<app>/r1 as revision r1 everywhere, and its pipeline waits
// for the training job (no cluster here).
func TestReleaseSubmitted(t *testing.T) {
	r := startRepos(t)
	ts := startServer(t, r)
	c := ts.client(researchToken)
	submitRelease(t, c, "mnist", nil)

	files := r.git.Files(t, "k8s-config", "")
	dev := files["apps/mnist/overlays/dev/tfjob-mnist-r1.yaml"]
	if !strings.Contains(dev, "DMLS_OUTPUT_URI") || !strings.Contains(dev, "pvc://models/mnist/r1") {
		t.Errorf("dev's TFJob does not say where run r1 writes:\n%s", dev)
	}
	for p := range files {
		if strings.HasPrefix(p, "apps/mnist/") && strings.Contains(p, "tfjob") && !strings.Contains(p, "/overlays/dev/") {
			t.Errorf("only dev trains, but %s exists", p)
		}
	}
	for _, env := range []string{"dev", "staging", "prod"} {
		if svc := files["apps/mnist/overlays/"+env+"/kservice-mnist.yaml"]; !strings.Contains(svc, "name: mnist-r1") || !strings.Contains(svc, "/r1") {
			t.Errorf("%s serves run r1 as revision r1:\n%s", env, svc)
		}
	}

	v := must(c.Release(context.Background(), "ml-research", "mnist"))(t)
	if strings.Join(v.Chain, ",") != "dev,staging,prod" || !v.Managed {
		t.Fatalf("chain %v, managed %v", v.Chain, v.Managed)
	}
	if e := envOf(v, "dev"); e.Step != "wait" || !strings.Contains(e.Reason, "r1's training job to be observed") || e.Serving != 1 {
		t.Errorf("dev: %+v", e)
	}
	if e := envOf(v, "staging"); e.Step != "none" || e.Reason != "serves r1" {
		t.Errorf("staging: %+v", e)
	}

	// A policy that names an environment the app does not run in is
	// refused at the line, with what would be valid.
	var apiErr *apiclient.Error
	_, err := c.SubmitModelService(context.Background(), "ml-research", apiclient.ModelServiceSubmission{
		Name: "other", Serving: map[string]any{"image": "registry.example.com/x:1"},
		Release: map[string]any{"trainIn": "qa"},
	})
	if !asError(err, &apiErr) || apiErr.Status != http.StatusUnprocessableEntity && apiErr.Status != http.StatusBadRequest {
		t.Fatalf("a bad policy: %v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "release") {
		t.Errorf("the error does not name the release policy: %s", msg)
	}
}

// setApp replaces apps/<app>/app.json in ml-model, as a person (or
// another tool) would in git.
func setApp(t *testing.T, r *repos, app string, edit func(m map[string]any)) {
	t.Helper()
	m := r.appJSON(t, app)
	edit(m)
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	r.git.Push(t, "ml-model", gittest.Change{Files: map[string]string{"apps/" + app + "/app.json": string(b) + "\n"}, Message: "edit " + app})
}

// fullIn records that the pipeline rolled run out fully in env an hour
// ago, with env serving it.
func fullIn(m map[string]any, env string, run int) {
	ov := m["overrides"].(map[string]any)
	ov[env] = map[string]any{"serving": map[string]any{"model": map[string]any{"run": run}, "revision": spec.RunRevision(run)}}
	rel := m["release"].(map[string]any)
	state, _ := rel["state"].(map[string]any)
	if state == nil {
		state = map[string]any{}
		rel["state"] = state
	}
	state[env] = map[string]any{"step": "full", "run": run, "at": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339),
		"serving": spec.ServingTuple(run, spec.RunRevision(run), "", nil), "finished": time.Now().Add(-2 * time.Hour).UTC().Format(time.RFC3339)}
}

// TestReleaseApproveAbortResume: a person's steps. Approving the step
// that waits goes in as a canary with the approver in the commit;
// approving when nothing waits, aborting when no canary runs and resuming
// what is not paused are conflicts; a hand edit pauses an environment
// until it is resumed.
func TestReleaseApproveAbortResume(t *testing.T) {
	r := startRepos(t)
	ts := startServer(t, r, func(c *Config) { c.ReadMaxAge = time.Millisecond })
	c := ts.client(researchToken)
	ctx := context.Background()
	submitRelease(t, c, "mnist", nil)
	setApp(t, r, "mnist", func(m map[string]any) {
		fullIn(m, "dev", 7)
		fullIn(m, "staging", 7)
		fullIn(m, "prod", 6)
	})

	v := must(c.Release(ctx, "ml-research", "mnist"))(t)
	if e := envOf(v, "prod"); e.Step != "approval" || e.Run != 7 || !strings.Contains(e.Reason, "dmls approve mnist --env prod") {
		t.Fatalf("prod before the approval: %+v", e)
	}
	var apiErr *apiclient.Error
	if _, err := c.ReleaseAction(ctx, "ml-research", "mnist", "approve", "staging"); !asError(err, &apiErr) || apiErr.Status != http.StatusConflict {
		t.Errorf("approving staging, where nothing waits: %v", err)
	}
	if _, err := c.ReleaseAction(ctx, "ml-research", "mnist", "abort", "prod"); !asError(err, &apiErr) || apiErr.Status != http.StatusConflict {
		t.Errorf("aborting prod, where no canary runs: %v", err)
	}

	res := must(c.ReleaseAction(ctx, "ml-research", "mnist", "approve", "prod"))(t)
	if !res.Changed || res.Operation != "release-canary" {
		t.Fatalf("approve: %+v", res)
	}
	msg := r.git.Messages(t, "ml-model", "")[0]
	for _, want := range []string{"Dmls-Release: app=mnist env=prod step=canary run=r7 stable=r6 percent=10 from=staging",
		"Dmls-Release-Approver: app=mnist env=prod ml-research", "Dmls-Release-Run: app=mnist run=r7 succeeded="} {
		if !strings.Contains(msg, want) {
			t.Errorf("the approval's commit lacks %q:\n%s", want, msg)
		}
	}
	prod := r.appJSON(t, "mnist")["overrides"].(map[string]any)["prod"].(map[string]any)["serving"].(map[string]any)
	if tr := prod["traffic"].(map[string]any); prod["revision"] != "r7" || tr["stable"] != "r6" || tr["canaryPercent"] != float64(10) {
		t.Errorf("prod after the approval: %v", prod)
	}
	if _, err := c.ReleaseAction(ctx, "ml-research", "mnist", "approve", "prod"); !asError(err, &apiErr) || apiErr.Status != http.StatusConflict {
		t.Errorf("a second approval: %v", err)
	}

	// Abort: back to r6, and r7 rejected everywhere.
	must(c.ReleaseAction(ctx, "ml-research", "mnist", "abort", "prod"))(t)
	m := r.appJSON(t, "mnist")
	if rej := m["release"].(map[string]any)["rejected"]; len(rej.([]any)) != 1 || rej.([]any)[0] != float64(7) {
		t.Errorf("rejected after the abort: %v", rej)
	}
	v = must(c.Release(ctx, "ml-research", "mnist"))(t)
	if e := envOf(v, "prod"); e.Serving != 6 || e.Canary != nil || e.Step != "none" {
		t.Errorf("prod after the abort: %+v", e)
	}

	// A hand edit of staging's traffic pauses staging, and resume hands
	// it back.
	setApp(t, r, "mnist", func(m map[string]any) {
		s := m["overrides"].(map[string]any)["staging"].(map[string]any)["serving"].(map[string]any)
		s["traffic"] = map[string]any{"stable": "r6", "canaryPercent": 50}
	})
	v = must(c.Release(ctx, "ml-research", "mnist"))(t)
	if e := envOf(v, "staging"); e.Step != "paused" || !strings.Contains(e.Reason, "changed outside the release pipeline") {
		t.Fatalf("staging after a hand edit: %+v", e)
	}
	if _, err := c.ReleaseAction(ctx, "ml-research", "mnist", "resume", "dev"); !asError(err, &apiErr) || apiErr.Status != http.StatusConflict {
		t.Errorf("resuming dev, which is not paused: %v", err)
	}
	must(c.ReleaseAction(ctx, "ml-research", "mnist", "resume", "staging"))(t)
	v = must(c.Release(ctx, "ml-research", "mnist"))(t)
	if e := envOf(v, "staging"); e.Step == "paused" {
		t.Errorf("staging after resume: %+v", e)
	}
	if msg := r.git.Messages(t, "ml-model", "")[0]; !strings.Contains(msg, "step=resume") || !strings.Contains(msg, "Dmls-Release-Approver: app=mnist env=staging ml-research") {
		t.Errorf("the resume's commit:\n%s", msg)
	}
}

// TestScheduledRun: a schedule whose tick passed while no server ran
// starts one run, not one per missed tick, and records the tick.
func TestScheduledRun(t *testing.T) {
	r := startRepos(t)
	ts := startServer(t, r, func(c *Config) { c.ReleaseInterval = 50 * time.Millisecond })
	c := ts.client(researchToken)
	old := time.Now().Add(-3 * time.Hour).UTC().Truncate(time.Hour)
	submitRelease(t, c, "mnist", map[string]any{
		"schedule":    map[string]any{"cron": "0 * * * *", "timeZone": "Europe/Berlin"},
		"scheduledAt": old.Format(time.RFC3339),
	})
	deadline := time.Now().Add(30 * time.Second)
	var tr map[string]any
	for time.Now().Before(deadline) {
		tr = r.appJSON(t, "mnist")["training"].(map[string]any)
		if tr["run"] == float64(2) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if tr["run"] != float64(2) {
		t.Fatalf("no scheduled run: %v", tr)
	}
	tick, err := time.Parse(time.RFC3339, tr["scheduledAt"].(string))
	if err != nil || !tick.After(old) || time.Since(tick) > time.Hour || tick.Minute() != 0 {
		t.Errorf("scheduledAt %v: want the latest hourly tick", tr["scheduledAt"])
	}
	time.Sleep(500 * time.Millisecond) // ten more passes
	if got := r.appJSON(t, "mnist")["training"].(map[string]any)["run"]; got != float64(2) {
		t.Errorf("the missed ticks ran more than once: run %v", got)
	}
	want := "Dmls-Schedule: app=mnist tick=" + tick.Format(time.RFC3339) + " run=r2"
	n := 0
	for _, m := range r.git.Messages(t, "ml-model", "") {
		if strings.Contains(m, "Dmls-Schedule:") {
			n++
			if !strings.Contains(m, want) {
				t.Errorf("the scheduled run's commit lacks %q:\n%s", want, m)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d scheduled runs, want 1", n)
	}
}
