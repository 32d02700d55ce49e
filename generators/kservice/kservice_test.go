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
			Env:         map[string]spec.EnvValue{"MODEL": spec.Literal("resnet")},
			Autoscaling: spec.Autoscaling{MinScale: ptr(0)},
		}},
		{"secret-refs", spec.ModelService{
			Image: "registry.example.com/vision/resnet-server:1.0",
			Env: map[string]spec.EnvValue{
				"DB_PASSWORD": {SecretRef: &spec.KeyRef{Name: "resnet-db", Key: "password"}},
				"MODEL_NAME":  {ConfigMapRef: &spec.KeyRef{Name: "resnet-settings", Key: "model", Optional: ptr(true)}},
				"LOG_LEVEL":   spec.Literal("info"),
			},
			EnvFrom: []spec.EnvSource{
				{SecretRef: &spec.ObjectRef{Name: "resnet-api"}, Prefix: "API_"},
				{ConfigMapRef: &spec.ObjectRef{Name: "resnet-settings", Optional: ptr(true)}},
			},
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
	svc := spec.ModelService{Image: "registry.example.com/x:1", Env: map[string]spec.EnvValue{"K_REVISION": spec.Literal("x")}}
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

// TestSecretRefsPassKnative checks that Knative (v0.42) accepts
// valueFrom.secretKeyRef, valueFrom.configMapKeyRef and envFrom without any
// feature flag, and that each traces back to its spec field (issue 8).
func TestSecretRefsPassKnative(t *testing.T) {
	svc := spec.ModelService{
		Image: "registry.example.com/x/serve:1.0",
		Env: map[string]spec.EnvValue{
			"A": {SecretRef: &spec.KeyRef{Name: "s", Key: "k"}},
			"B": {ConfigMapRef: &spec.KeyRef{Name: "c", Key: "k"}},
		},
		EnvFrom: []spec.EnvSource{{SecretRef: &spec.ObjectRef{Name: "s"}}, {ConfigMapRef: &spec.ObjectRef{Name: "c"}, Prefix: "C_"}},
	}
	objs, err := Generate(&spec.App{Name: "x", Team: "t", Serving: &svc}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var errs []FieldError
	for _, fe := range Validate(objs[0]) {
		if !fe.Warning {
			errs = append(errs, fe)
		}
	}
	if len(errs) > 0 {
		t.Fatalf("Knative refuses secret and config map references: %+v", errs)
	}
	for field, want := range map[string]string{
		"spec.template.spec.containers[0].env[0].valueFrom.secretKeyRef.name": "serving.env.A",
		"spec.template.spec.containers[0].env[1].valueFrom.configMapKeyRef":   "serving.env.B",
		"spec.template.spec.containers[0].envFrom[1].prefix":                  "serving.envFrom[1]",
	} {
		if got, _ := objs[0].Trace.Spec(field); got != want {
			t.Errorf("%s traces to %q, want %q", field, got, want)
		}
	}
}
