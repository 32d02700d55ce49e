package kopsv1alpha2

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// SchemeGroupVersion is kops's API group and this version.
var SchemeGroupVersion = schema.GroupVersion{Group: "kops.k8s.io", Version: "v1alpha2"}

// Cluster is a specific cluster wrapper.
type Cluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              ClusterSpec `json:"spec,omitempty"`
}

// ClusterSpec defines the configuration for a cluster.
type ClusterSpec struct {
	Channel             string                   `json:"channel,omitempty"`
	ConfigBase          string                   `json:"configBase,omitempty"`
	LegacyCloudProvider string                   `json:"cloudProvider,omitempty"`
	KubernetesVersion   string                   `json:"kubernetesVersion,omitempty"`
	Subnets             []ClusterSubnetSpec      `json:"subnets,omitempty"`
	MasterPublicName    string                   `json:"masterPublicName,omitempty"`
	NetworkCIDR         string                   `json:"networkCIDR,omitempty"`
	Topology            *TopologySpec            `json:"topology,omitempty"`
	DNSZone             string                   `json:"dnsZone,omitempty"`
	NonMasqueradeCIDR   string                   `json:"nonMasqueradeCIDR,omitempty"`
	EtcdClusters        []EtcdClusterSpec        `json:"etcdClusters,omitempty"`
	Containerd          *ContainerdConfig        `json:"containerd,omitempty"`
	LegacyNetworking    *NetworkingSpec          `json:"networking,omitempty"`
	LegacyAPI           *APISpec                 `json:"api,omitempty"`
	Authorization       *AuthorizationSpec       `json:"authorization,omitempty"`
	IAM                 *IAMSpec                 `json:"iam,omitempty"`
	ClusterAutoscaler   *ClusterAutoscalerConfig `json:"clusterAutoscaler,omitempty"`
}

// ClusterSubnetSpec is a subnet of the cluster's network.
type ClusterSubnetSpec struct {
	Name string     `json:"name,omitempty"`
	Zone string     `json:"zone,omitempty"`
	CIDR string     `json:"cidr,omitempty"`
	Type SubnetType `json:"type,omitempty"`
}

// SubnetType is a subnet's kind: public, private or utility.
type SubnetType string

// The subnet types.
const (
	SubnetTypePublic  SubnetType = "Public"
	SubnetTypePrivate SubnetType = "Private"
	SubnetTypeUtility SubnetType = "Utility"
)

// TopologySpec is the cluster's network topology.
type TopologySpec struct {
	Bastion   *BastionSpec `json:"bastion,omitempty"`
	LegacyDNS *DNSSpec     `json:"dns,omitempty"`
}

// BastionSpec is a private cluster's bastion.
type BastionSpec struct {
	PublicName string `json:"bastionPublicName,omitempty"`
}

// DNSSpec is the cluster's DNS.
type DNSSpec struct {
	Type DNSType `json:"type,omitempty"`
}

// DNSType is public or private DNS.
type DNSType string

// DNSTypePublic is public DNS.
const DNSTypePublic DNSType = "Public"

// EtcdClusterSpec is an etcd cluster of the control plane.
type EtcdClusterSpec struct {
	Name    string           `json:"name,omitempty"`
	Members []EtcdMemberSpec `json:"etcdMembers,omitempty"`
}

// EtcdMemberSpec is a member of an etcd cluster.
type EtcdMemberSpec struct {
	Name          string  `json:"name,omitempty"`
	InstanceGroup *string `json:"instanceGroup,omitempty"`
}

// ContainerdConfig is containerd's configuration.
type ContainerdConfig struct {
	NvidiaGPU *NvidiaGPUConfig `json:"nvidiaGPU,omitempty"`
}

// NvidiaGPUConfig installs NVIDIA's drivers and runtime.
type NvidiaGPUConfig struct {
	Enabled *bool `json:"enabled,omitempty"`
}

// NetworkingSpec chooses the cluster's CNI: one of its fields is set, to an
// empty struct (kops's defaults).
type NetworkingSpec struct {
	Kubenet   *KubenetNetworkingSpec   `json:"kubenet,omitempty"`
	Flannel   *FlannelNetworkingSpec   `json:"flannel,omitempty"`
	Calico    *CalicoNetworkingSpec    `json:"calico,omitempty"`
	AmazonVPC *AmazonVPCNetworkingSpec `json:"amazonvpc,omitempty"`
	Cilium    *CiliumNetworkingSpec    `json:"cilium,omitempty"`
}

// The CNIs, with kops's defaults.
type (
	KubenetNetworkingSpec   struct{}
	FlannelNetworkingSpec   struct{}
	CalicoNetworkingSpec    struct{}
	AmazonVPCNetworkingSpec struct{}
	CiliumNetworkingSpec    struct{}
)

// APISpec is how the Kubernetes API is reached: through DNS or a load
// balancer.
type APISpec struct {
	DNS          *DNSAccessSpec          `json:"dns,omitempty"`
	LoadBalancer *LoadBalancerAccessSpec `json:"loadBalancer,omitempty"`
}

// DNSAccessSpec reaches the API through DNS.
type DNSAccessSpec struct{}

// LoadBalancerAccessSpec reaches the API through a load balancer.
type LoadBalancerAccessSpec struct {
	Class LoadBalancerClass `json:"class,omitempty"`
	Type  LoadBalancerType  `json:"type,omitempty"`
}

// LoadBalancerType is a public or internal load balancer.
type LoadBalancerType string

// LoadBalancerTypePublic is a public load balancer.
const LoadBalancerTypePublic LoadBalancerType = "Public"

// LoadBalancerClass is a classic or network load balancer.
type LoadBalancerClass string

// LoadBalancerClassNetwork is a network load balancer.
const LoadBalancerClassNetwork LoadBalancerClass = "Network"

// AuthorizationSpec is the API's authorization mode.
type AuthorizationSpec struct {
	RBAC *RBACAuthorizationSpec `json:"rbac,omitempty"`
}

// RBACAuthorizationSpec is RBAC authorization.
type RBACAuthorizationSpec struct{}

// IAMSpec is the cluster's IAM policy.
type IAMSpec struct {
	Legacy                 bool `json:"legacy"`
	AllowContainerRegistry bool `json:"allowContainerRegistry,omitempty"`
}

// ClusterAutoscalerConfig runs cluster-autoscaler.
type ClusterAutoscalerConfig struct {
	Enabled *bool `json:"enabled,omitempty"`
}

// InstanceGroup represents a group of instances (either control plane
// nodes or workers) with the same configuration.
type InstanceGroup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              InstanceGroupSpec `json:"spec,omitempty"`
}

// InstanceGroupRole is a group's role: Master, Node or Bastion.
type InstanceGroupRole string

// InstanceGroupSpec is the specification for an InstanceGroup.
type InstanceGroupSpec struct {
	Role                 InstanceGroupRole         `json:"role,omitempty"`
	Image                string                    `json:"image,omitempty"`
	MinSize              *int32                    `json:"minSize,omitempty"`
	MaxSize              *int32                    `json:"maxSize,omitempty"`
	Autoscale            *bool                     `json:"autoscale,omitempty"`
	MachineType          string                    `json:"machineType,omitempty"`
	RootVolumeSize       *int32                    `json:"rootVolumeSize,omitempty"`
	RootVolumeType       *string                   `json:"rootVolumeType,omitempty"`
	Subnets              []string                  `json:"subnets,omitempty"`
	MaxPrice             *string                   `json:"maxPrice,omitempty"`
	CloudLabels          map[string]string         `json:"cloudLabels,omitempty"`
	NodeLabels           map[string]string         `json:"nodeLabels,omitempty"`
	Taints               []string                  `json:"taints,omitempty"`
	MixedInstancesPolicy *MixedInstancesPolicySpec `json:"mixedInstancesPolicy,omitempty"`
}

// MixedInstancesPolicySpec mixes on-demand and spot instances of several
// machine types.
type MixedInstancesPolicySpec struct {
	Instances              []string `json:"instances,omitempty"`
	OnDemandBase           *int64   `json:"onDemandBase,omitempty"`
	OnDemandAboveBase      *int64   `json:"onDemandAboveBase,omitempty"`
	SpotAllocationStrategy *string  `json:"spotAllocationStrategy,omitempty"`
}
