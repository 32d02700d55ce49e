package rules

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"

	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/ec2"
	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/internal/spec"
	"github.com/dmls-project/dmls/internal/support"
)

// Rule IDs of cluster findings.
const (
	ruleGPUFlag = "gpu-machine-without-gpu-flag"
	// ruleKubernetesEOL: a cluster's Kubernetes minor is past its upstream
	// end of life (internal/support).
	ruleKubernetesEOL = "kubernetes-end-of-life"
)

// clusterChecker collects the findings about the platform's clusters.
type clusterChecker struct {
	prov  provenance.Map
	diags diag.List
}

func (c *clusterChecker) add(at, format string, args ...any) {
	pos, _ := c.prov.Lookup(at)
	c.diags.Add(pos, at, format, args...)
}

// Clusters holds the rules of the clusters in platform.cue: zones in
// the region, subnets inside the network and apart, sizes, machine types,
// GPU groups, the etcd layout and which subnets a group may name.
func Clusters(p *spec.Platform, prov provenance.Map) diag.List {
	c := &clusterChecker{prov: prov}
	for _, name := range slices.Sorted(maps.Keys(p.Clusters)) {
		c.cluster(name, p.Clusters[name])
	}
	return c.diags
}

func (c *clusterChecker) cluster(name string, cl spec.KopsCluster) {
	at := "clusters." + name
	c.kubernetesVersion(at+".kubernetesVersion", cl.KubernetesVersion)
	c.subnets(at, cl)
	if cl.Bastion != nil && cl.Topology != spec.TopologyPrivate {
		c.add(at+".bastion", "a bastion needs topology: \"private\"; in a public topology nodes are reached directly")
	}
	if cl.Topology == spec.TopologyPrivate && !hasSubnetType(cl, spec.SubnetUtility) {
		c.add(at+".topology", "a private topology needs a subnet of type \"utility\" for the load balancers and the bastion")
	}
	if cl.Bastion != nil {
		c.machine(at+".bastion.machineType", cl.Bastion.MachineType)
	}

	cp := cl.ControlPlane
	c.machine(at+".controlPlane.machineType", cp.MachineType)
	if len(cp.Subnets) == 0 {
		c.add(at+".controlPlane.subnets", "the control plane needs at least one subnet; three in three zones survive the loss of a zone")
	}
	seen := map[string]int{}
	for i, s := range cp.Subnets {
		sat := fmt.Sprintf("%s.controlPlane.subnets[%d]", at, i)
		c.subnetRef(sat, name, cl, s)
		if j, ok := seen[s]; ok {
			c.add(sat, "subnet %q is listed twice (also at index %d); each control-plane group needs a subnet of its own", s, j)
		}
		seen[s] = i
	}
	c.etcd(at, name, cl)

	for _, g := range slices.Sorted(maps.Keys(cl.NodeGroups)) {
		c.nodeGroup(at+".nodeGroups."+g, name, g, cl)
	}
}

// kubernetesVersion holds a cluster's Kubernetes version to the support
// matrix: one the targeted kops cannot provision is an error, one past its
// upstream end of life a warning.
func (c *clusterChecker) kubernetesVersion(at, v string) {
	warning, err := support.Current.ClusterVersion(v)
	switch {
	case err != nil:
		c.add(at, "%v", err)
	case warning != "":
		pos, _ := c.prov.Lookup(at)
		c.diags = append(c.diags, diag.Diagnostic{Pos: pos, Path: at, Severity: diag.SeverityWarning, Rule: ruleKubernetesEOL, Message: warning})
	}
}

func hasSubnetType(cl spec.KopsCluster, typ string) bool {
	for _, s := range cl.Subnets {
		if s.Type == typ {
			return true
		}
	}
	return false
}

// subnets checks zones against the region, and that CIDRs parse, fit the
// network and do not overlap.
func (c *clusterChecker) subnets(at string, cl spec.KopsCluster) {
	_, network, err := net.ParseCIDR(cl.NetworkCIDR)
	if err != nil {
		c.add(at+".networkCIDR", "invalid CIDR %q: want an IPv4 network such as 172.20.0.0/16", cl.NetworkCIDR)
		network = nil
	}
	type parsed struct {
		name string
		net  *net.IPNet
	}
	var done []parsed
	for _, name := range slices.Sorted(maps.Keys(cl.Subnets)) {
		s := cl.Subnets[name]
		sat := at + ".subnets." + name
		if r := ec2.ZoneRegion(s.Zone); r != cl.Region {
			c.add(sat+".zone", "zone %q is in region %s, not in the cluster's region %s; use a zone of %s such as %sa", s.Zone, r, cl.Region, cl.Region, cl.Region)
		}
		ip, n, err := net.ParseCIDR(s.CIDR)
		if err != nil || ip.To4() == nil {
			c.add(sat+".cidr", "invalid CIDR %q: want an IPv4 network such as 172.20.32.0/19", s.CIDR)
			continue
		}
		if !ip.Equal(n.IP) {
			c.add(sat+".cidr", "%s is not a network address; did you mean %s?", s.CIDR, n.String())
		}
		if network != nil && !contains(network, n) {
			c.add(sat+".cidr", "subnet %s is outside the cluster's network %s (networkCIDR)", s.CIDR, cl.NetworkCIDR)
		}
		for _, d := range done {
			if d.net.Contains(n.IP) || n.Contains(d.net.IP) {
				c.add(sat+".cidr", "subnet %s overlaps subnet %q (%s); subnet CIDRs must not overlap", s.CIDR, d.name, d.net.String())
			}
		}
		done = append(done, parsed{name, n})
	}
}

// contains reports whether network a holds all of network b.
func contains(a, b *net.IPNet) bool {
	an, _ := a.Mask.Size()
	bn, _ := b.Mask.Size()
	return an <= bn && a.Contains(b.IP)
}

// subnetRef checks that a group names a subnet of its own cluster.
func (c *clusterChecker) subnetRef(at, cluster string, cl spec.KopsCluster, subnet string) {
	if _, ok := cl.Subnets[subnet]; ok {
		return
	}
	c.add(at, "%q is not a subnet of cluster %s; an instance group may only name its own cluster's subnets: %s", subnet, cluster, diag.QuoteList(slices.Sorted(maps.Keys(cl.Subnets))))
}

func (c *clusterChecker) machine(at, name string) (ec2.Machine, bool) {
	m, ok := ec2.Lookup(name)
	if !ok {
		c.add(at, "%s", ec2.Unknown(name))
	}
	return m, ok
}

// etcd checks both etcd clusters: an odd number of members, each in a
// control-plane group of its own, in a zone of its own, and every
// control-plane group holding one.
func (c *clusterChecker) etcd(at, cluster string, cl spec.KopsCluster) {
	cp := cl.ControlPlane
	groups := map[string]string{} // control-plane group -> zone
	var names []string
	for _, s := range cp.Subnets {
		g := spec.ControlPlaneGroup(s)
		groups[g] = cl.Subnets[s].Zone
		names = append(names, g)
	}
	for _, etcd := range spec.EtcdClusters {
		members := cl.EtcdMembers(etcd)
		eat := at + ".controlPlane.etcd." + etcd
		if cp.Etcd == nil || (etcd == spec.EtcdMain && cp.Etcd.Main == nil) || (etcd == spec.EtcdEvents && cp.Etcd.Events == nil) {
			eat = at + ".controlPlane.subnets"
		}
		if len(members)%2 == 0 {
			c.add(eat, "etcd cluster %s has %d members; etcd needs an odd number (1, 3 or 5) to keep a quorum", etcd, len(members))
		}
		byGroup := map[string]string{}
		byZone := map[string]string{}
		byName := map[string]bool{}
		for i, m := range members {
			mat := fmt.Sprintf("%s[%d]", eat, i)
			if byName[m.Name] {
				c.add(mat+".name", "etcd cluster %s has two members named %q", etcd, m.Name)
			}
			byName[m.Name] = true
			zone, ok := groups[m.InstanceGroup]
			if !ok {
				c.add(mat+".instanceGroup", "%q is not a control-plane group of cluster %s; its control-plane groups are %s", m.InstanceGroup, cluster, diag.QuoteList(names))
				continue
			}
			if other, ok := byGroup[m.InstanceGroup]; ok {
				c.add(mat+".instanceGroup", "etcd member %q shares group %s with member %q; each member needs a control-plane group of its own", m.Name, m.InstanceGroup, other)
				continue
			}
			byGroup[m.InstanceGroup] = m.Name
			if other, ok := byZone[zone]; ok && zone != "" {
				c.add(mat+".instanceGroup", "etcd member %q is in zone %s like member %q; each member needs a group in a zone of its own", m.Name, zone, other)
			}
			byZone[zone] = m.Name
		}
		for _, g := range names {
			if _, ok := byGroup[g]; !ok {
				c.add(eat, "control-plane group %s has no member of etcd cluster %s: the %d control-plane groups share %d member(s); give each group a member of its own", g, etcd, len(names), len(byGroup))
				break
			}
		}
	}
}

func (c *clusterChecker) nodeGroup(at, cluster, name string, cl spec.KopsCluster) {
	g := cl.NodeGroups[name]
	if strings.HasPrefix(name, "control-plane-") || name == "bastions" {
		c.add(at, "node group name %q is reserved for the groups dmls makes; choose another", name)
	}
	if g.MinSize > g.MaxSize {
		c.add(at+".minSize", "minSize %d is above maxSize %d", g.MinSize, g.MaxSize)
	}
	if len(g.Subnets) == 0 {
		c.add(at+".subnets", "node group %s needs at least one subnet of cluster %s", name, cluster)
	}
	for i, s := range g.Subnets {
		c.subnetRef(fmt.Sprintf("%s.subnets[%d]", at, i), cluster, cl, s)
	}
	for i, t := range g.MachineTypes() {
		mat := at + ".machineType"
		if i > 0 {
			mat = fmt.Sprintf("%s.spot.instanceTypes[%d]", at, indexOf(g.Spot.InstanceTypes, t))
		}
		m, ok := c.machine(mat, t)
		if !ok {
			continue
		}
		switch {
		case g.GPU && m.GPUs == 0:
			c.add(mat, "node group %s is a GPU group (gpu: true) but %s has no GPU; use a GPU machine type (families %s)", name, t, strings.Join(ec2.Families(true), ", "))
		case !g.GPU && m.GPUs > 0 && i == 0:
			pos, _ := c.prov.Lookup(mat)
			c.diags = append(c.diags, diag.Diagnostic{Pos: pos, Path: mat, Severity: diag.SeverityWarning, Rule: ruleGPUFlag,
				Message: fmt.Sprintf("%s has %d GPU(s) but node group %s is not a GPU group; set gpu: true so that pods that request GPUs can use it", t, m.GPUs, name)})
		}
	}
	for i, t := range g.Taints {
		if t.Key == spec.GPUTaintKey && !g.GPU {
			c.add(fmt.Sprintf("%s.taints[%d]", at, i), "the %s taint marks GPU groups; set gpu: true instead, which also labels the nodes", spec.GPUTaintKey)
		}
	}
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return 0
}
