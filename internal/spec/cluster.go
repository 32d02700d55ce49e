package spec

import (
	"strings"

	"github.com/dmls-project/dmls/internal/ec2"
)

// KopsCluster is a Kubernetes cluster that kops runs on AWS (schemas
// #Cluster). Its key in Platform.Clusters is its short name.
type KopsCluster struct {
	DNSZone           string               `json:"dnsZone"`
	Region            string               `json:"region"`
	KubernetesVersion string               `json:"kubernetesVersion"`
	Channel           string               `json:"channel"`
	Networking        string               `json:"networking"`
	Topology          string               `json:"topology"`
	Bastion           *Bastion             `json:"bastion,omitempty"`
	StateStore        string               `json:"stateStore"`
	Image             string               `json:"image,omitempty"`
	NetworkCIDR       string               `json:"networkCIDR"`
	Subnets           map[string]Subnet    `json:"subnets"`
	ControlPlane      ControlPlane         `json:"controlPlane"`
	NodeGroups        map[string]NodeGroup `json:"nodeGroups"`
}

// Topologies.
const (
	TopologyPublic  = "public"
	TopologyPrivate = "private"
)

// Subnet types.
const (
	SubnetPublic  = "public"
	SubnetPrivate = "private"
	SubnetUtility = "utility"
)

// Bastion is the ssh entry host of a private topology.
type Bastion struct {
	MachineType string `json:"machineType"`
}

// Subnet is one subnet of a cluster's VPC.
type Subnet struct {
	Zone string `json:"zone"`
	CIDR string `json:"cidr"`
	Type string `json:"type"`
}

// ControlPlane is a cluster's control plane: one group per subnet.
type ControlPlane struct {
	MachineType string      `json:"machineType"`
	Subnets     []string    `json:"subnets"`
	Image       string      `json:"image,omitempty"`
	RootVolume  *RootVolume `json:"rootVolume,omitempty"`
	Etcd        *Etcd       `json:"etcd,omitempty"`
}

// Etcd lists the members of the main and events etcd clusters; nil lists
// mean one member per control-plane group.
type Etcd struct {
	Main   []EtcdMember `json:"main,omitempty"`
	Events []EtcdMember `json:"events,omitempty"`
}

// EtcdMember is one etcd member and the control-plane group it runs in.
type EtcdMember struct {
	Name          string `json:"name"`
	InstanceGroup string `json:"instanceGroup"`
}

// NodeGroup is a kops instance group of worker nodes.
type NodeGroup struct {
	MachineType string            `json:"machineType"`
	MinSize     int               `json:"minSize"`
	MaxSize     int               `json:"maxSize"`
	Subnets     []string          `json:"subnets"`
	Image       string            `json:"image,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Taints      []Taint           `json:"taints,omitempty"`
	RootVolume  *RootVolume       `json:"rootVolume,omitempty"`
	Spot        *Spot             `json:"spot,omitempty"`
	GPU         bool              `json:"gpu"`
	Autoscale   bool              `json:"autoscale"`
}

// MachineTypes returns the group's machine type followed by the further
// types of its spot mix.
func (g NodeGroup) MachineTypes() []string {
	out := []string{g.MachineType}
	if g.Spot != nil {
		for _, t := range g.Spot.InstanceTypes {
			if t != g.MachineType {
				out = append(out, t)
			}
		}
	}
	return out
}

// Taint is a node taint.
type Taint struct {
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Effect string `json:"effect"`
}

// RootVolume is an instance's root volume, size in GiB.
type RootVolume struct {
	Size int    `json:"size"`
	Type string `json:"type"`
}

// Spot runs a group on spot instances mixed with on-demand ones.
type Spot struct {
	InstanceTypes      []string `json:"instanceTypes,omitempty"`
	OnDemandBase       int      `json:"onDemandBase"`
	OnDemandAboveBase  int      `json:"onDemandAboveBase"`
	AllocationStrategy string   `json:"allocationStrategy"`
	MaxPrice           string   `json:"maxPrice,omitempty"`
}

// ControlPlaneGroup is the name of the control-plane instance group in
// subnet.
func ControlPlaneGroup(subnet string) string { return "control-plane-" + subnet }

// KopsName is the cluster's kops name, <name>.<dnsZone>.
func KopsName(name string, c KopsCluster) string { return name + "." + c.DNSZone }

// EtcdMembers returns the members of the etcd cluster "main" or "events":
// the spec's list, or one member per control-plane group, named after its
// zone's letter (a, b, c) as kops names them.
func (c KopsCluster) EtcdMembers(etcd string) []EtcdMember {
	if e := c.ControlPlane.Etcd; e != nil {
		switch {
		case etcd == EtcdMain && e.Main != nil:
			return e.Main
		case etcd == EtcdEvents && e.Events != nil:
			return e.Events
		}
	}
	out := make([]EtcdMember, len(c.ControlPlane.Subnets))
	for i, s := range c.ControlPlane.Subnets {
		name := s
		if z := c.Subnets[s].Zone; len(z) > len(c.Region) && strings.HasPrefix(z, c.Region) {
			name = z[len(c.Region):]
		}
		out[i] = EtcdMember{Name: name, InstanceGroup: ControlPlaneGroup(s)}
	}
	return out
}

// The etcd clusters of a kops cluster.
const (
	EtcdMain   = "main"
	EtcdEvents = "events"
)

// EtcdClusters are the etcd cluster names in a fixed order.
var EtcdClusters = []string{EtcdMain, EtcdEvents}

// GPU node placement: the taint and label of GPU groups, which the pods
// that request GPUs tolerate and select.
const (
	GPUTaintKey    = "nvidia.com/gpu"
	GPUTaintValue  = "present"
	GPUTaintEffect = "NoSchedule"
	GPULabel       = "dmls.dev/gpu"
	GPULabelValue  = "nvidia"
)

// Placement is where an app's GPU pods must run in one environment, set
// by the loader from the environment's cluster: the node selector and
// tolerations of its GPU groups. Generators add them to every pod that
// requests GPUs.
type Placement struct {
	NodeSelector map[string]string
	Tolerations  []Toleration
}

// GPUPlacement is the placement on the GPU groups of any cluster.
func GPUPlacement() *Placement {
	return &Placement{
		NodeSelector: map[string]string{GPULabel: GPULabelValue},
		Tolerations:  []Toleration{{Key: GPUTaintKey, Operator: "Exists", Effect: GPUTaintEffect}},
	}
}

// NodeLabels are the labels of the nodes of group name: the spec's own,
// the group's name, and the GPU label of a GPU group. The kops generator
// writes them and Kueue's ResourceFlavors select them.
func (g NodeGroup) NodeLabels(name string) map[string]string {
	labels := map[string]string{}
	for k, v := range g.Labels {
		labels[k] = v
	}
	labels[InstanceGroupLabel] = name
	if g.GPU {
		labels[GPULabel] = GPULabelValue
	}
	return labels
}

// NodeTaints are the taints of the group's nodes: the spec's own, and the
// GPU taint of a GPU group.
func (g NodeGroup) NodeTaints() []Taint {
	taints := append([]Taint(nil), g.Taints...)
	if g.GPU {
		taints = append(taints, Taint{Key: GPUTaintKey, Value: GPUTaintValue, Effect: GPUTaintEffect})
	}
	return taints
}

// GPUType is the GPU model of the group's machine type in lower case
// (a10g, h100), or "" for a group without GPUs or of an unknown type.
func (g NodeGroup) GPUType() string {
	if !g.GPU {
		return ""
	}
	m, ok := ec2.Lookup(g.MachineType)
	if !ok || m.GPUs == 0 {
		return ""
	}
	return strings.ToLower(m.GPUModel)
}

// InstanceGroupLabel is the node label naming a node's kops instance
// group.
const InstanceGroupLabel = "kops.k8s.io/instancegroup"
