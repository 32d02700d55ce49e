package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/dmls-project/dmls/internal/apiclient"
	"github.com/dmls-project/dmls/internal/status"
)

// TestTrainJobThroughTheAPI submits a PyTorch TrainJob (issue 21), reads it
// back, retrains it, and has a change of its image under the same run
// refused, as the API server would refuse it (the trainer is immutable),
// while the same change with a retrain goes through.
func TestTrainJobThroughTheAPI(t *testing.T) {
	r := startRepos(t)
	ts := startServer(t, r)
	c := ts.client(researchToken)
	ctx := context.Background()
	const team = "ml-research"
	sub := apiclient.TrainingJobSubmission{Name: "llm", Training: map[string]any{
		"framework":        "pytorch",
		"image":            "registry.example.com/llm:1.0",
		"numNodes":         2,
		"resourcesPerNode": map[string]any{"cpu": "4", "memory": "16Gi", "gpu": 1, "limits": map[string]any{"cpu": "4", "memory": "16Gi"}},
		"initializer":      map[string]any{"model": map[string]any{"storageUri": "hf://Qwen/Qwen2.5-0.5B"}},
	}}
	must(c.SubmitTrainingJob(ctx, team, sub))(t)
	job := must(c.TrainingJob(ctx, team, "llm"))(t)
	checkSchema(t, ts, "#TrainingJobView", job)
	if job.Kind != "TrainJob" || job.TFJob != "llm-r1" || len(job.Environments) == 0 || job.Environments[0].Nodes != 2 {
		t.Fatalf("job %+v", job)
	}
	files := r.git.Files(t, "k8s-config", "")
	tj := files["apps/llm/base/trainjob-llm-r1.yaml"]
	if !strings.Contains(tj, "kind: TrainJob") || !strings.Contains(tj, "name: torch-distributed") {
		t.Fatalf("k8s-config lacks the TrainJob:\n%s", tj)
	}
	// dev queues through Kueue (the example's overlays/dev.cue).
	var dev []string
	for p, b := range files {
		if strings.HasPrefix(p, "apps/llm/overlays/dev/") {
			dev = append(dev, p)
			if strings.Contains(b, "kueue.x-k8s.io~1queue-name") || strings.Contains(b, "kueue.x-k8s.io/queue-name") {
				dev = nil
				break
			}
		}
	}
	if dev != nil {
		t.Errorf("no file of the dev overlay has the queue label: %v\n%s", dev, files["apps/llm/overlays/dev/patch-trainjob-llm-r1.yaml"])
	}

	// A new image under run 1: refused, and nothing committed.
	before := r.git.CommitCount(t, "ml-model", "")
	var status int
	_, err := c.SetTrainingJob(ctx, team, "llm", map[string]any{"image": "registry.example.com/llm:1.1"}, apiclient.SetOptions{}, apiclient.Status(&status))
	var ae *apiclient.Error
	if !asError(err, &ae) || status != http.StatusBadRequest || !strings.Contains(ae.Error(), "field is immutable") || !strings.Contains(ae.Error(), "training.run") {
		t.Fatalf("image change under the same run: %d %v", status, err)
	}
	if n := r.git.CommitCount(t, "ml-model", ""); n != before {
		t.Errorf("a refused change made %d commits", n-before)
	}
	// With a retrain it is a new run: accepted.
	res := must(c.SetTrainingJob(ctx, team, "llm", map[string]any{"image": "registry.example.com/llm:1.1"}, apiclient.SetOptions{Retrain: true}))(t)
	if res.TrainingJob.Run != 2 || res.TrainingJob.TFJob != "llm-r2" {
		t.Errorf("retrain: %+v", res.TrainingJob)
	}
	files = r.git.Files(t, "k8s-config", "")
	if _, ok := files["apps/llm/base/trainjob-llm-r2.yaml"]; !ok {
		t.Error("no TrainJob llm-r2")
	}
	if _, ok := files["apps/llm/base/trainjob-llm-r1.yaml"]; ok {
		t.Error("TrainJob llm-r1 is still there")
	}
}

// TestTrainJobStatusSchema holds the status of a TrainJob that Kueue
// queues, as internal/status reads it, to #StatusView: the job's kind,
// its suspend flag and its Workload with position and flavors.
func TestTrainJobStatusSchema(t *testing.T) {
	s, err := newAPISchema()
	if err != nil {
		t.Fatal(err)
	}
	pos := int32(2)
	v := status.View{Team: "ml-research", App: "llm", Environments: []status.Environment{{
		Env: "dev", Namespace: "ml-research-dev", State: status.Deploying, Reason: "queued",
		Training: &status.Training{State: status.Deploying, Kind: "TrainJob", Name: "llm-r1", Run: 1, Found: true, Suspended: true,
			Workload: &status.Workload{Name: "trainjob-llm-r1-1", State: status.WorkloadPending, Reason: "Pending", Message: "insufficient quota", Position: &pos}},
	}, {
		Env: "staging", Namespace: "ml-research-staging", State: status.Running,
		Training: &status.Training{State: status.Running, Kind: "TrainJob", Name: "llm-r1", Run: 1, Found: true,
			Workload: &status.Workload{Name: "trainjob-llm-r1-2", State: status.WorkloadAdmitted, ClusterQueue: "ml-research-staging", Flavors: []string{"nvidia.com/gpu=ml-gpu"}}},
	}}}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if errs := checkBody(s, "#StatusView", b); len(errs) > 0 {
		t.Errorf("not a #StatusView: %v\n%s", errs, b)
	}
	// A Workload state the schema does not know is refused, so the
	// check above can fail.
	v.Environments[0].Training.Workload.State = "Sleeping"
	b, _ = json.Marshal(v)
	if errs := checkBody(s, "#StatusView", b); len(errs) == 0 {
		t.Error("a Workload in state Sleeping passes #StatusView")
	}
}
