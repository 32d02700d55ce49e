package api

import (
	"context"
	"strings"
	"testing"

	"github.com/dmls-project/dmls/internal/apiclient"
)

// TestSubmitTrainingJob submits a training job and checks the answer, the
// spec in ml-model, the generated config in k8s-config and the audit line.
func TestSubmitTrainingJob(t *testing.T) {
	r := startRepos(t)
	ts := startServer(t, r)
	c := ts.client(researchToken)
	var status int
	res, err := c.SubmitTrainingJob(context.Background(), "ml-research", trainingJob("mnist"), apiclient.Status(&status))
	if err != nil {
		t.Fatal(err)
	}
	if status != 201 || !res.Changed || res.App != "mnist" || res.Operation != "submit-training-job" {
		t.Fatalf("answer %d %+v", status, res)
	}
	ml := r.git.Head(t, "ml-model", "")
	k8s := r.git.Head(t, "k8s-config", "")
	if res.Commit("ml-model") != ml || res.Commit("k8s-config") != k8s {
		t.Errorf("commits %+v, want ml-model %s and k8s-config %s", res.Commits, ml, k8s)
	}
	if got := strings.Join(res.Applications, ","); got != "mnist-dev,mnist-staging,mnist-prod" {
		t.Errorf("applications %s", got)
	}
	app := r.appJSON(t, "mnist")
	if app["team"] != "ml-research" || app["training"] == nil {
		t.Errorf("app.json %v", app)
	}
	files := r.git.Files(t, "k8s-config", "")
	if _, ok := files["apps/mnist/base/tfjob-mnist-r1.yaml"]; !ok {
		t.Errorf("no TFJob in k8s-config; files: %d", len(files))
	}
	if _, ok := files["argocd/dev/application-mnist-dev.argocd.yaml"]; !ok {
		t.Errorf("no Application mnist-dev in k8s-config")
	}
	if res.TrainingJob == nil || res.TrainingJob.TFJob != "mnist-r1" || res.TrainingJob.Commit != ml {
		t.Errorf("view %+v", res.TrainingJob)
	}
	var found bool
	for _, l := range ts.audit.lines(t) {
		if l["route"] == "/v1/teams/{team}/trainingjobs" && l["outcome"] == "committed" {
			found = l["sha_ml-model"] == ml && l["actor"] != "" && l["team"] == "ml-research"
		}
	}
	if !found {
		t.Errorf("no audit line with the commit:\n%s", ts.audit.String())
	}
}
