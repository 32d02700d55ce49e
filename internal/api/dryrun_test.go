package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/dmls-project/dmls/internal/apiclient"
	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/spec"
	"github.com/dmls-project/dmls/internal/workspace"
)

// TestDryRun: ?dryRun=true checks a change as the writer would and
// answers with the summary of dmls diff, committing nothing; a bad field
// is the same 400 as without it.
func TestDryRun(t *testing.T) {
	r := startRepos(t)
	ts := startServer(t, r)
	const base = "/v1/teams/ml-research/modelservices"
	dry := func(method, path, body string, header ...string) (int, apiclient.Result, string) {
		t.Helper()
		before := r.git.CommitCount(t, "ml-model", "")
		code, _, b := ts.do(t, method, path, researchToken, []byte(body), header...)
		if n := r.git.CommitCount(t, "ml-model", ""); n != before {
			t.Errorf("%s %s: a dry run committed (%d → %d commits)", method, path, before, n)
		}
		var res apiclient.Result
		_ = json.Unmarshal(b, &res)
		return code, res, string(b)
	}
	lines := func(res apiclient.Result) string {
		var out []string
		for _, l := range res.Preview.Summary {
			out = append(out, l.Where+": "+l.What)
		}
		for _, l := range res.Preview.Risks {
			out = append(out, "risk "+l.Where+": "+l.What)
		}
		return strings.Join(out, "\n")
	}

	code, res, body := dry("POST", base+"?dryRun=true", `{"name": "scorer", "serving": {"image": "registry.example.com/scorer:1.0", "revision": "v1"}}`,
		"Idempotency-Key", "k1")
	if code != http.StatusOK || !res.DryRun || !res.Changed || res.Preview == nil || len(res.Commits) != 0 {
		t.Fatalf("dry-run submit: %d %s", code, body)
	}
	checkSchema(t, ts, "#Result", res)
	if got := lines(res); !strings.Contains(got, ": new app scorer (dev, staging, prod)") {
		t.Errorf("dry-run submit summary:\n%s", got)
	}
	// The same key then commits: the dry run did not use it up.
	code, _, raw := ts.do(t, "POST", base, researchToken, []byte(`{"name": "scorer", "serving": {"image": "registry.example.com/scorer:1.0", "revision": "v1"}}`), "Idempotency-Key", "k1")
	if code != http.StatusCreated {
		t.Fatalf("submit after the dry run: %d %s", code, raw)
	}
	code, _, raw = ts.do(t, "POST", base+"/scorer/rollouts", researchToken, []byte(`{"image": "registry.example.com/scorer:2.0", "canaryPercent": 10}`))
	if code != http.StatusAccepted {
		t.Fatalf("rollout: %d %s", code, raw)
	}

	// Moving the canary: the summary says it, per environment, and warns
	// of the jump.
	code, res, body = dry("PUT", base+"/scorer/canary?dryRun=true", `{"env": "staging", "percent": 70}`)
	if code != http.StatusOK || !res.DryRun || !res.Changed {
		t.Fatalf("dry-run canary: %d %s", code, body)
	}
	got := lines(res)
	for _, want := range []string{"scorer/staging: canary 10%→70% (v1 → v2)", "risk scorer/staging: canary jumps 10%→70% (60 points in one step)"} {
		if !strings.Contains(got, want) {
			t.Errorf("dry-run canary: no %q in\n%s", want, got)
		}
	}
	if strings.Contains(got, "scorer/dev") || strings.Contains(got, "scorer/prod") {
		t.Errorf("dry-run canary in staging names other environments:\n%s", got)
	}
	if tr := r.serving(t, "scorer")["traffic"].(map[string]any); tr["canaryPercent"] != float64(10) {
		t.Errorf("the dry run changed the spec: %v", tr)
	}

	// Nothing to change: no summary.
	code, res, body = dry("PUT", base+"/scorer/canary?dryRun=true", `{"percent": 10}`)
	if code != http.StatusOK || res.Changed || len(res.Preview.Summary) != 0 {
		t.Errorf("dry run of no change: %d %s", code, body)
	}
	// A bad field: the same field error as a real request.
	code, _, body = dry("POST", base+"?dryRun=true", `{"name": "bad", "serving": {"imagee": "x"}}`)
	if code != http.StatusBadRequest || !strings.Contains(body, `"serving.imagee"`) {
		t.Errorf("dry run of a bad field: %d %s", code, body)
	}
	if code, _, body := ts.do(t, "PUT", base+"/scorer/canary?dryRun=maybe", researchToken, []byte(`{"percent": 20}`)); code != http.StatusBadRequest || !strings.Contains(string(body), "dryRun") {
		t.Errorf("dryRun=maybe: %d %s", code, body)
	}
}

// countingGuard counts the apps the loader evaluates, by folder.
type countingGuard struct {
	mu   sync.Mutex
	dirs map[string]int
}

func (g *countingGuard) Evaluate(job *workspace.AppJob, eval func() (*spec.App, diag.List)) (*spec.App, diag.List) {
	g.mu.Lock()
	g.dirs[job.Dir]++
	g.mu.Unlock()
	return eval()
}

// TestDryRunEvaluatesOnlyTheChangedApp: a dry run previews from the
// store's loaded and built apps, so it evaluates the changed app again and
// no other (issue 20: it used to load both sides afresh, every app of the
// workspace each time).
func TestDryRunEvaluatesOnlyTheChangedApp(t *testing.T) {
	r := startReposWith(t, 6)
	ts := startServer(t, r)
	g := &countingGuard{dirs: map[string]int{}}
	defer workspace.SetDefaultGuard(g)()
	code, _, body := ts.do(t, "POST", "/v1/teams/ml-research/trainingjobs/pre-0001/retrain?dryRun=true", researchToken, nil)
	var res apiclient.Result
	if err := json.Unmarshal(body, &res); err != nil || code != http.StatusOK || !res.DryRun || !res.Changed || len(res.Preview.Summary) == 0 {
		t.Fatalf("dry-run retrain: %d %s", code, body)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for dir, n := range g.dirs {
		if dir != "pre-0001" {
			t.Errorf("the dry run evaluated app %s, which it does not change, %d time(s)", dir, n)
		}
	}
	if g.dirs["pre-0001"] == 0 {
		t.Errorf("the dry run did not evaluate the app it changes: %v", g.dirs)
	}
}
