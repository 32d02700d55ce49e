package api

import (
	"context"
	"net/http"
	"testing"

	"github.com/dmls-project/dmls/internal/apiclient"
)

// TestKServeLifecycle runs rollout, canary set, promote and rollback on a
// KServe app: each becomes canaryTrafficPercent on the InferenceService
// (the rest goes to the revision KServe rolled out last), never Knative
// route tags, which KServe has not.
func TestKServeLifecycle(t *testing.T) {
	r := startRepos(t)
	ts := startServer(t, r)
	c := ts.client(researchToken)
	ctx := context.Background()
	const team = "ml-research"

	res := must(c.SubmitModelService(ctx, team, apiclient.ModelServiceSubmission{
		Name: "scorer", Serving: map[string]any{
			"runtime": "kserve",
			"model":   map[string]any{"format": "sklearn", "storageUri": "s3://models/scorer/v1"},
		},
	}))(t)
	if got := trafficOf(res.ModelService, "dev"); got != "latest:latest=100" {
		t.Errorf("first traffic %s", got)
	}
	ten := 10
	res = must(c.RolloutModel(ctx, team, "scorer", apiclient.Rollout{StorageURI: "s3://models/scorer/v2", CanaryPercent: &ten}))(t)
	if got := trafficOf(res.ModelService, "staging"); got != "latest:latest=10 prev:=90" {
		t.Errorf("canary traffic %s", got)
	}
	s := r.serving(t, "scorer")
	if tr, _ := s["traffic"].(map[string]any); s["revision"] != "v2" || tr["stable"] != "v1" || tr["tags"] != nil {
		t.Errorf("serving after canary rollout %v", s)
	}
	res = must(c.SetCanary(ctx, team, "scorer", apiclient.CanaryUpdate{Percent: 50}))(t)
	if got := trafficOf(res.ModelService, "prod"); got != "latest:latest=50 prev:=50" {
		t.Errorf("traffic at 50%%: %s", got)
	}
	res = must(c.PromoteCanary(ctx, team, "scorer", apiclient.Target{}))(t)
	if got := trafficOf(res.ModelService, "dev"); got != "latest:latest=100" {
		t.Errorf("promoted traffic %s", got)
	}
	// After a full rollout, canaryTrafficPercent 0 makes KServe step back
	// to the revision it rolled out before.
	res = must(c.Rollback(ctx, team, "scorer", apiclient.Target{}))(t)
	if got := trafficOf(res.ModelService, "dev"); got != "latest:latest=0 prev:=100" {
		t.Errorf("rolled back traffic %s", got)
	}
	var status int
	res = must(c.Rollback(ctx, team, "scorer", apiclient.Target{}, apiclient.Status(&status)))(t)
	if status != http.StatusOK || res.Changed {
		t.Errorf("second rollback: %d changed %v", status, res.Changed)
	}
	// The next rollout goes to all traffic again.
	res = must(c.RolloutModel(ctx, team, "scorer", apiclient.Rollout{StorageURI: "s3://models/scorer/v3"}))(t)
	if got := trafficOf(res.ModelService, "dev"); got != "latest:latest=100" {
		t.Errorf("traffic after rollout %s", got)
	}
	if s := r.serving(t, "scorer"); s["revision"] != "v3" {
		t.Errorf("revision after rollout %v", s["revision"])
	}
	// A Knative-only setting is refused with the field named.
	_, err := c.SubmitModelService(ctx, team, apiclient.ModelServiceSubmission{
		Name: "bad", Serving: map[string]any{"runtime": "kserve", "model": map[string]any{"storageUri": "s3://m/x"}},
	})
	if !apiclient.IsStatus(err, http.StatusBadRequest) {
		t.Errorf("a KServe model without format: %v", err)
	}
}
