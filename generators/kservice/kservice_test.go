package kservice

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"knative.dev/serving/pkg/apis/config"
	"sigs.k8s.io/yaml"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/internal/admission"
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
			Resources:   &spec.Resources{CPU: "1", Memory: "2Gi", GPU: new(1)},
			Autoscaling: spec.Autoscaling{MinScale: new(1), MaxScale: new(5), Target: new(10), ContainerConcurrency: new(4), TimeoutSeconds: new(60)},
			Revision:    "v3",
			Traffic:     spec.Traffic{Stable: "v2", CanaryPercent: new(25), Tags: map[string]string{"previous": "v1"}},
		}},
		{"image-scale-to-zero", spec.ModelService{
			Image: "registry.example.com/vision/resnet-server:1.0", Port: 9000,
			Env:         map[string]spec.EnvValue{"MODEL": spec.Literal("resnet")},
			Autoscaling: spec.Autoscaling{MinScale: new(0)},
		}},
		{"secret-refs", spec.ModelService{
			Image: "registry.example.com/vision/resnet-server:1.0",
			Env: map[string]spec.EnvValue{
				"DB_PASSWORD": {SecretRef: &spec.KeyRef{Name: "resnet-db", Key: "password"}},
				"MODEL_NAME":  {ConfigMapRef: &spec.KeyRef{Name: "resnet-settings", Key: "model", Optional: new(true)}},
				"LOG_LEVEL":   spec.Literal("info"),
			},
			EnvFrom: []spec.EnvSource{
				{SecretRef: &spec.ObjectRef{Name: "resnet-api"}, Prefix: "API_"},
				{ConfigMapRef: &spec.ObjectRef{Name: "resnet-settings", Optional: new(true)}},
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
			objs, err := Generate(&spec.AppSpec{Name: "resnet", Team: "vision", Serving: &svc}, &spec.Platform{Name: "ml"})
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) != 1 {
				t.Fatalf("got %d objects, want 1", len(objs))
			}
			features, err := Features(objs...)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range admission.ValidateKnativeService(objs[0].Object, features, nil) {
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
	objs, err := Generate(&spec.AppSpec{Name: "x", Team: "t", Serving: &svc}, nil)
	if err != nil {
		t.Fatal(err)
	}
	errs := admission.ValidateKnativeService(objs[0].Object, nil, nil)
	if len(errs) == 0 || errs[0].Field != "spec.template.spec.containers[0].env[0].name" {
		t.Fatalf("Validate = %+v, want an error on env[0].name", errs)
	}
	if got, _ := objs[0].Trace.Spec(errs[0].Field); got != "serving.env.K_REVISION" {
		t.Errorf("error traces to %q, want serving.env.K_REVISION", got)
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
	objs, err := Generate(&spec.AppSpec{Name: "x", Team: "t", Serving: &svc}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var errs []admission.KnativeFinding
	for _, fe := range admission.ValidateKnativeService(objs[0].Object, nil, nil) {
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

// TestFeatures derives config-features from the PodSpecs, and Knative's
// validation, reading the same settings, accepts a model on a PVC only
// with them: the PVC flag is what a model service needs, and nothing else
// is enabled.
func TestFeatures(t *testing.T) {
	svc := spec.ModelService{Model: &spec.Model{StorageURI: "pvc://models/resnet", Runtime: "tensorflow", RuntimeVersion: "2.14.1"}}
	objs, err := Generate(&spec.AppSpec{Name: "resnet", Team: "vision", Serving: &svc}, nil)
	if err != nil {
		t.Fatal(err)
	}
	features, err := Features(objs...)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range PodSpecFlags {
		want := "disabled"
		if f.Key == "kubernetes.podspec-persistent-volume-claim" {
			want = "enabled"
		}
		if features[f.Key] != want {
			t.Errorf("%s = %q, want %s", f.Key, features[f.Key], want)
		}
	}
	if errs := errorsOnly(admission.ValidateKnativeService(objs[0].Object, features, nil)); len(errs) != 0 {
		t.Errorf("with its own features: %+v", errs)
	}
	var rejected bool
	for _, e := range admission.ValidateKnativeService(objs[0].Object, nil, nil) {
		if !e.Warning && strings.Contains(e.Field, "volumes") {
			rejected = true
		}
	}
	if !rejected {
		t.Error("without the PVC flag Knative should reject the model volume")
	}

	// A node selector and tolerations (GPU serving) enable their flags;
	// the union keeps every enabled flag.
	gpu := objs[0].DeepCopy()
	if err := unstructured.SetNestedStringMap(gpu.Object, map[string]string{"nvidia.com/gpu.present": "true"}, "spec", "template", "spec", "nodeSelector"); err != nil {
		t.Fatal(err)
	}
	if err := unstructured.SetNestedSlice(gpu.Object, []any{map[string]any{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}}, "spec", "template", "spec", "tolerations"); err != nil {
		t.Fatal(err)
	}
	gf, err := Features(generators.Object{Unstructured: gpu})
	if err != nil {
		t.Fatal(err)
	}
	if errs := errorsOnly(admission.ValidateKnativeService(gpu.Object, features, nil)); len(errs) == 0 {
		t.Error("Knative accepts a node selector with the PVC flag only")
	}
	all := MergeFeatures(features, gf)
	for _, k := range []string{"kubernetes.podspec-nodeselector", "kubernetes.podspec-tolerations", "kubernetes.podspec-persistent-volume-claim"} {
		if all[k] != "enabled" {
			t.Errorf("merged %s = %q", k, all[k])
		}
	}
	if errs := errorsOnly(admission.ValidateKnativeService(gpu.Object, all, nil)); len(errs) != 0 {
		t.Errorf("with the merged features: %+v", errs)
	}
	// Every flag is one Knative knows: enabling it changes its settings.
	defaults, err := config.NewFeaturesConfigFromMap(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range PodSpecFlags {
		on, err := config.NewFeaturesConfigFromMap(map[string]string{f.Key: "enabled"})
		if err != nil {
			t.Fatal(err)
		}
		if reflect.DeepEqual(on, defaults) {
			t.Errorf("%s: Knative does not know the flag, or enables it by default", f.Key)
		}
	}
}

func errorsOnly(fes []admission.KnativeFinding) []admission.KnativeFinding {
	var out []admission.KnativeFinding
	for _, e := range fes {
		if !e.Warning {
			out = append(out, e)
		}
	}
	return out
}

// TestGPUPlacement checks that a service requesting GPUs gets the GPU
// groups' node selector and toleration, that Knative accepts them with the
// features dmls enables, and that a service without GPUs gets neither.
func TestGPUPlacement(t *testing.T) {
	svc := spec.ModelService{Image: "registry.example.com/vision/resnet-server:1.0", Resources: &spec.Resources{CPU: "1", GPU: new(1)}}
	objs, err := Generate(&spec.AppSpec{Name: "resnet", Team: "vision", Serving: &svc, GPU: spec.GPUPlacement()}, &spec.Platform{Name: "ml"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := yaml.Marshal(objs[0].Object)
	for _, want := range []string{"dmls.dev/gpu: nvidia", "key: nvidia.com/gpu", "operator: Exists"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("service lacks %q:\n%s", want, b)
		}
	}
	features, err := Features(objs...)
	if err != nil {
		t.Fatal(err)
	}
	for _, fe := range errorsOnly(admission.ValidateKnativeService(objs[0].Object, features, nil)) {
		t.Errorf("Knative rejects the GPU placement with the features dmls enables: %v", fe)
	}
	if got, _ := objs[0].Trace.Spec("spec.template.spec.tolerations[0]"); got != "serving.resources.gpu" {
		t.Errorf("toleration provenance %q", got)
	}
	svc.Resources = &spec.Resources{CPU: "1"}
	objs, err = Generate(&spec.AppSpec{Name: "resnet", Team: "vision", Serving: &svc, GPU: spec.GPUPlacement()}, &spec.Platform{Name: "ml"})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := yaml.Marshal(objs[0].Object); bytes.Contains(b, []byte("tolerations")) {
		t.Errorf("a service without GPUs got tolerations:\n%s", b)
	}
}
