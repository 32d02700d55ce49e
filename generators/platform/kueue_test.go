package platform

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/generators/kustomize"
	"github.com/dmls-project/dmls/internal/golden"
	"github.com/dmls-project/dmls/internal/spec"
)

// kueueFixture is fixture's prod environment under Kueue, on a cluster
// with two GPU types, a team quota by GPU type with a cohort and a
// borrowing limit, a priority class, a TrainJob, and services that take
// 3 cpu at max scale.
func kueueFixture() Input {
	in := fixture()
	p := in.Platform
	r := p.Teams["ml-research"]
	r.Quota = &spec.Quota{CPU: "16", Memory: "64Gi", GPU: new(10), GPUTypes: map[string]int{"a10g": 8, "h100": 2}}
	r.Queue = &spec.TeamQueue{Cohort: "research", BorrowingLimit: &spec.BorrowingLimit{CPU: "4", GPU: new(2)},
		Preemption: &spec.QueuePreemption{ReclaimWithinCohort: "Any", WithinClusterQueue: "LowerPriority"}}
	p.Teams["ml-research"] = r
	p.PriorityClasses = map[string]spec.PriorityClass{"high": {Value: 1000, Description: "deadlines"}}
	p.Clusters = map[string]spec.KopsCluster{"ml": {NodeGroups: map[string]spec.NodeGroup{
		"nodes":  {MachineType: "m5.xlarge", MaxSize: 3},
		"a10g":   {MachineType: "g5.12xlarge", MaxSize: 4, GPU: true},
		"a10g-2": {MachineType: "g5.48xlarge", MaxSize: 1, GPU: true, Labels: map[string]string{"tier": "big"}},
		"h100":   {MachineType: "p5.48xlarge", MaxSize: 1, GPU: true, Taints: []spec.Taint{{Key: "reserved", Value: "llm", Effect: "NoSchedule"}}},
	}}}
	in.Env.Scheduler = spec.SchedulerKueue
	in.Env.Cluster.Name = "ml"
	in.ClusterScoped = true
	in.TrainJobs = map[string][]string{"ml-research": {"llm-r1"}}
	in.ServingMax = map[string]map[string]resource.Quantity{"ml-research": {"cpu": resource.MustParse("3"), "gpu": resource.MustParse("1")}}
	return in
}

// TestKueueGolden covers the Kueue objects of an environment: the default
// and per-GPU-group flavors with labels, taints and GPU type, the
// ClusterQueue with its GPU types on their flavors (the first group of a
// type holds its quota), cohort, borrowing limit and preemption, the
// LocalQueues, the priority class, the ResourceQuota sized for Kueue, and
// the TrainJob's NetworkPolicy.
func TestKueueGolden(t *testing.T) {
	objs, err := GuardRails(kueueFixture())
	if err != nil {
		t.Fatal(err)
	}
	tree, err := kustomize.Plain(objs)
	if err != nil {
		t.Fatal(err)
	}
	golden.CheckTree(t, "testdata/prod-kueue", tree)
}

// TestKueueResourceQuota checks the sizing rule: nominal quota plus
// borrowing limit plus serving at max scale, for cpu and GPUs, and the
// team's own quota where nothing adds to it.
func TestKueueResourceQuota(t *testing.T) {
	objs, err := GuardRails(kueueFixture())
	if err != nil {
		t.Fatal(err)
	}
	var hard map[string]any
	for _, o := range objs {
		if o.GetKind() == "ResourceQuota" && o.GetNamespace() == "ml-research-prod" {
			hard = o.Object["spec"].(map[string]any)["hard"].(map[string]any)
		}
	}
	want := map[string]string{"requests.cpu": "23", "requests.memory": "64Gi", "requests." + string(generators.GPUResource): "13"}
	for k, v := range want {
		if got := hard[k]; got != v {
			t.Errorf("%s = %v, want %s (all: %v)", k, got, v, hard)
		}
	}
	// Without Kueue the team's quota is the ResourceQuota.
	in := kueueFixture()
	in.Env.Scheduler = spec.SchedulerVolcano
	objs, err = GuardRails(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetKind() == "ResourceQuota" && o.GetNamespace() == "ml-research-prod" {
			if got := o.Object["spec"].(map[string]any)["hard"].(map[string]any)["requests.cpu"]; got != "16" {
				t.Errorf("volcano: requests.cpu %v, want 16", got)
			}
		}
		if o.GroupVersionKind().Group == "kueue.x-k8s.io" {
			t.Errorf("volcano environment has Kueue object %s", o.ID())
		}
	}
}
