package admission

import "testing"

func TestNormalizeKnativePath(t *testing.T) {
	if got := normalizeKnativePath("spec.template.metadata.annotations[autoscaling.knative.dev/min-scale]"); got != "spec.template.metadata.annotations.autoscaling.knative.dev/min-scale" {
		t.Errorf("got %q", got)
	}
	if got := normalizeKnativePath("spec.traffic[1].percent"); got != "spec.traffic[1].percent" {
		t.Errorf("got %q", got)
	}
}
