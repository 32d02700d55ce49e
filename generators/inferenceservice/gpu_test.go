package inferenceservice

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/generators/kservice"
	"github.com/dmls-project/dmls/internal/spec"
)

// TestGPUPlacement checks that a predictor or transformer requesting GPUs
// gets the GPU groups' node selector and toleration (as Knative Services
// and TFJobs do), traced to the GPU request; that KServe's and the CRD's
// checks accept them; that Knative's config-features enable what a
// Knative InferenceService's pods use, and not what a Standard one's
// do (kservice keeps its own copy of KServe's group and annotation names,
// which these two cases hold to this package's); and that a service
// without GPUs gets neither.
func TestGPUPlacement(t *testing.T) {
	svc := spec.ModelService{
		Runtime:   spec.RuntimeKServe,
		Model:     &spec.Model{Format: "triton", StorageURI: "s3://models/resnet"},
		Resources: &spec.Resources{CPU: "4", Memory: "16Gi", GPU: new(1), Limits: &spec.Limits{CPU: "4", Memory: "16Gi"}},
		Transformer: &spec.Transformer{Image: "registry.example.com/vision/pre:1.0",
			Resources: &spec.Resources{CPU: "1", Memory: "1Gi", GPU: new(1)}},
		DeploymentMode: spec.DeploymentKnative,
	}
	gen := func(svc spec.ModelService, gpu *spec.Placement) generators.Object {
		t.Helper()
		objs, err := Generate(&spec.AppSpec{Name: "resnet", Team: "vision", Serving: &svc, GPU: gpu}, &spec.Platform{Name: "ml"})
		if err != nil || len(objs) != 1 {
			t.Fatalf("generate: %v (%d objects)", err, len(objs))
		}
		if errs := findings(t, objs[0]); len(errs) > 0 {
			t.Errorf("the InferenceService is rejected: %+v", errs)
		}
		return objs[0]
	}
	obj := gen(svc, spec.GPUPlacement())
	for _, c := range []struct{ component, from string }{{"predictor", "serving.resources.gpu"}, {"transformer", "serving.transformer.resources.gpu"}} {
		sel, _, _ := unstructured.NestedStringMap(obj.Object, "spec", c.component, "nodeSelector")
		if sel[spec.GPULabel] != spec.GPULabelValue {
			t.Errorf("%s node selector %v", c.component, sel)
		}
		tol, _, _ := unstructured.NestedSlice(obj.Object, "spec", c.component, "tolerations")
		if len(tol) != 1 || tol[0].(map[string]any)["key"] != spec.GPUTaintKey {
			t.Errorf("%s tolerations %v", c.component, tol)
		}
		if got, _ := obj.Trace.Spec("spec." + c.component + ".tolerations[0]"); got != c.from {
			t.Errorf("%s toleration traces to %q, want %q", c.component, got, c.from)
		}
		if sa, _, _ := unstructured.NestedString(obj.Object, "spec", c.component, "serviceAccountName"); sa != generators.ServingServiceAccount {
			t.Errorf("%s service account %q", c.component, sa)
		}
	}
	features, err := kservice.Features(obj)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"kubernetes.podspec-nodeselector", "kubernetes.podspec-tolerations"} {
		if features[k] != "enabled" {
			t.Errorf("Knative GPU InferenceService: %s = %q, want enabled", k, features[k])
		}
	}

	// Standard, and its deprecated name RawDeployment (written as
	// Standard), run no Knative Service.
	for _, mode := range []string{spec.DeploymentStandard, spec.DeploymentRaw} {
		raw := svc
		raw.DeploymentMode = mode
		o := gen(raw, spec.GPUPlacement())
		if got := o.GetAnnotations()[AnnotationDeploymentMode]; got != spec.DeploymentStandard {
			t.Errorf("deploymentMode %s is written as %q, want Standard", mode, got)
		}
		if f, _ := kservice.Features(o); f["kubernetes.podspec-nodeselector"] != "disabled" {
			t.Errorf("a %s InferenceService runs no Knative Service, but enables the node selector flag: %v", mode, f)
		}
	}

	cpu := svc
	cpu.Resources = &spec.Resources{CPU: "1", Memory: "1Gi"}
	cpu.Transformer = nil
	if o := gen(cpu, spec.GPUPlacement()); o.Object["spec"].(map[string]any)["predictor"].(map[string]any)["tolerations"] != nil {
		t.Errorf("a predictor without GPUs got tolerations: %v", o.Object["spec"])
	}
}
