package specops

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dmls-project/dmls/internal/apiclient"
	"github.com/dmls-project/dmls/internal/release"
	"github.com/dmls-project/dmls/internal/spec"
)

const fromTraining = `{"name":"app","team":"t",
 "training":{"image":"r/x:1","output":{"storageUri":"pvc://m/app"},"run":7},
 "serving":{"model":{"fromTraining":true}},
 "release":{},
 "overrides":{"dev":{"serving":{"model":{"run":6}}}}}`

// TestReleaseSteps: each step writes the serving settings, the record of
// the environment and, for a rollback, the rejected run; a step decided on
// settings that changed since is refused (a lost compare-and-swap: the
// reconciler decides again).
func TestReleaseSteps(t *testing.T) {
	c := &Context{Team: "t", Envs: envs}
	at := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	d := doc(t, fromTraining)
	before := ServingTuple(d, "dev")
	if before != spec.ServingTuple(6, "r6", "", nil) {
		t.Fatalf("tuple %s", before)
	}
	canary := release.Action{Env: "dev", Kind: release.Canary, Run: 7, Stable: 6, Percent: 10, Finished: at.Add(-time.Minute)}
	if err := Apply(c, ReleaseStep("app", canary, before, at, ""), d); err != nil {
		t.Fatal(err)
	}
	ten := 10
	if got := ServingTuple(d, "dev"); got != spec.ServingTuple(7, "r7", "r6", &ten) {
		t.Errorf("after the canary: %s", got)
	}
	rec := d.Data["release"].(map[string]any)["state"].(map[string]any)["dev"].(map[string]any)
	if rec["step"] != "canary" || rec["serving"] != ServingTuple(d, "dev") || rec["at"] != "2026-12-07T03:00:00Z" || rec["finished"] != "2026-12-07T02:59:00Z" {
		t.Errorf("record %v", rec)
	}

	// The same decision again (a run observed to succeed twice, or a
	// second replica) is refused: the settings it read are gone.
	err := Apply(c, ReleaseStep("app", canary, before, at, ""), d.Clone())
	var e *Error
	if !errors.As(err, &e) || e.Kind != Conflict || !strings.Contains(err.Error(), "changed since the decision") {
		t.Fatalf("a stale step: %v", err)
	}

	rollback := release.Action{Env: "dev", Kind: release.Rollback, Run: 7, Reject: true}
	if err := Apply(c, ReleaseStep("app", rollback, ServingTuple(d, "dev"), at, ""), d); err != nil {
		t.Fatal(err)
	}
	zero := 0
	if got := ServingTuple(d, "dev"); got != spec.ServingTuple(7, "r7", "r6", &zero) {
		t.Errorf("after the rollback: %s", got)
	}
	if rej := d.Data["release"].(map[string]any)["rejected"].([]any); len(rej) != 1 || rej[0].(interface{ String() string }).String() != "7" {
		t.Errorf("rejected %v", rej)
	}

	full := release.Action{Env: "dev", Kind: release.Full, Run: 8}
	d2 := doc(t, fromTraining)
	if err := Apply(c, ReleaseStep("app", full, ServingTuple(d2, "dev"), at, "alice"), d2); err != nil {
		t.Fatal(err)
	}
	if got := ServingTuple(d2, "dev"); got != spec.ServingTuple(6, "r6", "", nil) {
		t.Errorf("a full rollout without a canary keeps what serves: %s", got)
	}

	// Not a release app.
	if err := Apply(c, ReleaseStep("app", canary, before, at, ""), doc(t, knative)); err == nil {
		t.Error("a step on an app without a release policy")
	}
}

// TestReleaseTrailers: the evidence of a step.
func TestReleaseTrailers(t *testing.T) {
	a := release.Action{Env: "prod", Kind: release.Canary, Run: 7, Stable: 6, Percent: 5, From: "staging",
		Finished: time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC), Reason: "serving model r6 → r7,\ncanary 5%",
		Gates: []release.GateResult{{Name: "error-rate", Query: "q", Value: 0.002, Max: 0.01, Verdict: release.Pass}}}
	var lines []string
	for _, tr := range ReleaseStep("app", a, "", time.Now(), "alice@example.com").Trailers() {
		lines = append(lines, tr.Key+": "+tr.Value)
	}
	want := []string{
		"Dmls-Release: app=app env=prod step=canary run=r7 stable=r6 percent=5 from=staging",
		"Dmls-Release-Run: app=app run=r7 succeeded=2026-12-07T03:00:00Z",
		`Dmls-Release-Gate: app=app env=prod error-rate pass: 0.002 (max 0.01) query="q"`,
		"Dmls-Release-Approver: app=app env=prod alice@example.com",
		"Dmls-Release-Reason: app=app env=prod serving model r6 → r7, canary 5%",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("trailers:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// TestPromoteFromTraining: dmls promote carries a model from training by
// its run (and so pauses the pipeline in the environment it changes);
// a rollout of a storage URI is refused for it.
func TestPromoteFromTraining(t *testing.T) {
	c := &Context{Team: "t", Envs: envs}
	d := doc(t, fromTraining)
	if err := Apply(c, Promote("app", apiclient.Promotion{From: "dev"}), d); err != nil {
		t.Fatal(err)
	}
	if got := ServingTuple(d, "staging"); got != spec.ServingTuple(6, "r6", "", nil) {
		t.Errorf("staging after the promotion: %s", got)
	}
	if d.Override("staging", Training, false) != nil {
		t.Error("a release trains in one environment: the promotion must not copy the training image")
	}
	err := Apply(c, Rollout("app", apiclient.Rollout{StorageURI: "pvc://m/other"}), doc(t, fromTraining))
	var e *Error
	if !errors.As(err, &e) || e.Kind != Conflict || !strings.Contains(err.Error(), "model from training") {
		t.Errorf("a rollout of a storage URI: %v", err)
	}
}
