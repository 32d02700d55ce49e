package kops

import (
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	kopsapi "k8s.io/kops/pkg/apis/kops"
	"k8s.io/kops/pkg/apis/kops/validation"
	"k8s.io/kops/pkg/kopscodecs"
	"k8s.io/kops/util/pkg/vfs"
	"sigs.k8s.io/yaml"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/internal/golden"
	"github.com/dmls-project/dmls/internal/spec"
	"github.com/dmls-project/dmls/internal/workspace"
)

// example returns the bundled example's cluster.
func example(t *testing.T) spec.KopsCluster {
	t.Helper()
	ws, err := workspace.Load(os.DirFS("../.."), ".", workspace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cl, ok := ws.Platform.Clusters["mycluster"]
	if !ok {
		t.Fatal("the example has no cluster mycluster")
	}
	return cl
}

// private is a private-topology cluster with a bastion, cilium, a spot
// group with its own taints and labels, and explicit etcd members.
func private() spec.KopsCluster {
	return spec.KopsCluster{
		DNSZone: "ml.example.org", Region: "eu-west-1", KubernetesVersion: "1.31.4", Channel: "stable",
		Networking: "cilium", Topology: spec.TopologyPrivate, Bastion: &spec.Bastion{MachineType: "t3.micro"},
		StateStore: "s3://state/kops", Image: "ami-0123456789abcdef0", NetworkCIDR: "10.0.0.0/16",
		Subnets: map[string]spec.Subnet{
			"eu-west-1a": {Zone: "eu-west-1a", CIDR: "10.0.0.0/20", Type: spec.SubnetPrivate},
			"eu-west-1b": {Zone: "eu-west-1b", CIDR: "10.0.16.0/20", Type: spec.SubnetPrivate},
			"eu-west-1c": {Zone: "eu-west-1c", CIDR: "10.0.32.0/20", Type: spec.SubnetPrivate},
			"utility-a":  {Zone: "eu-west-1a", CIDR: "10.0.240.0/22", Type: spec.SubnetUtility},
		},
		ControlPlane: spec.ControlPlane{
			MachineType: "m5.large", Subnets: []string{"eu-west-1a", "eu-west-1b", "eu-west-1c"},
			RootVolume: &spec.RootVolume{Size: 64, Type: "gp3"},
			Etcd: &spec.Etcd{Main: []spec.EtcdMember{
				{Name: "a", InstanceGroup: "control-plane-eu-west-1a"},
				{Name: "b", InstanceGroup: "control-plane-eu-west-1b"},
				{Name: "c", InstanceGroup: "control-plane-eu-west-1c"},
			}},
		},
		NodeGroups: map[string]spec.NodeGroup{
			"cpu": {MachineType: "m5.2xlarge", MinSize: 2, MaxSize: 10, Subnets: []string{"eu-west-1a", "eu-west-1b"},
				Labels: map[string]string{"workload": "batch"}, Taints: []spec.Taint{{Key: "dedicated", Value: "batch", Effect: "NoSchedule"}},
				Spot:      &spec.Spot{InstanceTypes: []string{"m5a.2xlarge", "m6i.2xlarge"}, OnDemandBase: 1, OnDemandAboveBase: 20, AllocationStrategy: "capacity-optimized", MaxPrice: "0.20"},
				Autoscale: true},
			"p3":     {MachineType: "p3.8xlarge", MinSize: 0, MaxSize: 2, Subnets: []string{"eu-west-1a"}, GPU: true, Autoscale: true},
			"static": {MachineType: "t3.large", MinSize: 1, MaxSize: 1, Subnets: []string{"eu-west-1c"}},
		},
	}
}

// TestGolden checks the manifests of the example's cluster and of a
// private one against testdata (refresh with -update).
func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		cl   spec.KopsCluster
	}{{"mycluster", example(t)}, {"private", private()}} {
		t.Run(tc.name, func(t *testing.T) {
			tree, err := Tree(tc.name, tc.cl)
			if err != nil {
				t.Fatal(err)
			}
			golden.CheckTree(t, "testdata/"+tc.name, tree)
		})
	}
}

// decode reads a generated tree back as kops itself reads manifests
// (kopscodecs), into kops's internal API.
func decode(t *testing.T, tree generators.Tree) (*kopsapi.Cluster, []*kopsapi.InstanceGroup) {
	t.Helper()
	var cluster *kopsapi.Cluster
	var groups []*kopsapi.InstanceGroup
	names := slices.Sorted(maps.Keys(tree))
	for _, name := range names {
		obj, _, err := kopscodecs.Decode(tree[name], nil)
		if err != nil {
			t.Fatalf("kops cannot decode %s: %v", name, err)
		}
		switch o := obj.(type) {
		case *kopsapi.Cluster:
			cluster = o
		case *kopsapi.InstanceGroup:
			groups = append(groups, o)
		default:
			t.Fatalf("%s: unexpected %T", name, obj)
		}
	}
	if cluster == nil {
		t.Fatal("no Cluster in the tree")
	}
	return cluster, groups
}

// TestKopsValidation runs kops's own validation (pkg/apis/kops/validation)
// on the generated manifests, as kops create -f does before it touches
// AWS: the cluster, then every group against the cluster.
func TestKopsValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		cl   spec.KopsCluster
	}{{"mycluster", example(t)}, {"private", private()}} {
		t.Run(tc.name, func(t *testing.T) {
			tree, err := Tree(tc.name, tc.cl)
			if err != nil {
				t.Fatal(err)
			}
			cluster, groups := decode(t, tree)
			if err := validation.DeepValidate(cluster, groups, false, vfs.Context, nil); err != nil {
				t.Errorf("kops rejects the generated manifests: %v", err)
			}
			if n := len(groups); n != 3+len(tc.cl.NodeGroups)+boolInt(tc.cl.Bastion != nil) {
				t.Errorf("%d instance groups", n)
			}
		})
	}
}

// TestKopsValidationCatches shows the validation above can fail: a group
// moved into a subnet the cluster does not have, as the seed's nodes
// group was, is refused by kops too.
func TestKopsValidationCatches(t *testing.T) {
	tree, err := Tree("mycluster", example(t))
	if err != nil {
		t.Fatal(err)
	}
	const file = "kops/mycluster/instancegroups/nodes.yaml"
	tree[file] = []byte(strings.Replace(string(tree[file]), "- us-east-1a", "- us-west-2a", 1))
	cluster, groups := decode(t, tree)
	err = validation.DeepValidate(cluster, groups, false, vfs.Context, nil)
	if err == nil || !strings.Contains(err.Error(), "us-west-2a") {
		t.Errorf("kops accepted a group in another region's subnet: %v", err)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestGroups checks what the issue asks of each group: GPU taint and
// label, node-template tags on every group, discovery tags on the groups
// cluster-autoscaler scales, and the spot mix.
func TestGroups(t *testing.T) {
	objs, err := Generate("private", private())
	if err != nil {
		t.Fatal(err)
	}
	igs := map[string]map[string]any{}
	for _, o := range objs {
		if o.GetKind() == "InstanceGroup" {
			igs[o.GetName()] = o.Object["spec"].(map[string]any)
		}
	}
	var names []string
	for n := range igs {
		names = append(names, n)
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "bastions,control-plane-eu-west-1a,control-plane-eu-west-1b,control-plane-eu-west-1c,cpu,p3,static" {
		t.Fatalf("groups %v", names)
	}
	tags := func(g string) map[string]any { return igs[g]["cloudLabels"].(map[string]any) }
	p3 := igs["p3"]
	if got := p3["taints"]; !contains(got, "nvidia.com/gpu=present:NoSchedule") {
		t.Errorf("GPU group taints %v", got)
	}
	if got := p3["nodeLabels"].(map[string]any)[spec.GPULabel]; got != spec.GPULabelValue {
		t.Errorf("GPU group label %v", got)
	}
	if got := tags("p3")["k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu"]; got != "4" {
		t.Errorf("GPU node template resources %v", got)
	}
	if got := tags("p3")["k8s.io/cluster-autoscaler/node-template/taint/nvidia.com/gpu"]; got != "present:NoSchedule" {
		t.Errorf("GPU node template taint %v", got)
	}
	for _, g := range names {
		tg := tags(g)
		if tg["k8s.io/cluster-autoscaler/node-template/label/kops.k8s.io/instancegroup"] != g {
			t.Errorf("group %s lacks its node-template label: %v", g, tg)
		}
		_, discovered := tg["k8s.io/cluster-autoscaler/enabled"]
		want := g == "cpu" || g == "p3"
		if discovered != want || (tg["k8s.io/cluster-autoscaler/private.ml.example.org"] == "owned") != want {
			t.Errorf("group %s: discovery tags %v, want them: %v", g, tg, want)
		}
	}
	cpu := igs["cpu"]
	if tags("cpu")["k8s.io/cluster-autoscaler/node-template/taint/dedicated"] != "batch:NoSchedule" || tags("cpu")["k8s.io/cluster-autoscaler/node-template/label/workload"] != "batch" {
		t.Errorf("cpu node templates %v", tags("cpu"))
	}
	mix, _ := yaml.Marshal(cpu["mixedInstancesPolicy"])
	if !strings.Contains(string(mix), "- m5.2xlarge\n- m5a.2xlarge\n- m6i.2xlarge") || !strings.Contains(string(mix), "onDemandAboveBase: 20") {
		t.Errorf("spot mix:\n%s", mix)
	}
}

func contains(list any, s string) bool {
	l, _ := list.([]any)
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
