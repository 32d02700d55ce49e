// Package kops generates the kops Cluster and InstanceGroups of a platform
// cluster on AWS, from kops's own v1alpha2 API types.
package kops

import (
	"fmt"
	"maps"
	"slices"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/kops/pkg/apis/kops/v1alpha2"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/generators/kustomize"
	"github.com/dmls-project/dmls/internal/ec2"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/internal/spec"
)

// Instance group roles of kops v1alpha2.
const (
	RoleControlPlane = "Master"
	RoleNode         = "Node"
	RoleBastion      = "Bastion"
)

// Labels and cloud tags kops and cluster-autoscaler read.
const (
	// LabelCluster ties an instance group to its cluster.
	LabelCluster = "kops.k8s.io/cluster"
	// LabelInstanceGroup is the node label naming a node's group.
	LabelInstanceGroup = spec.InstanceGroupLabel
	// TagAutoscalerEnabled and TagAutoscalerCluster are the
	// cluster-autoscaler auto-discovery tags.
	TagAutoscalerEnabled = "k8s.io/cluster-autoscaler/enabled"
	TagAutoscalerPrefix  = "k8s.io/cluster-autoscaler/"
	// Node-template tags tell cluster-autoscaler, when a group is at zero,
	// which labels, taints and resources its nodes would have.
	TagTemplateLabel    = "k8s.io/cluster-autoscaler/node-template/label/"
	TagTemplateTaint    = "k8s.io/cluster-autoscaler/node-template/taint/"
	TagTemplateResource = "k8s.io/cluster-autoscaler/node-template/resources/"
)

// BastionGroup is the name of a private cluster's bastion group.
const BastionGroup = "bastions"

// Generate returns the kops Cluster of the platform cluster name, followed
// by its control-plane groups, its bastion group and its node groups, in
// name order. The traces point into platform.cue under clusters.<name>.
func Generate(name string, cl spec.KopsCluster) ([]generators.Object, error) {
	at := "clusters." + name
	kname := spec.KopsName(name, cl)
	tr := &provenance.Trace{}
	c := &v1alpha2.Cluster{
		ObjectMeta: metav1.ObjectMeta{Name: kname},
		Spec: v1alpha2.ClusterSpec{
			Channel:             cl.Channel,
			LegacyCloudProvider: "aws",
			ConfigBase:          cl.StateStore + "/" + kname,
			DNSZone:             cl.DNSZone,
			KubernetesVersion:   cl.KubernetesVersion,
			MasterPublicName:    "api." + kname,
			NetworkCIDR:         cl.NetworkCIDR,
			NonMasqueradeCIDR:   "100.64.0.0/10",
			LegacyNetworking:    networking(cl.Networking),
			Topology:            &v1alpha2.TopologySpec{LegacyDNS: &v1alpha2.DNSSpec{Type: v1alpha2.DNSTypePublic}},
			IAM:                 &v1alpha2.IAMSpec{AllowContainerRegistry: true, Legacy: false},
			Authorization:       &v1alpha2.AuthorizationSpec{RBAC: &v1alpha2.RBACAuthorizationSpec{}},
		},
	}
	tr.Record("metadata.name", at+".dnsZone")
	tr.Record("spec.channel", at+".channel")
	tr.Record("spec.configBase", at+".stateStore")
	tr.Record("spec.dnsZone", at+".dnsZone")
	tr.Record("spec.kubernetesVersion", at+".kubernetesVersion")
	tr.Record("spec.networkCIDR", at+".networkCIDR")
	tr.Record("spec.networking", at+".networking")
	tr.Record("spec.topology", at+".topology")
	if cl.Topology == spec.TopologyPrivate {
		c.Spec.LegacyAPI = &v1alpha2.APISpec{LoadBalancer: &v1alpha2.LoadBalancerAccessSpec{Type: v1alpha2.LoadBalancerTypePublic, Class: v1alpha2.LoadBalancerClassNetwork}}
		if cl.Bastion != nil {
			c.Spec.Topology.Bastion = &v1alpha2.BastionSpec{PublicName: "bastion." + kname}
			tr.Record("spec.topology.bastion", at+".bastion")
		}
	} else {
		c.Spec.LegacyAPI = &v1alpha2.APISpec{DNS: &v1alpha2.DNSAccessSpec{}}
	}
	for _, s := range slices.Sorted(maps.Keys(cl.Subnets)) {
		sn := cl.Subnets[s]
		c.Spec.Subnets = append(c.Spec.Subnets, v1alpha2.ClusterSubnetSpec{
			Name: s, Zone: sn.Zone, CIDR: sn.CIDR, Type: subnetType(sn.Type),
		})
		tr.Record(fmt.Sprintf("spec.subnets[%d]", len(c.Spec.Subnets)-1), at+".subnets."+s)
	}
	for i, etcd := range spec.EtcdClusters {
		ec := v1alpha2.EtcdClusterSpec{Name: etcd}
		for _, m := range cl.EtcdMembers(etcd) {
			ec.Members = append(ec.Members, v1alpha2.EtcdMemberSpec{Name: m.Name, InstanceGroup: new(m.InstanceGroup)})
		}
		c.Spec.EtcdClusters = append(c.Spec.EtcdClusters, ec)
		from := at + ".controlPlane.subnets"
		if e := cl.ControlPlane.Etcd; e != nil && ((etcd == spec.EtcdMain && e.Main != nil) || (etcd == spec.EtcdEvents && e.Events != nil)) {
			from = at + ".controlPlane.etcd." + etcd
		}
		tr.Record(fmt.Sprintf("spec.etcdClusters[%d]", i), from)
	}
	var gpu, autoscale bool
	for _, g := range cl.NodeGroups {
		gpu = gpu || g.GPU
		autoscale = autoscale || g.Autoscale
	}
	if autoscale {
		c.Spec.ClusterAutoscaler = &v1alpha2.ClusterAutoscalerConfig{Enabled: new(true)}
		tr.Record("spec.clusterAutoscaler", at+".nodeGroups")
	}
	if gpu {
		c.Spec.Containerd = &v1alpha2.ContainerdConfig{NvidiaGPU: &v1alpha2.NvidiaGPUConfig{Enabled: new(true)}}
		tr.Record("spec.containerd.nvidiaGPU", at+".nodeGroups")
	}
	obj, err := generators.New(c, v1alpha2.SchemeGroupVersion.WithKind("Cluster"), tr)
	if err != nil {
		return nil, err
	}
	// Empty structs that choose an option (kubenet: {}, rbac: {}, dns: {})
	// mean something to kops; New prunes empty maps, so put them back.
	for _, f := range presence(c) {
		if err := unstructured.SetNestedMap(obj.Object, map[string]any{}, f...); err != nil {
			return nil, fmt.Errorf("cluster %s: %w", name, err)
		}
	}
	out := []generators.Object{obj}

	cp := cl.ControlPlane
	for _, s := range cp.Subnets {
		g := group{
			name: spec.ControlPlaneGroup(s), role: RoleControlPlane, machineType: cp.MachineType,
			min: 1, max: 1, subnets: []string{s}, image: first(cp.Image, cl.Image), rootVolume: cp.RootVolume,
			from: at + ".controlPlane",
		}
		o, err := g.object(kname)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	if b := cl.Bastion; b != nil && cl.Topology == spec.TopologyPrivate {
		var utility []string
		for _, s := range slices.Sorted(maps.Keys(cl.Subnets)) {
			if cl.Subnets[s].Type == spec.SubnetUtility {
				utility = append(utility, s)
			}
		}
		g := group{name: BastionGroup, role: RoleBastion, machineType: b.MachineType, min: 1, max: 1,
			subnets: utility, image: cl.Image, from: at + ".bastion"}
		o, err := g.object(kname)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	for _, name := range slices.Sorted(maps.Keys(cl.NodeGroups)) {
		ng := cl.NodeGroups[name]
		g := group{
			name: name, role: RoleNode, machineType: ng.MachineType, min: ng.MinSize, max: ng.MaxSize,
			subnets: ng.Subnets, image: first(ng.Image, cl.Image), rootVolume: ng.RootVolume,
			labels: ng.Labels, taints: ng.Taints, spot: ng.Spot, gpu: ng.GPU, autoscale: ng.Autoscale,
			from: at + ".nodeGroups." + name,
		}
		o, err := g.object(kname)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// Tree lays out the manifests of cluster name, one file each, relative to
// the infra repo's path prefix: kops/<name>/cluster.yaml and
// kops/<name>/instancegroups/<group>.yaml.
func Tree(name string, cl spec.KopsCluster) (generators.Tree, error) {
	objs, err := Generate(name, cl)
	if err != nil {
		return nil, err
	}
	tree := generators.Tree{}
	for _, o := range objs {
		file := layout.KopsClusterDir(name) + "/cluster.yaml"
		if o.GetKind() == "InstanceGroup" {
			file = layout.KopsClusterDir(name) + "/instancegroups/" + o.GetName() + ".yaml"
		}
		b, err := kustomize.Marshal(o.Object)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %w", name, err)
		}
		tree[file] = b
	}
	return tree, nil
}

// group is what an InstanceGroup is made from.
type group struct {
	name, role, machineType string
	min, max                int
	subnets                 []string
	image                   string
	rootVolume              *spec.RootVolume
	labels                  map[string]string
	taints                  []spec.Taint
	spot                    *spec.Spot
	gpu, autoscale          bool
	from                    string
}

func (g group) object(cluster string) (generators.Object, error) {
	tr := &provenance.Trace{}
	ig := &v1alpha2.InstanceGroup{
		ObjectMeta: metav1.ObjectMeta{Name: g.name, Labels: map[string]string{LabelCluster: cluster}},
		Spec: v1alpha2.InstanceGroupSpec{
			Role:        v1alpha2.InstanceGroupRole(g.role),
			Image:       g.image,
			MachineType: g.machineType,
			MinSize:     new(int32(g.min)),
			MaxSize:     new(int32(g.max)),
			Subnets:     g.subnets,
		},
	}
	tr.Record("metadata.name", g.from)
	tr.Record("spec", g.from)
	tr.Record("spec.machineType", g.from+".machineType")
	tr.Record("spec.minSize", g.from+".minSize")
	tr.Record("spec.maxSize", g.from+".maxSize")
	tr.Record("spec.subnets", g.from+".subnets")
	tr.Record("spec.image", g.from+".image")
	if v := g.rootVolume; v != nil {
		ig.Spec.RootVolumeSize = new(int32(v.Size))
		ig.Spec.RootVolumeType = new(v.Type)
		tr.Record("spec.rootVolumeSize", g.from+".rootVolume.size")
		tr.Record("spec.rootVolumeType", g.from+".rootVolume.type")
	}

	// Labels and taints: the spec's own, the group's name, and the GPU
	// taint and label of GPU groups.
	ng := spec.NodeGroup{Labels: g.labels, Taints: g.taints, GPU: g.gpu}
	labels, taints := ng.NodeLabels(g.name), ng.NodeTaints()
	if g.gpu {
		tr.Record("spec.nodeLabels."+spec.GPULabel, g.from+".gpu")
	}
	ig.Spec.NodeLabels = labels
	tr.Record("spec.nodeLabels", g.from+".labels")
	for i, t := range taints {
		ig.Spec.Taints = append(ig.Spec.Taints, taintString(t))
		from := fmt.Sprintf("%s.taints[%d]", g.from, i)
		if i >= len(g.taints) {
			from = g.from + ".gpu"
		}
		tr.Record(fmt.Sprintf("spec.taints[%d]", i), from)
	}

	// Cloud tags: cluster-autoscaler's node templates on every group, so it
	// can scale a group up from zero for pods that select or tolerate its
	// nodes, and its discovery tags on the groups it scales.
	tags := map[string]string{}
	for k, v := range labels {
		tags[TagTemplateLabel+k] = v
	}
	for _, t := range taints {
		tags[TagTemplateTaint+t.Key] = t.Value + ":" + t.Effect
	}
	if g.gpu {
		if m, ok := ec2.Lookup(g.machineType); ok && m.GPUs > 0 {
			tags[TagTemplateResource+spec.GPUTaintKey] = strconv.Itoa(m.GPUs)
		}
	}
	if g.role == RoleNode {
		ig.Spec.Autoscale = new(g.autoscale)
		tr.Record("spec.autoscale", g.from+".autoscale")
		if g.autoscale {
			tags[TagAutoscalerEnabled] = "true"
			tags[TagAutoscalerPrefix+cluster] = "owned"
			tr.Record("spec.cloudLabels."+TagAutoscalerEnabled, g.from+".autoscale")
		}
	}
	ig.Spec.CloudLabels = tags
	tr.Record("spec.cloudLabels", g.from)

	if s := g.spot; s != nil {
		ig.Spec.MixedInstancesPolicy = &v1alpha2.MixedInstancesPolicySpec{
			Instances:              spec.NodeGroup{MachineType: g.machineType, Spot: s}.MachineTypes(),
			OnDemandBase:           new(int64(s.OnDemandBase)),
			OnDemandAboveBase:      new(int64(s.OnDemandAboveBase)),
			SpotAllocationStrategy: new(s.AllocationStrategy),
		}
		if s.MaxPrice != "" {
			ig.Spec.MaxPrice = new(s.MaxPrice)
			tr.Record("spec.maxPrice", g.from+".spot.maxPrice")
		}
		tr.Record("spec.mixedInstancesPolicy", g.from+".spot")
	}
	return generators.New(ig, v1alpha2.SchemeGroupVersion.WithKind("InstanceGroup"), tr)
}

// presence lists the fields of c that are empty structs on purpose.
func presence(c *v1alpha2.Cluster) [][]string {
	var out [][]string
	n := c.Spec.LegacyNetworking
	for cni, set := range map[string]bool{
		"calico": n.Calico != nil, "cilium": n.Cilium != nil, "amazonvpc": n.AmazonVPC != nil,
		"kubenet": n.Kubenet != nil, "flannel": n.Flannel != nil,
	} {
		if set {
			out = append(out, []string{"spec", "networking", cni})
		}
	}
	if a := c.Spec.LegacyAPI; a != nil && a.DNS != nil {
		out = append(out, []string{"spec", "api", "dns"})
	}
	out = append(out, []string{"spec", "authorization", "rbac"})
	return out
}

// taintString writes a taint as kops does: key=value:Effect.
func taintString(t spec.Taint) string {
	return t.Key + "=" + t.Value + ":" + t.Effect
}

func networking(cni string) *v1alpha2.NetworkingSpec {
	n := &v1alpha2.NetworkingSpec{}
	switch cni {
	case "cilium":
		n.Cilium = &v1alpha2.CiliumNetworkingSpec{}
	case "amazonvpc":
		n.AmazonVPC = &v1alpha2.AmazonVPCNetworkingSpec{}
	case "kubenet":
		n.Kubenet = &v1alpha2.KubenetNetworkingSpec{}
	case "flannel":
		n.Flannel = &v1alpha2.FlannelNetworkingSpec{}
	default:
		n.Calico = &v1alpha2.CalicoNetworkingSpec{}
	}
	return n
}

func subnetType(t string) v1alpha2.SubnetType {
	switch t {
	case spec.SubnetPrivate:
		return v1alpha2.SubnetTypePrivate
	case spec.SubnetUtility:
		return v1alpha2.SubnetTypeUtility
	}
	return v1alpha2.SubnetTypePublic
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
