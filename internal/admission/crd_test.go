package admission

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// upstream names the module file each embedded CRD is a copy of. The
// versions are the project's pinned ones (go.mod, tests/e2e/cluster.sh).
var upstream = map[string]string{
	"tfjobs.kubeflow.org.yaml":          "github.com/kubeflow/training-operator@v1.8.1/manifests/base/crds/kubeflow.org_tfjobs.yaml",
	"services.serving.knative.dev.yaml": "knative.dev/serving@v0.42.2/config/core/300-resources/service.yaml",
	"applications.argoproj.io.yaml":     "github.com/argoproj/argo-cd/v2@v2.14.21/manifests/crds/application-crd.yaml",
	"appprojects.argoproj.io.yaml":      "github.com/argoproj/argo-cd/v2@v2.14.21/manifests/crds/appproject-crd.yaml",
}

// TestEmbeddedCRDsAreUpstream fails when an embedded CRD is not a byte copy
// of its upstream file, or when a CRD is embedded that nobody tracks.
func TestEmbeddedCRDsAreUpstream(t *testing.T) {
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatalf("go env GOMODCACHE: %v", err)
	}
	cache := strings.TrimSpace(string(out))
	entries, err := crdFiles.ReadDir(CRDDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		src, ok := upstream[e.Name()]
		if !ok {
			t.Errorf("embedded CRD %s has no upstream file in the test's table", e.Name())
			continue
		}
		want, err := os.ReadFile(filepath.Join(cache, src))
		if err != nil {
			t.Errorf("%s: %v (run go mod download)", e.Name(), err)
			continue
		}
		got, _ := crdFiles.ReadFile(CRDDir + "/" + e.Name())
		if !bytes.Equal(got, want) {
			t.Errorf("embedded %s differs from upstream %s: copy it again", e.Name(), src)
		}
	}
	if len(entries) != len(upstream) {
		t.Errorf("%d CRDs embedded, %d tracked", len(entries), len(upstream))
	}
}

func object(t *testing.T, src string) *unstructured.Unstructured {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(src), &m); err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

const goodTFJob = `
apiVersion: kubeflow.org/v1
kind: TFJob
metadata: {name: mnist-r1, namespace: ml}
spec:
  runPolicy: {cleanPodPolicy: None}
  tfReplicaSpecs:
    Worker:
      replicas: 2
      restartPolicy: Never
      template:
        spec:
          containers:
          - name: tensorflow
            image: kubeflow/multi-worker-strategy:v0.1
            resources: {limits: {cpu: 500m}}
`

func TestValidate(t *testing.T) {
	s, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		obj  string
		// want are substrings of "field: message" of each finding, in order.
		want []string
	}{
		{name: "valid TFJob", obj: goodTFJob},
		{
			name: "TFJob replicas of the wrong type",
			obj:  strings.Replace(goodTFJob, "replicas: 2", `replicas: "two"`, 1),
			want: []string{`spec.tfReplicaSpecs.Worker.replicas: Invalid value: "string": spec.tfReplicaSpecs.Worker.replicas in body must be of type integer`},
		},
		{
			name: "TFJob field the server would prune",
			obj:  strings.Replace(goodTFJob, "restartPolicy: Never", "restartPolicy: Never\n      priority: high", 1),
			want: []string{"spec.tfReplicaSpecs.Worker.priority: unknown field"},
		},
		{
			name: "TFJob container without a name",
			obj:  strings.Replace(goodTFJob, "- name: tensorflow\n            image:", "- image:", 1),
			want: []string{"spec.tfReplicaSpecs.Worker.template.spec.containers[0].name: Required value"},
		},
		{
			name: "TFJob bad quantity",
			obj:  strings.Replace(goodTFJob, "cpu: 500m", "cpu: lots", 1),
			want: []string{"spec.tfReplicaSpecs.Worker.template.spec.containers[0].resources.limits.cpu"},
		},
		{
			name: "Application with syncOptions under automated",
			obj: `
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: kubeflow, namespace: argocd}
spec:
  project: default
  source: {repoURL: "https://git.example.com/k.git", targetRevision: HEAD, path: kubeflow}
  destination: {server: "https://kubernetes.default.svc", namespace: kubeflow}
  syncPolicy:
    automated: {prune: true, selfHeal: true, syncOptions: ["CreateNamespace=true"]}
`,
			want: []string{"spec.syncPolicy.automated.syncOptions: unknown field"},
		},
		{
			name: "Application without a destination",
			obj: `
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: a, namespace: argocd}
spec:
  project: default
  source: {repoURL: "https://git.example.com/k.git", path: p}
`,
			want: []string{"spec.destination: Required value"},
		},
		{
			name: "AppProject with a misspelt field",
			obj: `
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {name: team, namespace: argocd}
spec:
  sourceRepo: ["https://git.example.com/k.git"]
`,
			want: []string{"spec.sourceRepo: unknown field"},
		},
		{
			name: "Knative Service with a string for containerConcurrency",
			obj: `
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: m, namespace: ml}
spec:
  template:
    spec:
      containerConcurrency: many
      containers: [{image: "registry.example.com/m:1"}]
`,
			want: []string{"spec.template.spec.containerConcurrency: Invalid value"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obj := object(t, tc.obj)
			if !s.Knows(obj.GroupVersionKind()) {
				t.Fatalf("no schema for %s", obj.GroupVersionKind())
			}
			got := s.Validate(obj)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d findings, want %d: %v", len(got), len(tc.want), got)
			}
			for i, f := range got {
				line := f.Field + ": " + f.Message
				if !strings.Contains(line, tc.want[i]) {
					t.Errorf("finding %d = %q, want it to contain %q", i, line, tc.want[i])
				}
			}
		})
	}
}

// TestCEL checks that x-kubernetes-validations rules run, with a CRD of the
// test's own: the upstream CRDs dmls embeds have only transition rules,
// which do not apply on create.
func TestCEL(t *testing.T) {
	s := New()
	err := s.Add([]byte(`
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: scalers.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Scaler, plural: scalers, singular: scaler, listKind: ScalerList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            x-kubernetes-validations:
            - rule: self.min <= self.max
              message: min must not exceed max
            properties:
              min: {type: integer}
              max: {type: integer}
`))
	if err != nil {
		t.Fatal(err)
	}
	ok := object(t, "apiVersion: example.com/v1\nkind: Scaler\nmetadata: {name: s}\nspec: {min: 1, max: 3}\n")
	if got := s.Validate(ok); len(got) != 0 {
		t.Fatalf("valid object: %v", got)
	}
	bad := object(t, "apiVersion: example.com/v1\nkind: Scaler\nmetadata: {name: s}\nspec: {min: 4, max: 3}\n")
	got := s.Validate(bad)
	if len(got) != 1 || got[0].Field != "spec" || !strings.Contains(got[0].Message, "min must not exceed max") {
		t.Fatalf("CEL rule: got %v", got)
	}
}

func TestTFJobWebhook(t *testing.T) {
	tests := []struct {
		name string
		obj  string
		want []string
	}{
		{name: "valid", obj: goodTFJob},
		{name: "name not DNS-1035", obj: strings.Replace(goodTFJob, "name: mnist-r1", "name: 1mnist", 1), want: []string{"metadata.name: Invalid value"}},
		{name: "no tensorflow container", obj: strings.Replace(goodTFJob, "name: tensorflow", "name: trainer", 1), want: []string{"must have at least one container with name tensorflow"}},
		{name: "container without image", obj: strings.Replace(goodTFJob, "image: kubeflow/multi-worker-strategy:v0.1", "imagePullPolicy: Always", 1), want: []string{"spec.tfReplicaSpecs.Worker.template.spec.containers[0].image: Required value"}},
		{
			name: "chief and master",
			obj: strings.Replace(goodTFJob, "    Worker:", `    Chief:
      replicas: 1
      template: {spec: {containers: [{name: tensorflow, image: "a:1"}]}}
    Master:
      replicas: 1
      template: {spec: {containers: [{name: tensorflow, image: "a:1"}]}}
    Worker:`, 1),
			want: []string{"spec.tfReplicaSpecs: Forbidden: must not have more than 1 Chief or Master role"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := TFJob(object(t, tc.obj))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d findings, want %d: %v", len(got), len(tc.want), got)
			}
			for i, f := range got {
				if line := f.Field + ": " + f.Message; !strings.Contains(line, tc.want[i]) {
					t.Errorf("finding %d = %q, want %q", i, line, tc.want[i])
				}
			}
		})
	}
}
