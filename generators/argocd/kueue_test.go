package argocd

import (
	"slices"
	"testing"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/internal/spec"
)

func job(kind, apiVersion string, queued bool) generators.Object {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": map[string]any{"name": "llm-r1"}}}
	if queued {
		u.SetLabels(map[string]string{spec.KueueQueueLabel: "research"})
	}
	return generators.Object{Unstructured: u}
}

// TestKueueIgnore checks that a queued TrainJob or TFJob ignores exactly
// what Kueue owns, and that a job outside Kueue ignores nothing.
func TestKueueIgnore(t *testing.T) {
	tj := KueueIgnore(job("TrainJob", "trainer.kubeflow.org/v1alpha1", true))
	if tj == nil || !slices.Equal(tj.JSONPointers, []string{"/spec/suspend"}) || len(tj.JQPathExpressions) != 1 {
		t.Fatalf("TrainJob: %+v", tj)
	}
	tf := KueueIgnore(job("TFJob", "kubeflow.org/v1", true))
	if tf == nil || !slices.Equal(tf.JSONPointers, []string{"/spec/runPolicy/suspend"}) {
		t.Fatalf("TFJob: %+v", tf)
	}
	if got := KueueIgnore(job("TrainJob", "trainer.kubeflow.org/v1alpha1", false)); got != nil {
		t.Errorf("a job outside Kueue ignores %+v", got)
	}
	if !respectIgnore([]v1alpha1.ResourceIgnoreDifferences{*tj}) {
		t.Error("a queued TrainJob alone: want RespectIgnoreDifferences")
	}
	if respectIgnore([]v1alpha1.ResourceIgnoreDifferences{*tj, {Group: "serving.knative.dev", Kind: "Service", Name: "x"}}) {
		t.Error("with a Knative Service: RespectIgnoreDifferences would freeze its containers")
	}
	if respectIgnore(nil) {
		t.Error("nothing ignored: no RespectIgnoreDifferences")
	}
}
