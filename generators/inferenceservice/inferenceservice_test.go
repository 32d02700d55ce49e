package inferenceservice

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/argoproj/argo-cd/gitops-engine/v3/pkg/health"
	"github.com/argoproj/argo-cd/v3/util/lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/internal/admission"
	"github.com/dmls-project/dmls/internal/golden"
	"github.com/dmls-project/dmls/internal/spec"
)

// cases are KServe model services covering what the spec can say.
var cases = []struct {
	name string
	svc  spec.ModelService
}{
	{"tensorflow-canary", spec.ModelService{
		Runtime:   spec.RuntimeKServe,
		Model:     &spec.Model{Format: "tensorflow", FormatVersion: "2", StorageURI: "pvc://model-pvc/saved_model_canary", RuntimeVersion: "2.14.1"},
		Resources: &spec.Resources{CPU: "1", Memory: "2Gi", Limits: &spec.Limits{CPU: "2", Memory: "4Gi"}},
		Autoscaling: spec.Autoscaling{MinScale: new(1), MaxScale: new(5), Target: new(10), Metric: "concurrency",
			ContainerConcurrency: new(8), TimeoutSeconds: new(60)},
		Traffic:        spec.Traffic{Stable: "v1", CanaryPercent: new(20)},
		Revision:       "v2",
		DeploymentMode: spec.DeploymentKnative,
	}},
	{"triton-gpu-raw", spec.ModelService{
		Runtime: spec.RuntimeKServe, Name: "resnet-triton",
		Model:          &spec.Model{Format: "triton", StorageURI: "s3://models/resnet", Runtime: "kserve-tritonserver", ProtocolVersion: "v2"},
		Resources:      &spec.Resources{CPU: "4", Memory: "16Gi", GPU: new(1)},
		Autoscaling:    spec.Autoscaling{MinScale: new(1), MaxScale: new(3), Target: new(80), Metric: "cpu"},
		DeploymentMode: spec.DeploymentRaw,
		Env:            map[string]spec.EnvValue{"OMP_NUM_THREADS": spec.Literal("4")},
		Args:           []string{"--log-verbose=1"},
	}},
	{"image-transformer-scale-to-zero", spec.ModelService{
		Runtime: spec.RuntimeKServe,
		Image:   "registry.example.com/vision/resnet-server:1.0", Port: 8080,
		Autoscaling: spec.Autoscaling{MinScale: new(0), Metric: "rps", Target: new(50)},
		Transformer: &spec.Transformer{Image: "registry.example.com/vision/resnet-transformer:1.0",
			Args: []string{"--model_name=resnet"}, Env: map[string]spec.EnvValue{"STAGE": spec.Literal("prod")},
			Resources: &spec.Resources{CPU: "500m", Memory: "1Gi"}},
	}},
}

func generate(t *testing.T, svc spec.ModelService) *unstructured.Unstructured {
	t.Helper()
	objs, err := Generate(&spec.AppSpec{Name: "resnet", Team: "vision", Serving: &svc}, &spec.Platform{Name: "ml"})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 {
		t.Fatalf("got %d objects, want 1", len(objs))
	}
	if errs := findings(t, objs[0]); len(errs) > 0 {
		t.Errorf("the generated InferenceService is rejected: %+v", errs)
	}
	return objs[0].Unstructured
}

func TestGolden(t *testing.T) {
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			b, err := yaml.Marshal(generate(t, tt.svc).Object)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, "testdata/"+tt.name+".golden.yaml", b)
		})
	}
}

func TestKnativeAppGivesNothing(t *testing.T) {
	objs, err := Generate(&spec.AppSpec{Name: "a", Serving: &spec.ModelService{Runtime: spec.RuntimeKnative, Image: "x:1"}}, nil)
	if err != nil || len(objs) != 0 {
		t.Fatalf("a Knative service gave %d objects, %v; want none", len(objs), err)
	}
}

// TestValidateRejects shows that the checks can fail: KServe's own
// validation and the CRD schema (internal/admission) each catch what they
// should.
func TestValidateRejects(t *testing.T) {
	for _, tt := range []struct {
		name      string
		edit      func(map[string]any)
		wantField string
		wantMsg   string
	}{
		{"min above max", func(o map[string]any) { pred(o)["minReplicas"] = int64(9) }, "spec.predictor.minReplicas", "MinReplicas"},
		{"cpu metric on Knative", func(o map[string]any) { pred(o)["scaleMetric"] = "cpu" }, "spec.predictor.scaleMetric", "not a supported metric"},
		{"seed's components", func(o map[string]any) { pred(o)["components"] = map[string]any{"default": map[string]any{}} }, "spec.predictor.components", "unknown field"},
		{"seed's tensorflow.autoscaling", func(o map[string]any) {
			pred(o)["tensorflow"] = map[string]any{"storageUri": "pvc://m/x", "autoscaling": map[string]any{"minReplicas": int64(1)}}
		}, "spec.predictor.tensorflow.autoscaling", "unknown field"},
		{"canary percent a string", func(o map[string]any) { pred(o)["canaryTrafficPercent"] = "20" }, "spec.predictor.canaryTrafficPercent", "canaryTrafficPercent"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			objs, _ := Generate(&spec.AppSpec{Name: "resnet", Serving: &cases[0].svc}, nil)
			tt.edit(objs[0].Object)
			errs := findings(t, objs[0])
			for _, e := range errs {
				if e.Field == tt.wantField && strings.Contains(e.Message, tt.wantMsg) {
					return
				}
			}
			t.Errorf("findings %+v lack %s: %s", errs, tt.wantField, tt.wantMsg)
		})
	}
}

// findings are KServe's validation and the CRD schema's (internal/admission)
// of an object, as internal/build runs them.
func findings(t *testing.T, o generators.Object) []FieldError {
	t.Helper()
	schemas, err := admission.Default()
	if err != nil {
		t.Fatal(err)
	}
	u := o.Unstructured.DeepCopy()
	u.SetNamespace("default")
	var out []FieldError
	for _, f := range schemas.Check(u) {
		out = append(out, FieldError{Field: f.Field, Message: f.Message})
	}
	return append(out, Validate(o)...)
}

func pred(o map[string]any) map[string]any {
	return o["spec"].(map[string]any)["predictor"].(map[string]any)
}

func moduleDir(t *testing.T, mod string) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", mod).Output()
	if err != nil {
		t.Fatalf("locate %s: %v", mod, err)
	}
	return strings.TrimSpace(string(out))
}

// TestArgoCDHealth checks that Argo CD's built-in health check for
// InferenceServices (resource_customizations/serving.kserve.io/
// InferenceService) applies to what dmls generates, so dmls ships none:
// Argo CD finds the script for the object's group and kind, and it reads
// the status KServe writes.
func TestArgoCDHealth(t *testing.T) {
	obj := generate(t, cases[0].svc)
	vm := lua.VM{}
	script, _, err := vm.GetHealthScript(obj)
	if err != nil {
		t.Fatal(err)
	}
	if script == "" {
		t.Fatal("Argo CD has no built-in health check for serving.kserve.io/InferenceService")
	}
	dir := filepath.Join(moduleDir(t, "github.com/argoproj/argo-cd/v3"), "resource_customizations", "serving.kserve.io", "InferenceService")
	builtin, err := os.ReadFile(filepath.Join(dir, "health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	if script != string(builtin) {
		t.Error("the health script Argo CD picks for InferenceServices is not its built-in one")
	}
	for file, want := range map[string]health.HealthStatusCode{
		"healthy.yaml": health.HealthStatusHealthy, "healthy_raw.yaml": health.HealthStatusHealthy,
		"progressing.yaml": health.HealthStatusProgressing, "degraded.yaml": health.HealthStatusDegraded,
	} {
		b, err := os.ReadFile(filepath.Join(dir, "testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		var sample unstructured.Unstructured
		if err := yaml.Unmarshal(b, &sample.Object); err != nil {
			t.Fatal(err)
		}
		// dmls's object with the status of Argo CD's sample.
		o := obj.DeepCopy()
		o.Object["status"] = sample.Object["status"]
		hs, err := vm.ExecuteHealthLua(o, script)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if hs.Status != want {
			t.Errorf("%s: health %s (%s), want %s", file, hs.Status, hs.Message, want)
		}
	}
	// Without a status (just synced), it is progressing, not healthy.
	hs, err := vm.ExecuteHealthLua(obj, script)
	if err != nil {
		t.Fatal(err)
	}
	if hs.Status == health.HealthStatusHealthy {
		t.Errorf("an InferenceService without status is %s; want not Healthy", hs.Status)
	}
}
