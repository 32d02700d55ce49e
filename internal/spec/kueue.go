package spec

import (
	"maps"
	"slices"
)

// FlavorName is the ResourceFlavor of a GPU node group.
func FlavorName(cluster, group string) string { return cluster + "-" + group }

// ClusterQueueName is a team's ClusterQueue in an environment: the team's
// namespace there, which is unique on the cluster.
func ClusterQueueName(namespace string) string { return namespace }

// LocalQueueName is the LocalQueue of a team in each of its namespaces,
// the queue of its jobs unless training.scheduling.queue names it.
func LocalQueueName(team string) string { return team }

// GPUFlavor is a GPU node group as Kueue sees it: its flavor's name, the
// group, and the group's GPU type.
type GPUFlavor struct {
	Name, Group, Type string
}

// GPUFlavors returns the GPU node groups of the environment's cluster, in
// name order, or nil when the environment names no platform cluster.
func GPUFlavors(p *Platform, env *Environment) []GPUFlavor {
	cl, ok := p.Clusters[env.Cluster.Name]
	if !ok {
		return nil
	}
	var out []GPUFlavor
	for _, name := range slices.Sorted(maps.Keys(cl.NodeGroups)) {
		g := cl.NodeGroups[name]
		if !g.GPU {
			continue
		}
		out = append(out, GPUFlavor{Name: FlavorName(env.Cluster.Name, name), Group: name, Type: g.GPUType()})
	}
	return out
}

// GPUQuota splits a team's GPU quota over the GPU flavors: a quota by type
// goes to the first group of each type; a plain number to the first
// group (the loader requires one GPU type for it). Groups after the first
// of a type get 0, so that the team never holds more than its quota.
func GPUQuota(q *Quota, flavors []GPUFlavor) map[string]int {
	out := map[string]int{}
	if q == nil || q.GPU == nil {
		return out
	}
	seen := map[string]bool{}
	for _, f := range flavors {
		switch {
		case q.GPUTypes != nil:
			if !seen[f.Type] {
				out[f.Name] = q.GPUTypes[f.Type]
			}
		case len(seen) == 0:
			out[f.Name] = *q.GPU
		}
		seen[f.Type] = true
	}
	return out
}

// RuntimeFramework is the framework of an upstream ClusterTrainingRuntime,
// or "" for another runtime.
func RuntimeFramework(runtime string) string { return upstreamRuntimes[runtime].framework }
