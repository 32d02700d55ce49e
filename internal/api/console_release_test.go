package api

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dmls-project/dmls/internal/status/kube"
	"github.com/dmls-project/dmls/internal/status/statustest"
)

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
// 24, section 5): an app (submitted through the API, then r7 recorded
// fully in staging and r6 in prod) whose prod step waits for an approval
// shows its chain, what each environment serves and what waits for
// whom; a click on Approve shows the preview's model summary, and once
// confirmed the commit is in ml-model with the approver; prod then shows
// its canary with its gates' values and an Abort button, and an Abort
// the server refuses (the canary was aborted behind the page's back)
// shows the server's message.
func TestConsoleRelease(t *testing.T) {
	exe := chromium(t)
	r := startRepos(t)
	// The cluster answers every Knative Service with prod's canary r7,
	// Ready: once r7 is a canary there, the pipeline evaluates its gates
	// (and, with no Prometheus, cannot).
	fc := statustest.Start(t, "")
	fc.Set("application-synced-progressing", "", "ksvc-mnist-canary")
	ts := startServer(t, r, func(c *Config) {
		c.ReadMaxAge = time.Millisecond
		c.Status = &kube.Clusters{ArgoCD: fc.Client(t)}
	})
	c := ts.client(researchToken)
	submitRelease(t, c, "mnist", nil)
	setApp(t, r, "mnist", func(m map[string]any) {
		fullIn(m, "staging", 7)
		fullIn(m, "prod", 6)
	})
	v := must(c.Release(t.Context(), "ml-research", "mnist"))(t)
	if e := envOf(v, "prod"); e.Step != "approval" || e.Serving != 6 || e.Run != 7 {
		t.Fatalf("prod before the approval: %+v", e)
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
	if got := p.eval(`document.querySelector('#release-form li[data-env="staging"]').textContent`); strings.Contains(got, "null") || strings.Contains(got, "undefined") {
		t.Errorf("staging's card: %q", got)
	}
	p.waitText(`#release-form li[data-env="dev"] .serving`, "Serves r1")
	p.waitText(`#release-form li[data-env="dev"] .reason`, "waits for run r1's training job to be observed")
	p.waitText(prod+" .step", "approval")
	p.waitText(prod+" .serving", "Serves r6")
	p.waitText(prod+" .reason", "r7 waits for an approval into prod")
	p.waitText(prod+" .waits", "waits for a person's approval")
	if n := p.eval(`String(document.querySelectorAll("#release-form button.approve").length)`); n != "1" {
		t.Fatalf("%s Approve buttons, want 1 (prod's)", n)
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
	p.waitText(prod+` tr[data-gate="error-rate"]`, "0.01")
	p.waitText(prod+` tr[data-gate="error-rate"] .verdict`, "error")
	p.waitText(prod+" .gate-errors", "error-rate: no Prometheus is configured")
	p.waitText(prod+` tr[data-gate="latency-p99"]`, "error")
	p.waitText(prod+" .reason", "gate error-rate cannot be evaluated")
	p.waitText(prod+" .waits", "waits for the canary's gates")
	if dir := os.Getenv("DMLS_SCREENSHOTS"); dir != "" {
		b, err := chromedp.Run(p.ctx, chromedp.Screenshot(css("#release-form")))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "console-release.png"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
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
