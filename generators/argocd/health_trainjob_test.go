package argocd

import (
	"strings"
	"testing"

	"github.com/argoproj/argo-cd/gitops-engine/v3/pkg/health"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// trainJob is a TrainJob with spec.suspend and status.conditions as
// Trainer v2.3's controller writes them (condition types Suspended,
// Complete and Failed, with the reasons of trainjob_types.go).
func trainJob(suspend bool, conds ...map[string]any) *unstructured.Unstructured {
	var cs []any
	for _, c := range conds {
		cs = append(cs, c)
	}
	obj := map[string]any{
		"apiVersion": "trainer.kubeflow.org/v1alpha1",
		"kind":       "TrainJob",
		"metadata":   map[string]any{"name": "llm-finetune-r1", "namespace": "ml-research-dev"},
		"spec":       map[string]any{"runtimeRef": map[string]any{"name": "torch-distributed"}, "suspend": suspend},
	}
	if cs != nil {
		obj["status"] = map[string]any{"conditions": cs}
	}
	return &unstructured.Unstructured{Object: obj}
}

func cond(typ, status, reason, msg string) map[string]any {
	return map[string]any{"type": typ, "status": status, "reason": reason, "message": msg, "lastTransitionTime": "2026-12-07T02:00:00Z"}
}

// TestTrainJobHealth runs the TrainJob health check in Argo CD's Lua VM
// over the states a TrainJob goes through under Kueue.
func TestTrainJobHealth(t *testing.T) {
	tests := []struct {
		name     string
		obj      *unstructured.Unstructured
		want     health.HealthStatusCode
		wantText string
	}{
		{"just created, suspended by Kueue's webhook", trainJob(true), health.HealthStatusProgressing, "Queued"},
		{"queued", trainJob(true, cond("Suspended", "True", "Suspended", "TrainJob is suspended")), health.HealthStatusProgressing, "Queued"},
		{"admitted and running", trainJob(false, cond("Suspended", "False", "Resumed", "TrainJob is resumed")), health.HealthStatusProgressing, "Running"},
		{"running, no condition yet", trainJob(false), health.HealthStatusProgressing, "Running"},
		{"complete", trainJob(false, cond("Suspended", "False", "Resumed", "TrainJob is resumed"), cond("Complete", "True", "JobsCompleted", "jobset completed")), health.HealthStatusHealthy, "Complete"},
		{"failed", trainJob(false, cond("Failed", "True", "DeadlineExceeded", "TrainJob exceeded its activeDeadlineSeconds")), health.HealthStatusDegraded, "DeadlineExceeded"},
		{"runtime not supported", trainJob(false, cond("Failed", "True", "TrainingRuntimeNotSupported", "runtime torch-x is not supported")), health.HealthStatusDegraded, "TrainingRuntimeNotSupported"},
		{"complete wins over a stale suspended", trainJob(false, cond("Suspended", "True", "Suspended", ""), cond("Complete", "True", "JobsCompleted", "")), health.HealthStatusHealthy, "Complete"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := healthOf(t, tt.obj)
			if got.Status != tt.want || !strings.Contains(got.Message, tt.wantText) {
				t.Errorf("health %+v, want %s with %q", *got, tt.want, tt.wantText)
			}
		})
	}
}
