package kservice

import (
	"bytes"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/dmls-project/dmls/internal/golden"
	"github.com/dmls-project/dmls/internal/spec"
)

func TestGolden(t *testing.T) {
	tests := []struct {
		name string
		svc  spec.ModelService
	}{
		{"canary", spec.ModelService{
			Model:       &spec.Model{StorageURI: "pvc://models/saved/resnet", Runtime: "tensorflow-serving", RuntimeVersion: "2.14.1"},
			Resources:   &spec.Resources{CPU: "1", Memory: "2Gi", GPU: ptr(1)},
			Autoscaling: spec.Autoscaling{MinScale: ptr(1), MaxScale: ptr(5), Target: ptr(10), ContainerConcurrency: ptr(4), TimeoutSeconds: ptr(60)},
			Revision:    "v3",
			Traffic:     spec.Traffic{Stable: "v2", CanaryPercent: ptr(25), Tags: map[string]string{"previous": "v1"}},
		}},
		{"image-scale-to-zero", spec.ModelService{
			Image: "registry.example.com/vision/resnet-server:1.0", Port: 9000,
			Env:         map[string]string{"MODEL": "resnet"},
			Autoscaling: spec.Autoscaling{MinScale: ptr(0)},
		}},
		{"pinned", spec.ModelService{
			Image: "registry.example.com/vision/resnet-server:1.0", Revision: "v1",
			Traffic: spec.Traffic{Pinned: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := tt.svc
			objs, err := Generate(&spec.App{Name: "resnet", Team: "vision", Serving: &svc}, &spec.Platform{Name: "ml"})
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) != 1 {
				t.Fatalf("got %d objects, want 1", len(objs))
			}
			for _, e := range Validate(objs[0]) {
				if !e.Warning {
					t.Errorf("Knative rejects the generated Service: %+v", e)
				}
			}
			var buf bytes.Buffer
			b, err := yaml.Marshal(objs[0].Object)
			if err != nil {
				t.Fatal(err)
			}
			buf.Write(b)
			golden.Check(t, "testdata/"+tt.name+".golden.yaml", buf.Bytes())
		})
	}
}

// TestValidateFindsKnativeErrors checks that Knative's validation runs:
// a reserved env var is refused, and the field path is normalised.
func TestValidateFindsKnativeErrors(t *testing.T) {
	svc := spec.ModelService{Image: "registry.example.com/x:1", Env: map[string]string{"K_REVISION": "x"}}
	objs, err := Generate(&spec.App{Name: "x", Team: "t", Serving: &svc}, nil)
	if err != nil {
		t.Fatal(err)
	}
	errs := Validate(objs[0])
	if len(errs) == 0 || errs[0].Field != "spec.template.spec.containers[0].env[0].name" {
		t.Fatalf("Validate = %+v, want an error on env[0].name", errs)
	}
	if got, _ := objs[0].Trace.Spec(errs[0].Field); got != "serving.env.K_REVISION" {
		t.Errorf("error traces to %q, want serving.env.K_REVISION", got)
	}
}

func TestNormalizePath(t *testing.T) {
	if got := normalizePath("spec.template.metadata.annotations[autoscaling.knative.dev/min-scale]"); got != "spec.template.metadata.annotations.autoscaling.knative.dev/min-scale" {
		t.Errorf("got %q", got)
	}
	if got := normalizePath("spec.traffic[1].percent"); got != "spec.traffic[1].percent" {
		t.Errorf("got %q", got)
	}
}

// TestGPUPlacement checks that a service requesting GPUs gets the GPU
// groups' node selector and toleration, that Knative accepts them with the
// features dmls enables, and that a service without GPUs gets neither.
func TestGPUPlacement(t *testing.T) {
	svc := spec.ModelService{Image: "registry.example.com/vision/resnet-server:1.0", Resources: &spec.Resources{CPU: "1", GPU: ptr(1)}}
	objs, err := Generate(&spec.App{Name: "resnet", Team: "vision", Serving: &svc, GPU: spec.GPUPlacement()}, &spec.Platform{Name: "ml"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := yaml.Marshal(objs[0].Object)
	for _, want := range []string{"dmls.dev/gpu: nvidia", "key: nvidia.com/gpu", "operator: Exists"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("service lacks %q:\n%s", want, b)
		}
	}
	for _, fe := range Validate(objs[0]) {
		if !fe.Warning {
			t.Errorf("Knative rejects the GPU placement: %v", fe)
		}
	}
	if got, _ := objs[0].Trace.Spec("spec.template.spec.tolerations[0]"); got != "serving.resources.gpu" {
		t.Errorf("toleration provenance %q", got)
	}
	svc.Resources = &spec.Resources{CPU: "1"}
	objs, err = Generate(&spec.App{Name: "resnet", Team: "vision", Serving: &svc, GPU: spec.GPUPlacement()}, &spec.Platform{Name: "ml"})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := yaml.Marshal(objs[0].Object); bytes.Contains(b, []byte("tolerations")) {
		t.Errorf("a service without GPUs got tolerations:\n%s", b)
	}
}
