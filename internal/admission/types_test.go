package admission

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kueuev1beta2 "sigs.k8s.io/kueue/apis/kueue/v1beta2"
	"sigs.k8s.io/yaml"

	"github.com/dmls-project/dmls/internal/apis/trainerv1alpha1"
)

// TestTrainJobTypesRoundTrip decodes the valid TrainJob into the types
// crdgen generated from Trainer's CRD, strictly (a field the types lack is
// an error), encodes it again, and requires the same object, which the
// CRD still admits: the types lose nothing a TrainJob generator writes.
func TestTrainJobTypesRoundTrip(t *testing.T) {
	src, err := os.ReadFile("testdata/corpus/valid-trainjob.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var job trainerv1alpha1.TrainJob
	if err := yaml.UnmarshalStrict(src, &job); err != nil {
		t.Fatalf("decode into trainerv1alpha1.TrainJob: %v", err)
	}
	if job.Spec == nil || job.Spec.RuntimeRef.Name != "torch-distributed" || job.Spec.Trainer == nil || job.Spec.Trainer.ResourcesPerNode == nil {
		t.Fatalf("decoded TrainJob lost its runtimeRef or trainer: %+v", job.Spec)
	}
	if gpu := job.Spec.Trainer.ResourcesPerNode.Limits["nvidia.com/gpu"]; gpu.Value() != 1 {
		t.Errorf("resourcesPerNode.limits: nvidia.com/gpu = %s, want 1", gpu.String())
	}
	b, err := json.Marshal(&job)
	if err != nil {
		t.Fatal(err)
	}
	var got, want map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(src, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip changed the TrainJob:\n got %s\nwant %v", b, want)
	}
	s, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	obj := &unstructured.Unstructured{Object: got}
	obj.SetNamespace("ml")
	if found := s.Check(obj); len(found) != 0 {
		t.Errorf("the encoded TrainJob is refused: %v", found)
	}
}

// TestClusterQueueDecodesIntoKueueTypes decodes the valid ClusterQueue
// into Kueue's own Go type (sigs.k8s.io/kueue, which builds on dmls's
// k8s.io line), strictly: what the CRD admits, the Go type holds.
func TestClusterQueueDecodesIntoKueueTypes(t *testing.T) {
	src, err := os.ReadFile("testdata/corpus/valid-clusterqueue.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cq kueuev1beta2.ClusterQueue
	if err := yaml.UnmarshalStrict(src, &cq); err != nil {
		t.Fatalf("decode into kueue v1beta2.ClusterQueue: %v", err)
	}
	if cq.Spec.CohortName != "ml" || len(cq.Spec.ResourceGroups) != 1 {
		t.Fatalf("cohort %q, %d resource groups; want ml and 1", cq.Spec.CohortName, len(cq.Spec.ResourceGroups))
	}
	res := cq.Spec.ResourceGroups[0].Flavors[0].Resources
	if len(res) != 3 || res[2].Name != "nvidia.com/gpu" || res[2].BorrowingLimit == nil || res[2].BorrowingLimit.Value() != 4 {
		t.Errorf("flavor a10g resources %+v, want nvidia.com/gpu with borrowingLimit 4 last", res)
	}
}
