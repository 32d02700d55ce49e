package platform

import (
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/internal/spec"
)

// DefaultFlavor is the ResourceFlavor of cpu and memory (and of GPUs on a
// cluster that dmls does not provision): it selects no nodes, so that
// pods without GPUs go wherever the scheduler puts them, as without
// Kueue.
const DefaultFlavor = "dmls-default"

// GPUTypeLabel is the label of a GPU node group's ResourceFlavor that
// names its GPU type.
const GPUTypeLabel = "dmls.dev/gpu-type"

// kueueObjects are the Kueue objects of one environment whose scheduler is
// kueue: with clusterScoped, the ResourceFlavors and the
// WorkloadPriorityClasses (once per cluster); a ClusterQueue per team with
// a namespace here; and a LocalQueue in each of them.
func kueueObjects(in Input) ([]generators.Object, error) {
	p, env := in.Platform, in.Env
	if env.Scheduler != spec.SchedulerKueue {
		return nil, nil
	}
	var out []generators.Object
	add := func(obj any, kind string, tr *provenance.Trace) error {
		o, err := generators.New(obj, kueue.SchemeGroupVersion.WithKind(kind), tr)
		if err != nil {
			return err
		}
		out = append(out, o)
		return nil
	}
	labels := map[string]string{generators.LabelManagedBy: generators.ManagedBy, generators.LabelPartOf: p.Name}
	flavors := spec.GPUFlavors(p, env)
	if in.ClusterScoped {
		if err := add(&kueue.ResourceFlavor{ObjectMeta: metav1.ObjectMeta{Name: DefaultFlavor, Labels: labels}}, "ResourceFlavor", nil); err != nil {
			return nil, err
		}
		cl := p.Clusters[env.Cluster.Name]
		for _, f := range flavors {
			g := cl.NodeGroups[f.Group]
			fl := maps.Clone(labels)
			if f.Type != "" {
				fl[GPUTypeLabel] = f.Type
			}
			rf := &kueue.ResourceFlavor{ObjectMeta: metav1.ObjectMeta{Name: f.Name, Labels: fl}, Spec: kueue.ResourceFlavorSpec{NodeLabels: g.NodeLabels(f.Group)}}
			for _, t := range g.NodeTaints() {
				rf.Spec.NodeTaints = append(rf.Spec.NodeTaints, corev1.Taint{Key: t.Key, Value: t.Value, Effect: corev1.TaintEffect(t.Effect)})
			}
			tr := &provenance.Trace{}
			tr.Record("metadata.name", "clusters."+env.Cluster.Name+".nodeGroups."+f.Group)
			tr.Record("spec", "clusters."+env.Cluster.Name+".nodeGroups."+f.Group)
			if err := add(rf, "ResourceFlavor", tr); err != nil {
				return nil, err
			}
		}
		for _, name := range slices.Sorted(maps.Keys(p.PriorityClasses)) {
			pc := p.PriorityClasses[name]
			tr := &provenance.Trace{}
			tr.Record("value", "priorityClasses."+name+".value")
			if err := add(&kueue.WorkloadPriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Value: pc.Value, Description: pc.Description}, "WorkloadPriorityClass", tr); err != nil {
				return nil, err
			}
		}
	}
	for _, team := range slices.Sorted(maps.Keys(env.Namespaces)) {
		ns := env.Namespaces[team]
		t := p.Teams[team]
		cq, err := clusterQueue(team, ns, t, env, flavors)
		if err != nil {
			return nil, err
		}
		tl := maps.Clone(labels)
		tl[generators.LabelTeam] = team
		tl[generators.LabelEnv] = env.Name
		cq.ObjectMeta = metav1.ObjectMeta{Name: spec.ClusterQueueName(ns), Labels: tl}
		tr := &provenance.Trace{}
		tr.Record("spec.resourceGroups", "teams."+team+".quota")
		tr.Record("spec.cohortName", "teams."+team+".queue.cohort")
		tr.Record("spec.preemption", "teams."+team+".queue.preemption")
		if err := add(cq, "ClusterQueue", tr); err != nil {
			return nil, err
		}
		lq := &kueue.LocalQueue{ObjectMeta: metav1.ObjectMeta{Name: spec.LocalQueueName(team), Namespace: ns, Labels: tl},
			Spec: kueue.LocalQueueSpec{ClusterQueue: kueue.ClusterQueueReference(spec.ClusterQueueName(ns))}}
		ltr := &provenance.Trace{}
		ltr.Record("metadata.namespace", "namespaces."+team)
		if err := add(lq, "LocalQueue", ltr); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// clusterQueue is a team's ClusterQueue without its metadata: cpu and
// memory on the default flavor, GPUs on the GPU flavors of the cluster
// (or on the default flavor where there are none), each at the team's
// quota in the environment, with the team's borrowing limit.
func clusterQueue(team, ns string, t spec.Team, env *spec.Environment, flavors []spec.GPUFlavor) (*kueue.ClusterQueue, error) {
	q := spec.TeamQuota(t, env)
	var bl spec.BorrowingLimit
	cq := &kueue.ClusterQueue{Spec: kueue.ClusterQueueSpec{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: ns}},
	}}
	if tq := t.Queue; tq != nil {
		cq.Spec.CohortName = kueue.CohortReference(tq.Cohort)
		if tq.BorrowingLimit != nil {
			bl = *tq.BorrowingLimit
		}
		if pr := tq.Preemption; pr != nil {
			cq.Spec.Preemption = &kueue.ClusterQueuePreemption{
				ReclaimWithinCohort: kueue.PreemptionPolicy(pr.ReclaimWithinCohort),
				WithinClusterQueue:  kueue.PreemptionPolicy(pr.WithinClusterQueue),
			}
		}
	}
	if q == nil {
		q = &spec.Quota{}
	}
	quota := func(name corev1.ResourceName, nominal, borrow string) (kueue.ResourceQuota, error) {
		rq := kueue.ResourceQuota{Name: name, NominalQuota: resource.MustParse("0")}
		if nominal != "" {
			v, err := resource.ParseQuantity(nominal)
			if err != nil {
				return rq, fmt.Errorf("team %s quota %s: %w", team, name, err)
			}
			rq.NominalQuota = v
		}
		if borrow != "" {
			v, err := resource.ParseQuantity(borrow)
			if err != nil {
				return rq, fmt.Errorf("team %s borrowingLimit %s: %w", team, name, err)
			}
			rq.BorrowingLimit = &v
		}
		return rq, nil
	}
	itoa := func(n *int) string {
		if n == nil {
			return ""
		}
		return fmt.Sprint(*n)
	}
	cpu, err := quota(corev1.ResourceCPU, q.CPU, bl.CPU)
	if err != nil {
		return nil, err
	}
	mem, err := quota(corev1.ResourceMemory, q.Memory, bl.Memory)
	if err != nil {
		return nil, err
	}
	def := kueue.FlavorQuotas{Name: DefaultFlavor, Resources: []kueue.ResourceQuota{cpu, mem}}
	if len(flavors) == 0 {
		gpu, err := quota(generators.GPUResource, itoa(q.GPU), itoa(bl.GPU))
		if err != nil {
			return nil, err
		}
		def.Resources = append(def.Resources, gpu)
		cq.Spec.ResourceGroups = []kueue.ResourceGroup{{CoveredResources: []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, generators.GPUResource}, Flavors: []kueue.FlavorQuotas{def}}}
		return cq, nil
	}
	cq.Spec.ResourceGroups = []kueue.ResourceGroup{{CoveredResources: []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory}, Flavors: []kueue.FlavorQuotas{def}}}
	split := spec.GPUQuota(q, flavors)
	gpus := kueue.ResourceGroup{CoveredResources: []corev1.ResourceName{generators.GPUResource}}
	for _, f := range flavors {
		n := split[f.Name]
		gpu, err := quota(generators.GPUResource, fmt.Sprint(n), itoa(bl.GPU))
		if err != nil {
			return nil, err
		}
		gpus.Flavors = append(gpus.Flavors, kueue.FlavorQuotas{Name: kueue.ResourceFlavorReference(f.Name), Resources: []kueue.ResourceQuota{gpu}})
	}
	cq.Spec.ResourceGroups = append(cq.Spec.ResourceGroups, gpus)
	return cq, nil
}

// kueueHard sizes a team's ResourceQuota under Kueue: the ClusterQueue's
// nominal quota (the team's quota) plus its borrowing limit plus the
// team's services at their max scale, for cpu, memory and GPUs, so that
// Kueue never admits pods that the ResourceQuota refuses.
func kueueHard(hard corev1.ResourceList, t spec.Team, serving map[string]resource.Quantity) {
	var bl spec.BorrowingLimit
	if t.Queue != nil && t.Queue.BorrowingLimit != nil {
		bl = *t.Queue.BorrowingLimit
	}
	grow := func(name corev1.ResourceName, borrow string, servingRes string) {
		q, ok := hard[name]
		if !ok {
			return // no quota on this resource: nothing to size
		}
		if borrow != "" {
			if b, err := resource.ParseQuantity(borrow); err == nil {
				q.Add(b)
			}
		}
		if s, ok := serving[servingRes]; ok {
			q.Add(s)
		}
		hard[name] = q
	}
	gpuBorrow := ""
	if bl.GPU != nil {
		gpuBorrow = fmt.Sprint(*bl.GPU)
	}
	grow(corev1.ResourceRequestsCPU, bl.CPU, "cpu")
	grow(corev1.ResourceRequestsMemory, bl.Memory, "memory")
	grow(corev1.ResourceName("requests."+generators.GPUResource), gpuBorrow, "gpu")
}
