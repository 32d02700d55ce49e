package admission

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func trainJobObj(image, runtime string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "trainer.kubeflow.org/v1alpha1",
		"kind":       "TrainJob",
		"metadata":   map[string]any{"name": "llm-r1", "namespace": "research-dev"},
		"spec": map[string]any{
			"runtimeRef": map[string]any{"name": runtime},
			"trainer":    map[string]any{"image": image, "numNodes": int64(2)},
		},
	}}
}

// TestTrainJobImmutableOnUpdate checks the transition rules of Trainer's
// TrainJob CRD: the trainer and the runtime may not change under the same
// name, and an unchanged job, or the first version of one, is fine.
func TestTrainJobImmutableOnUpdate(t *testing.T) {
	s, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	old := trainJobObj("registry.example.com/llm:1.0", "torch-distributed")
	if got := s.UpdateErrors(old, old); len(got) != 0 {
		t.Errorf("an unchanged TrainJob: %+v", got)
	}
	got := s.UpdateErrors(old, trainJobObj("registry.example.com/llm:1.1", "torch-distributed"))
	if len(got) != 1 || got[0].Field != "spec.trainer" || !strings.Contains(got[0].Message, "immutable") {
		t.Errorf("a new trainer image: %+v, want spec.trainer is immutable", got)
	}
	got = s.UpdateErrors(old, trainJobObj("registry.example.com/llm:1.0", "deepspeed-distributed"))
	if len(got) != 1 || got[0].Field != "spec.runtimeRef" {
		t.Errorf("a new runtime: %+v, want spec.runtimeRef is immutable", got)
	}
	// A kind without transition rules has no update findings.
	svc := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "x"}}}
	if got := s.UpdateErrors(svc, svc); got != nil {
		t.Errorf("ConfigMap: %+v", got)
	}
}
