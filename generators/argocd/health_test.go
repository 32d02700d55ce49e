package argocd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/argoproj/argo-cd/gitops-engine/v3/pkg/health"
	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"github.com/argoproj/argo-cd/v3/util/lua"
	kubeflowv1 "github.com/kubeflow/training-operator/pkg/apis/kubeflow.org/v1"
	commonutil "github.com/kubeflow/training-operator/pkg/util"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

// overrides turns argocd-cm health keys into the resource overrides Argo
// CD's settings manager builds from them
// (resource.customizations.health.<group>_<kind> is override <group>/<kind>).
func overrides(t *testing.T, data map[string]string) map[string]v1alpha1.ResourceOverride {
	t.Helper()
	const prefix = "resource.customizations.health."
	out := map[string]v1alpha1.ResourceOverride{}
	for k, v := range data {
		gk, ok := strings.CutPrefix(k, prefix)
		if !ok {
			t.Fatalf("argocd-cm key %q is not a health customization", k)
		}
		group, kind, ok := strings.Cut(gk, "_")
		if !ok {
			t.Fatalf("argocd-cm key %q has no <group>_<kind>", k)
		}
		out[group+"/"+kind] = v1alpha1.ResourceOverride{HealthLua: v}
	}
	return out
}

// healthOf runs the health check argocd-cm gives obj, the way Argo CD's
// controller does: find the script by the object's GroupVersionKind, run it
// in Argo CD's Lua VM without the open libraries.
func healthOf(t *testing.T, obj *unstructured.Unstructured) *health.HealthStatus {
	t.Helper()
	vm := lua.VM{ResourceOverrides: overrides(t, Settings())}
	script, openLibs, err := vm.GetHealthScript(obj)
	if err != nil {
		t.Fatal(err)
	}
	if script == "" {
		t.Fatalf("argocd-cm has no health check for %s", obj.GroupVersionKind())
	}
	vm.UseOpenLibs = openLibs
	hs, err := vm.ExecuteHealthLua(obj, script)
	if err != nil {
		t.Fatalf("health of %s: %v", obj.GetName(), err)
	}
	return hs
}

// TestSettingsKeys checks the argocd-cm keys name the kinds Argo CD looks
// the scripts up by.
func TestSettingsKeys(t *testing.T) {
	for key, gvk := range map[string]schema.GroupVersionKind{
		KeyTFJobHealth:       kubeflowv1.SchemeGroupVersion.WithKind(kubeflowv1.TFJobKind),
		KeyTrainJobHealth:    {Group: "trainer.kubeflow.org", Version: "v1alpha1", Kind: "TrainJob"},
		KeyApplicationHealth: v1alpha1.ApplicationSchemaGroupVersionKind,
	} {
		want := "resource.customizations.health." + strings.Replace(lua.GetConfigMapKey(gvk), "/", "_", 1)
		if key != want {
			t.Errorf("key %q, want %q", key, want)
		}
		if Settings()[key] == "" {
			t.Errorf("Settings lacks %s", key)
		}
	}
}

type healthCase struct {
	InputPath    string              `json:"inputPath"`
	HealthStatus health.HealthStatus `json:"healthStatus"`
}

// TestTFJobHealth runs the TFJob health check on the status documents in
// testdata/health/tfjob, listed with their verdicts in health_test.yaml as
// Argo CD lists those of its built-in checks.
func TestTFJobHealth(t *testing.T) {
	dir := filepath.Join("testdata", "health", "tfjob")
	b, err := os.ReadFile(filepath.Join(dir, "health_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cases struct {
		Tests []healthCase `json:"tests"`
	}
	if err := yaml.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases.Tests) < 5 {
		t.Fatalf("%d cases, want at least 5", len(cases.Tests))
	}
	for _, c := range cases.Tests {
		t.Run(c.InputPath, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, c.InputPath))
			if err != nil {
				t.Fatal(err)
			}
			obj := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(b, &obj.Object); err != nil {
				t.Fatal(err)
			}
			if got := healthOf(t, obj); *got != c.HealthStatus {
				t.Errorf("health = %+v, want %+v", *got, c.HealthStatus)
			}
		})
	}
}

// TestTFJobHealthFollowsOperator drives a TFJob's conditions with the
// training operator's own UpdateJobConditions through the lifecycles it
// goes through, and checks the verdict after each step.
func TestTFJobHealthFollowsOperator(t *testing.T) {
	const (
		created    = kubeflowv1.JobCreated
		running    = kubeflowv1.JobRunning
		restarting = kubeflowv1.JobRestarting
		succeeded  = kubeflowv1.JobSucceeded
		failed     = kubeflowv1.JobFailed
		suspended  = kubeflowv1.JobSuspended
	)
	type step struct {
		cond   kubeflowv1.JobConditionType
		status corev1.ConditionStatus
		want   health.HealthStatusCode
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"succeeds", []step{
			{created, corev1.ConditionTrue, health.HealthStatusProgressing},
			{running, corev1.ConditionTrue, health.HealthStatusProgressing},
			{succeeded, corev1.ConditionTrue, health.HealthStatusHealthy},
		}},
		{"restarts then succeeds", []step{
			{created, corev1.ConditionTrue, health.HealthStatusProgressing},
			{running, corev1.ConditionTrue, health.HealthStatusProgressing},
			{restarting, corev1.ConditionTrue, health.HealthStatusProgressing},
			{running, corev1.ConditionTrue, health.HealthStatusProgressing},
			{succeeded, corev1.ConditionTrue, health.HealthStatusHealthy},
		}},
		{"fails, and stays failed", []step{
			{created, corev1.ConditionTrue, health.HealthStatusProgressing},
			{running, corev1.ConditionTrue, health.HealthStatusProgressing},
			{failed, corev1.ConditionTrue, health.HealthStatusDegraded},
			// The operator ignores updates to a failed job.
			{running, corev1.ConditionTrue, health.HealthStatusDegraded},
		}},
		{"suspended and resumed", []step{
			{created, corev1.ConditionTrue, health.HealthStatusProgressing},
			{running, corev1.ConditionFalse, health.HealthStatusProgressing},
			// Kueue suspends a job until it admits it: queued, not stuck.
			{suspended, corev1.ConditionTrue, health.HealthStatusProgressing},
			{suspended, corev1.ConditionFalse, health.HealthStatusProgressing},
			{running, corev1.ConditionTrue, health.HealthStatusProgressing},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			job := &kubeflowv1.TFJob{
				TypeMeta:   metav1.TypeMeta{APIVersion: kubeflowv1.SchemeGroupVersion.String(), Kind: kubeflowv1.TFJobKind},
				ObjectMeta: metav1.ObjectMeta{Name: "fashion-mnist-r3", Namespace: "ml-research-dev"},
			}
			for i, s := range tt.steps {
				msg := string(s.cond) + " " + string(s.status)
				commonutil.UpdateJobConditions(&job.Status, s.cond, s.status, commonutil.NewReason(kubeflowv1.TFJobKind, string(s.cond)), msg)
				m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(job)
				if err != nil {
					t.Fatal(err)
				}
				got := healthOf(t, &unstructured.Unstructured{Object: m})
				if got.Status != s.want {
					t.Errorf("step %d (%s=%s): health %+v, want %s; conditions %+v", i, s.cond, s.status, *got, s.want, job.Status.Conditions)
				}
				if got.Message == "" {
					t.Errorf("step %d: no message", i)
				}
			}
		})
	}
}

// TestApplicationHealth checks the Application health check reports the
// health the controller recorded, and Progressing until it has.
func TestApplicationHealth(t *testing.T) {
	tests := []struct {
		name   string
		status map[string]any
		want   health.HealthStatus
	}{
		{"no status yet", nil, health.HealthStatus{Status: health.HealthStatusProgressing}},
		{"healthy", map[string]any{"health": map[string]any{"status": "Healthy"}}, health.HealthStatus{Status: health.HealthStatusHealthy}},
		{"degraded", map[string]any{"health": map[string]any{"status": "Degraded", "message": "TFJob failed"}}, health.HealthStatus{Status: health.HealthStatusDegraded, Message: "TFJob failed"}},
		{"health without status", map[string]any{"health": map[string]any{}}, health.HealthStatus{Status: health.HealthStatusProgressing}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := &unstructured.Unstructured{Object: map[string]any{}}
			obj.SetGroupVersionKind(v1alpha1.ApplicationSchemaGroupVersionKind)
			obj.SetName("fashion-mnist-dev")
			if tt.status != nil {
				obj.Object["status"] = tt.status
			}
			if got := healthOf(t, obj); *got != tt.want {
				t.Errorf("health = %+v, want %+v", *got, tt.want)
			}
		})
	}
}
