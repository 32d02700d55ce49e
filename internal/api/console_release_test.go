package api

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/dmls-project/dmls/internal/spec"
)

// submitReleaseApp submits mnist through the API: a training job whose
// runs write to pvc://models/mnist and a Knative model service of a
// model from training, promoted dev → staging after 1s and staging →
// prod on an approval. The pipeline's records put r7 fully in staging
// (long ago) and r6 in prod, so prod's step waits for an approval; with
// no cluster to read, nothing else moves.
func submitReleaseApp(t *testing.T, ts *testServer) {
	t.Helper()
	const long = "2026-01-01T00:00:00Z"
	training := map[string]any{"name": "mnist", "training": map[string]any{
		"image":    "registry.example.com/mnist:1.0",
		"replicas": map[string]any{"worker": map[string]any{"replicas": 1}},
		"output":   map[string]any{"storageUri": "pvc://models/mnist"},
	}}
	serving := map[string]any{"name": "mnist",
		"serving": map[string]any{"runtime": "knative", "model": map[string]any{"fromTraining": true}},
		"release": map[string]any{
			"canary":    map[string]any{"percent": 10, "duration": "1m"},
			"promotion": []any{map[string]any{"from": "dev", "to": "staging", "after": "1s"}, map[string]any{"from": "staging", "to": "prod", "approval": true}},
			"state": map[string]any{
				"staging": map[string]any{"step": "full", "run": 7, "at": long, "serving": spec.ServingTuple(7, "r7", "", nil)},
				"prod":    map[string]any{"step": "full", "run": 6, "at": long, "serving": spec.ServingTuple(6, "r6", "", nil)},
			},
		},
		"overrides": map[string]any{
			"staging": map[string]any{"serving": map[string]any{"model": map[string]any{"run": 7}}},
			"prod":    map[string]any{"serving": map[string]any{"model": map[string]any{"run": 6}}},
		},
	}
	for _, s := range []struct {
		path string
		body map[string]any
	}{{"/v1/teams/ml-research/trainingjobs", training}, {"/v1/teams/ml-research/modelservices", serving}} {
		b, _ := json.Marshal(s.body)
		if code, _, out := ts.do(t, "POST", s.path, researchToken, b, "Content-Type", "application/json"); code != 201 {
			t.Fatalf("POST %s: %d %s", s.path, code, out)
		}
	}
}

// prodServing reads mnist's prod overrides in ml-model: the run, the
// canary's share, and the rejected runs.
func prodServing(t *testing.T, r *repos) (run, percent any, rejected []any) {
	t.Helper()
	m := r.appJSON(t, "mnist")
	o, _ := m["overrides"].(map[string]any)["prod"].(map[string]any)["serving"].(map[string]any)
	run = o["model"].(map[string]any)["run"]
	if tr, ok := o["traffic"].(map[string]any); ok {
		percent = tr["canaryPercent"]
	}
	rejected, _ = m["release"].(map[string]any)["rejected"].([]any)
	return run, percent, rejected
}

// TestConsoleRelease drives the release pipeline in the console (issue
// 24, section 5): an app whose prod step waits for an approval shows its
// chain, what each environment serves and what waits for whom; a click
// on Approve shows the preview's model summary, and once confirmed the
// commit is in ml-model with the approver; prod then shows its canary
// and an Abort button, and an Abort the server refuses (the canary was
// aborted behind the page's back) shows the server's message.
func TestConsoleRelease(t *testing.T) {
	exe := chromium(t)
	r := startRepos(t)
	ts := startServer(t, r)
	submitReleaseApp(t, ts)
	v, err := ts.client(researchToken).Release(t.Context(), "ml-research", "mnist")
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Environments[2]; got.Env != "prod" || got.Step != "approval" || got.Serving != 6 || got.Run != 7 {
		t.Fatalf("prod before the approval: %+v", got)
	}
	p := tab{t: t, ctx: browser(t, exe)}
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	prod := `#release-form li[data-env="prod"]`

	p.run("sign in", chromedp.Navigate(ts.http.URL+"/ui/"), chromedp.WaitVisible(css("#token")),
		chromedp.SendKeys(css("#token"), researchToken+"\r"))
	p.waitText(`tr[data-app="mnist"]`, "trains · serves")
	p.run("app", chromedp.Navigate(ts.http.URL+"/ui/#/app/mnist"))
	p.waitText("#release-form", "dev → staging → prod")
	p.waitText(`#release-form li[data-env="staging"] .serving`, "Serves r7")
	p.waitText(`#release-form li[data-env="dev"] .serving`, "Serves nothing")
	p.waitText(`#release-form li[data-env="dev"] .waits`, "waits for the training run")
	p.waitText(prod+" .step", "approval")
	p.waitText(prod+" .serving", "Serves r6")
	p.waitText(prod+" .reason", "r7 waits for an approval into prod")
	p.waitText(prod+" .waits", "waits for a person's approval")
	if n := p.eval(`String(document.querySelectorAll("#release-form button.approve").length)`); n != "1" {
		t.Errorf("%s Approve buttons, want 1 (prod's)", n)
	}
	if n := p.eval(`String(document.querySelectorAll("#release-form button.abort").length)`); n != "0" {
		t.Errorf("%s Abort buttons with no canary under way", n)
	}

	// Approve: the confirmation names the model change; nothing is
	// committed before it.
	before := r.git.CommitCount(t, "ml-model", "")
	p.run("approve", chromedp.Click(css(prod+" button.approve"), chromedp.NodeVisible))
	p.waitText("#confirm-text", "Approve r7 into prod")
	p.waitText("#confirm-summary", "mnist/prod: serving model r6 → r7, canary 10%")
	if n := r.git.CommitCount(t, "ml-model", ""); n != before {
		t.Fatalf("ml-model has %d commits before the confirmation, %d before the click", n, before)
	}
	p.run("confirm", chromedp.Click(css("#confirm-ok"), chromedp.NodeVisible))
	p.waitText("#release-form .outcome", "Committed ml-model")
	if run, percent, _ := prodServing(t, r); fmt.Sprint(run, percent) != "7 10" {
		t.Errorf("prod in ml-model after the approval: run %v, canary %v%%; want r7 at 10%%", run, percent)
	}
	msg := r.git.Messages(t, "ml-model", "")[0]
	for _, want := range []string{"Dmls-Release: app=mnist env=prod step=canary run=r7 stable=r6 percent=10 from=staging", "Dmls-Release-Approver: app=mnist env=prod "} {
		if !strings.Contains(msg, want) {
			t.Errorf("the approval's commit has no %q:\n%s", want, msg)
		}
	}

	// Prod now runs the canary: its share, and Abort.
	p.waitText(prod+" .serving", "canary r7 at 10%")
	p.waitText(prod+" .traffic", "r7 10%")
	p.waitText(prod+" button.abort", "Abort")
	// The page stops refreshing; the canary is aborted behind its back,
	// so the server refuses the page's Abort, and the page says why.
	p.eval(`clearInterval(timer), ""`)
	code, _, out := ts.do(t, "POST", "/v1/teams/ml-research/apps/mnist/release/abort", researchToken, []byte(`{"env":"prod"}`), "Content-Type", "application/json")
	if code != 202 {
		t.Fatalf("abort through the API: %d %s", code, out)
	}
	if _, percent, rejected := prodServing(t, r); fmt.Sprint(percent, rejected) != "0 [7]" {
		t.Errorf("prod after the abort: canary %v%%, rejected %v; want 0%% and [7]", percent, rejected)
	}
	after := r.git.CommitCount(t, "ml-model", "")
	p.run("abort", chromedp.Click(css(prod+" button.abort"), chromedp.NodeVisible))
	p.waitText("#release-form .form-error", "no canary runs in prod to abort")
	p.waitText("#release-form .outcome", "Not applied.")
	if n := r.git.CommitCount(t, "ml-model", ""); n != after {
		t.Errorf("a refused abort made %d commits", n-after)
	}
	// Refreshed, prod serves r6 again with r7 rejected, and no button.
	p.run("reload", chromedp.Navigate(ts.http.URL+"/ui/#/"), chromedp.Navigate(ts.http.URL+"/ui/#/app/mnist"))
	p.waitText("#release-form", "rejected r7")
	p.waitText(prod+" .serving", "Serves r6")
	if n := p.eval(`String(document.querySelectorAll("#release-form button").length)`); n != "0" {
		t.Errorf("%s buttons once nothing waits", n)
	}
}
