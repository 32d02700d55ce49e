package admission

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/dmls-project/dmls/internal/admission/corpus"
	"github.com/dmls-project/dmls/internal/crdgen"
)

// upstream names the module file each embedded CRD is a copy of, as
// module@version/@/path (the module is downloaded if need be: KServe, Trainer and
// the External Secrets Operator are not dmls dependencies). The
// versions are the project's pinned ones (go.mod, tests/e2e/cluster.sh).
var upstream = map[string]string{
	"tfjobs.kubeflow.org.json":                          "github.com/kubeflow/training-operator@v1.9.4/@/manifests/base/crds/kubeflow.org_tfjobs.yaml",
	"services.serving.knative.dev.json":                 "knative.dev/serving@v0.48.1/@/config/core/300-resources/service.yaml",
	"applications.argoproj.io.json":                     "github.com/argoproj/argo-cd/v3@v3.6.2/@/manifests/crds/application-crd.yaml",
	"appprojects.argoproj.io.json":                      "github.com/argoproj/argo-cd/v3@v3.6.2/@/manifests/crds/appproject-crd.yaml",
	"inferenceservices.serving.kserve.io.json":          "github.com/kserve/kserve@v0.20.0/@/config/crd/full/serving.kserve.io_inferenceservices.yaml",
	"externalsecrets.external-secrets.io.json":          "github.com/external-secrets/external-secrets@v1.3.2/@/config/crds/bases/external-secrets.io_externalsecrets.yaml",
	"clusters.kops.k8s.io.json":                         "k8s.io/kops@v1.33.1/@/k8s/crds/kops.k8s.io_clusters.yaml",
	"instancegroups.kops.k8s.io.json":                   "k8s.io/kops@v1.33.1/@/k8s/crds/kops.k8s.io_instancegroups.yaml",
	"trainjobs.trainer.kubeflow.org.json":               "github.com/kubeflow/trainer/v2@v2.3.0/@/manifests/base/crds/trainer.kubeflow.org_trainjobs.yaml",
	"trainingruntimes.trainer.kubeflow.org.json":        "github.com/kubeflow/trainer/v2@v2.3.0/@/manifests/base/crds/trainer.kubeflow.org_trainingruntimes.yaml",
	"clustertrainingruntimes.trainer.kubeflow.org.json": "github.com/kubeflow/trainer/v2@v2.3.0/@/manifests/base/crds/trainer.kubeflow.org_clustertrainingruntimes.yaml",
	"clusterqueues.kueue.x-k8s.io.json":                 "sigs.k8s.io/kueue@v0.19.2/@/config/components/crd/bases/kueue.x-k8s.io_clusterqueues.yaml",
	"localqueues.kueue.x-k8s.io.json":                   "sigs.k8s.io/kueue@v0.19.2/@/config/components/crd/bases/kueue.x-k8s.io_localqueues.yaml",
	"resourceflavors.kueue.x-k8s.io.json":               "sigs.k8s.io/kueue@v0.19.2/@/config/components/crd/bases/kueue.x-k8s.io_resourceflavors.yaml",
	"workloadpriorityclasses.kueue.x-k8s.io.json":       "sigs.k8s.io/kueue@v0.19.2/@/config/components/crd/bases/kueue.x-k8s.io_workloadpriorityclasses.yaml",
	"workloads.kueue.x-k8s.io.json":                     "sigs.k8s.io/kueue@v0.19.2/@/config/components/crd/bases/kueue.x-k8s.io_workloads.yaml",
}

// TestEmbeddedCRDsAreUpstream fails when an embedded CRD is not its upstream
// file as JSON (crdJSON: the one document, converted as the API machinery's
// YAML decoder converts it), or when a CRD is embedded that nobody tracks.
// DMLS_UPDATE_CRDS=1 writes the embedded files from upstream.
func TestEmbeddedCRDsAreUpstream(t *testing.T) {
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
		mod, file, _ := strings.Cut(src, "/@/")
		dir, err := crdgen.ModuleDir(mod)
		if err != nil {
			t.Errorf("%s: %v", e.Name(), err)
			continue
		}
		want, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(file)))
		if err != nil {
			t.Errorf("%s: %v (run go mod download)", e.Name(), err)
			continue
		}
		if want, err = crdJSON(want); err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		if os.Getenv("DMLS_UPDATE_CRDS") == "1" {
			if err := os.WriteFile(filepath.Join(CRDDir, e.Name()), want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, _ := crdFiles.ReadFile(CRDDir + "/" + e.Name())
		if !bytes.Equal(got, want) {
			t.Errorf("embedded %s differs from upstream %s: write it again (DMLS_UPDATE_CRDS=1 go test -run TestEmbeddedCRDsAreUpstream ./internal/admission)", e.Name(), src)
		}
	}
	if len(entries) != len(upstream) {
		t.Errorf("%d CRDs embedded, %d tracked", len(entries), len(upstream))
	}
}

func object(t testing.TB, src string) *unstructured.Unstructured {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(src), &m); err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

// TestCorpus checks each object of the corpus, as it would be created in
// namespace ml, with the findings and messages the API server gives (the
// e2e test checks the same corpus against a real API server).
func TestCorpus(t *testing.T) {
	checkCorpus(t, "testdata/corpus")
}

// checkCorpus checks each object of the corpus in dir, as it would be
// created in namespace ml, against the findings its file wants.
func checkCorpus(t *testing.T, dir string) {
	s, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	cases, err := corpus.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			if tc.Obj.GetKind() != "Namespace" {
				tc.Obj.SetNamespace("ml")
			}
			if !s.Knows(tc.Obj.GroupVersionKind()) && !KnowsBuiltin(tc.Obj.GroupVersionKind()) {
				t.Fatalf("no check for %s", tc.Obj.GroupVersionKind())
			}
			got := s.Check(tc.Obj)
			if len(got) != len(tc.Want) {
				t.Fatalf("got %d findings, want %d: %v", len(got), len(tc.Want), got)
			}
			for i, f := range got {
				if line := f.Field + ": " + f.Message; !strings.Contains(line, tc.Want[i]) {
					t.Errorf("finding %d = %q, want it to contain %q", i, line, tc.Want[i])
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
	src, err := os.ReadFile("testdata/corpus/valid-tfjob.yaml")
	if err != nil {
		t.Fatal(err)
	}
	goodTFJob := string(src)
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

// TestEmbeddedKinds holds embeddedKinds, which Default trusts so as not to
// parse every CRD up front, to the kinds and served versions the embedded
// files define, and checks that each lazily prepared version is the one
// an eager load prepares.
func TestEmbeddedKinds(t *testing.T) {
	eager, err := load(crdFiles)
	if err != nil {
		t.Fatal(err)
	}
	lazySchemas, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	got, want := lazySchemas.Kinds(), eager.Kinds()
	if len(got) != len(want) {
		t.Fatalf("embeddedKinds lists %v; the files define %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("embeddedKinds lists %v; the files define %v", got, want)
		}
		l, _, err := lazySchemas.get(want[i])
		if err != nil {
			t.Fatalf("%s: %v", want[i], err)
		}
		e, _, _ := eager.get(want[i])
		if l.crd != e.crd || l.namespaced != e.namespaced {
			t.Errorf("%s: lazily from %s (namespaced %v), eagerly from %s (namespaced %v)", want[i], l.crd, l.namespaced, e.crd, e.namespaced)
		}
	}
}

// KnowsBuiltin reports whether Builtin checks gvk.
func KnowsBuiltin(gvk schema.GroupVersionKind) bool {
	_, ok := builtins[gvk]
	return ok
}
