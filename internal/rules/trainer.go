package rules

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/internal/spec"
)

// maxTrainJobSuffix is the longest suffix JobSet appends to a TrainJob's
// name for its pods' host names: "-launcher-" (the longest replicated job
// of the upstream runtimes), the job index, "-" and the pod index.
const maxTrainJobSuffix = len("-launcher-0-") + 4

// ownedKeyPrefixes are the label and annotation prefixes that dmls,
// Kueue, Volcano, the training operator, Trainer and JobSet own; a job's
// podMetadata may not set them.
var ownedKeyPrefixes = []string{"dmls.dev/", "app.kubernetes.io/", "kueue.x-k8s.io/", "volcano.sh/",
	"training.kubeflow.org/", "trainer.kubeflow.org/", "jobset.sigs.k8s.io/", "batch.kubernetes.io/"}

// trainJob checks a Trainer v2 TrainJob's spec.
func (c *checker) trainJob(a *spec.AppSpec) {
	t := a.Training
	if name := spec.JobName(a.Name, t); len(name)+maxTrainJobSuffix > 63 {
		at := "name"
		if t.Name != "" {
			at = "training.name"
		}
		c.add(at, "TrainJob name %q too long: with the host names JobSet makes for its pods it must fit in 63 characters; shorten it by %d", name, len(name)+maxTrainJobSuffix-63)
	}
	for _, role := range spec.Roles {
		if t.Replicas.Get(role) != nil {
			c.add("training.replicas."+role, "a %s TrainJob has no replica sets (they are the TFJob's, framework tensorflow): set numNodes and resourcesPerNode", t.Framework)
		}
	}
	if t.SuccessPolicy != "" {
		c.add("training.successPolicy", "successPolicy is the TFJob's; a %s TrainJob succeeds as its runtime says", t.Framework)
	}
	if t.Image != "" {
		c.image("training.image", t.Image)
	}
	c.resources("training.resources", t.Resources)
	c.resources("training.resourcesPerNode", t.ResourcesPerNode)
	switch {
	case t.ResourcesPerNode != nil:
		c.requireResources("training.resourcesPerNode", t.ResourcesPerNode)
	case t.Resources != nil:
		c.requireResources("training.resources", t.Resources)
	default:
		c.requireResources("training", nil)
	}
	if max := c.in.Env; max != nil && max.Training.MaxReplicas != nil && t.NumNodes != nil && *t.NumNodes > *max.Training.MaxReplicas {
		c.add("training.numNodes", "%d nodes exceed the limit of %d set by environment %s (training.maxReplicas)", *t.NumNodes, *max.Training.MaxReplicas, max.Name)
	}
	for name, v := range t.Volumes {
		c.volume("training.volumes."+name, v)
	}
	c.runtime(t)
}

// runtime checks that the platform installs the TrainJob's runtime, and
// that an upstream runtime runs the job's framework.
func (c *checker) runtime(t *spec.TrainingJob) {
	at := "training.framework"
	if t.Runtime != "" {
		at = "training.runtime"
	}
	rt := t.RuntimeName()
	if fw := spec.RuntimeFramework(rt); fw != "" && fw != t.Framework {
		c.add(at, "runtime %s runs %s, not %s; use %s, or framework %s", rt, fw, t.Framework, spec.DefaultRuntime(t.Framework), fw)
		return
	}
	if c.p == nil {
		return
	}
	name, comp := c.p.TrainerComponent()
	if comp == nil {
		c.add(at, "framework %s runs on Kubeflow Trainer v2, which the platform does not install: add a component with trainer: runtimes: [%q] to platform.cue", t.Framework, rt)
		return
	}
	if !slices.Contains(comp.Trainer.Runtimes, rt) {
		c.add(at, "runtime %s is not installed by platform component %s; it installs %s", rt, name, orNone(comp.Trainer.Runtimes))
	}
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}

// tfjobOnly refuses the fields of a TrainJob on a TFJob.
func (c *checker) tfjobOnly(t *spec.TrainingJob) {
	fields := []struct {
		name string
		set  bool
	}{
		{"runtime", t.Runtime != ""}, {"numNodes", t.NumNodes != nil}, {"numProcPerNode", t.NumProcPerNode != nil},
		{"resourcesPerNode", t.ResourcesPerNode != nil}, {"initializer", t.Initializer != nil},
	}
	for _, f := range fields {
		if f.set {
			c.add("training."+f.name, "%s is a TrainJob's; a TensorFlow job is a TFJob, which sets replicas instead (or set framework to one of %s)", f.name, strings.Join(spec.TrainerFrameworks, ", "))
		}
	}
}

// podMetadata refuses labels and annotations that dmls or a controller
// owns.
func (c *checker) podMetadata(at string, md *spec.PodMetadata) {
	if md == nil {
		return
	}
	check := func(kind string, m map[string]string) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			for _, p := range ownedKeyPrefixes {
				if strings.HasPrefix(k, p) {
					c.add(at+"."+kind+"."+k, "%s %s is owned by %s; pod metadata may set keys outside %s", strings.TrimSuffix(kind, "s"), k, owner(p), strings.Join(ownedKeyPrefixes, ", "))
					break
				}
			}
		}
	}
	check("labels", md.Labels)
	check("annotations", md.Annotations)
}

func owner(prefix string) string {
	switch prefix {
	case "dmls.dev/", "app.kubernetes.io/":
		return "dmls"
	case "kueue.x-k8s.io/":
		return "Kueue"
	case "volcano.sh/":
		return "Volcano"
	case "training.kubeflow.org/":
		return "the training operator"
	case "trainer.kubeflow.org/":
		return "Kubeflow Trainer"
	case "jobset.sigs.k8s.io/":
		return "JobSet"
	}
	return "Kubernetes"
}

// scheduling checks the training job against its environment's scheduler
// and, under Kueue, sets where the job queues.
func (c *checker) scheduling(a *spec.AppSpec) {
	env, t := c.in.Env, a.Training
	if env == nil {
		return
	}
	s := t.Scheduling
	if s == nil {
		s = &spec.Scheduling{}
	}
	if env.Scheduler != spec.SchedulerKueue {
		if t.IsTrainJob() && (s.Queue != "" || s.PriorityClass != "" || s.MinAvailable != nil) {
			c.add("training.scheduling", "a TrainJob queues only under Kueue, and the scheduler of environment %s is %s: set scheduler: \"kueue\" in overlays/%s.cue, or drop training.scheduling", env.Name, orDefault(env.Scheduler), env.Name)
		}
		return
	}
	name, kc := c.p.KueueComponent()
	if kc == nil {
		return // KueueEnv reports it at the environment's scheduler
	}
	if !t.IsTrainJob() {
		v := kc.KueueVersion()
		switch {
		case v == "":
			c.add("training", "the Kueue version of component %s is unknown, so dmls cannot tell whether it still has the TFJob integration: set components.%s.kueue.version", name, name)
		case !spec.KueueHasTFJob(v):
			c.add("training", "Kueue %s (component %s) has no TFJob integration (removed in 0.%d): move the job to a TrainJob (framework one of %s), or run it in an environment whose scheduler is not kueue", v, name, spec.KueueRemovedTFJob, strings.Join(spec.TrainerFrameworks, ", "))
		default:
			pos, at := c.in.Locate("training")
			c.diags = append(c.diags, diag.Diagnostic{Pos: pos, Path: at, Rule: diag.RuleKueueTFJob, Severity: diag.SeverityWarning,
				Message: fmt.Sprintf("Kueue's TFJob integration is deprecated since 0.19, off by default, and removed in 0.%d; dmls turns it on in component %s (Kueue %s). Move the job to a TrainJob (framework one of %s) before upgrading Kueue", spec.KueueRemovedTFJob, name, v, strings.Join(spec.TrainerFrameworks, ", "))})
		}
	}
	if s.MinAvailable != nil {
		c.add("training.scheduling.minAvailable", "minAvailable is Volcano's; Kueue admits a job whole, and the scheduler of environment %s is kueue", env.Name)
	}
	q := &spec.KueueJob{Queue: spec.LocalQueueName(a.Team)}
	if s.Queue != "" {
		if s.Queue != q.Queue {
			c.add("training.scheduling.queue", "queue %s is not declared: in environment %s the platform declares LocalQueue %s of team %s (drop queue to use it)", s.Queue, env.Name, q.Queue, a.Team)
		}
		q.QueueFrom = "training.scheduling.queue"
	}
	if pc := s.PriorityClass; pc != "" {
		if _, ok := c.p.PriorityClasses[pc]; !ok {
			c.add("training.scheduling.priorityClass", "priority class %s is not declared: under Kueue it is a WorkloadPriorityClass of priorityClasses in platform.cue, which declares %s", pc, orNone(slices.Sorted(maps.Keys(c.p.PriorityClasses))))
		}
		q.PriorityClass, q.PriorityFrom = pc, "training.scheduling.priorityClass"
	}
	a.Kueue = q
	c.kueueFit(a)
}

func orDefault(s string) string {
	if s == "" {
		return spec.SchedulerDefault
	}
	return s
}

// kueueFit checks that the training job alone fits its team's
// ClusterQueue: nominal quota plus borrowing limit, its GPUs on one GPU
// flavor. A job that never fits is never admitted; jobs that fit one by
// one queue, however many there are.
func (c *checker) kueueFit(a *spec.AppSpec) {
	env := c.in.Env
	team, ok := c.p.Teams[a.Team]
	if !ok {
		return
	}
	q := spec.TeamQuota(team, env)
	if q == nil {
		return
	}
	var bl spec.BorrowingLimit
	if team.Queue != nil && team.Queue.BorrowingLimit != nil {
		bl = *team.Queue.BorrowingLimit
	}
	need := map[string]resource.Quantity{}
	var gpuAt string
	for _, ps := range podSets(a) {
		if ps.what == "serving" {
			continue
		}
		for r, v := range ps.requests {
			total := need[r]
			total.Add(*resource.NewMilliQuantity(v.MilliValue()*int64(ps.count), v.Format))
			need[r] = total
		}
		if ps.gpu > 0 && gpuAt == "" {
			gpuAt = ps.gpuAt()
		}
	}
	for _, r := range []struct{ name, nominal, borrow string }{{resCPU, q.CPU, bl.CPU}, {resMemory, q.Memory, bl.Memory}} {
		n, ok := need[r.name]
		if !ok || r.nominal == "" {
			continue
		}
		room, _ := parseQ(r.nominal)
		if b, ok := parseQ(r.borrow); ok {
			room.Add(b)
		}
		if n.Cmp(room) > 0 {
			c.add("training", "the job asks for %s %s at once, more than team %s's ClusterQueue in environment %s admits (quota %s%s): Kueue would never admit it; request less or raise teams.%s.quota.%s", r.name, qstr(n), a.Team, env.Name, r.nominal, plusBorrow(r.borrow), a.Team, r.name)
		}
	}
	g, ok := need[resGPU]
	if !ok || g.IsZero() || q.GPU == nil {
		return
	}
	room, where := GPURoom(c.p, env, q, bl)
	if g.Value() > int64(room) {
		c.add(gpuAt, "the job asks for %d GPUs at once, but team %s's ClusterQueue in environment %s admits at most %d on one flavor (%s): Kueue would never admit it; request fewer or raise the team's GPU quota", g.Value(), a.Team, env.Name, room, where)
	}
}

func plusBorrow(b string) string {
	if b == "" {
		return ""
	}
	return " + borrowing limit " + b
}

// GPURoom is the most GPUs a team's ClusterQueue admits for one job in
// env: the largest flavor's share of its GPU quota plus the borrowing
// limit. where says how.
func GPURoom(p *spec.Platform, env *spec.Environment, q *spec.Quota, bl spec.BorrowingLimit) (int, string) {
	borrow := 0
	if bl.GPU != nil {
		borrow = *bl.GPU
	}
	flavors := spec.GPUFlavors(p, env)
	if len(flavors) == 0 {
		return *q.GPU + borrow, fmt.Sprintf("gpu quota %d%s", *q.GPU, plusBorrowN(borrow))
	}
	split := spec.GPUQuota(q, flavors)
	best, where := -1, ""
	for _, f := range flavors {
		n := split[f.Name] + borrow
		if n > best {
			best, where = n, fmt.Sprintf("flavor %s, %s GPUs: %d%s", f.Name, orUnknown(f.Type), split[f.Name], plusBorrowN(borrow))
		}
	}
	return best, where
}

func plusBorrowN(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" + borrowing limit %d", n)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// ServingMax is what the model services of each team take in env at their
// max scale, per quota resource (cpu, memory, gpu), from uses: the room a
// Kueue environment's ResourceQuota keeps for serving beside the
// ClusterQueue's quota. A service without a max scale counts at its min
// scale. It is empty for an environment whose scheduler is not Kueue.
func ServingMax(uses []QuotaUse, env string) map[string]map[string]resource.Quantity {
	type key struct{ team, app, res string }
	best := map[key]QuotaUse{}
	for _, u := range uses {
		if u.Env != env || !u.Kueue || u.What != "serving" || u.Res == resPods {
			continue
		}
		k := key{u.Team, u.App, u.Res}
		if have, ok := best[k]; !ok || u.Max && !have.Max {
			best[k] = u
		}
	}
	out := map[string]map[string]resource.Quantity{}
	for k, u := range best {
		q, err := resource.ParseQuantity(u.Amount)
		if err != nil {
			continue
		}
		if out[k.team] == nil {
			out[k.team] = map[string]resource.Quantity{}
		}
		total := out[k.team][k.res]
		total.Add(q)
		out[k.team][k.res] = total
	}
	return out
}

// KueueEnv checks an environment whose scheduler is kueue against the
// platform: a Kueue component installs it, and every team's GPU quota
// there names GPU types its cluster has, so that every GPU of the quota
// lands on a ResourceFlavor. pprov and eprov are the positions of
// platform.cue and of the environment's file.
func KueueEnv(p *spec.Platform, env *spec.Environment, pprov, eprov provenance.Map) diag.List {
	var d diag.List
	if env.Scheduler != spec.SchedulerKueue {
		return nil
	}
	if _, kc := p.KueueComponent(); kc == nil {
		pos, _ := eprov.Lookup("scheduler")
		d.Add(pos, "scheduler", "the scheduler of environment %s is kueue, but the platform installs no Kueue: add a component with kueue: {} to platform.cue", env.Name)
		return d
	}
	flavors := spec.GPUFlavors(p, env)
	types := map[string][]string{}
	for _, f := range flavors {
		if f.Type != "" {
			types[f.Type] = append(types[f.Type], f.Group)
		}
	}
	have := func() string {
		var parts []string
		for _, t := range slices.Sorted(maps.Keys(types)) {
			parts = append(parts, fmt.Sprintf("%s (%s)", t, strings.Join(types[t], ", ")))
		}
		return orNone(parts)
	}
	for _, team := range slices.Sorted(maps.Keys(env.Namespaces)) {
		t := p.Teams[team]
		q := spec.TeamQuota(t, env)
		if q == nil || q.GPU == nil {
			continue
		}
		// The position: the team's own quota, or the environment's default.
		at, prov := "teams."+team+".quota.gpu", pprov
		if t.Quota == nil || t.Quota.GPU == nil {
			at, prov = "quota.gpu", eprov
		}
		pos, _ := prov.Lookup(at)
		switch {
		case len(flavors) == 0 && q.GPUTypes != nil && env.Cluster.Name != "":
			d.Add(pos, at, "cluster %s of environment %s has no GPU node group, so Kueue has no flavor for GPUs of type %s; add a group with gpu: true, or give a plain number", env.Cluster.Name, env.Name, strings.Join(slices.Sorted(maps.Keys(q.GPUTypes)), ", "))
		case q.GPUTypes != nil:
			for _, typ := range slices.Sorted(maps.Keys(q.GPUTypes)) {
				if q.GPUTypes[typ] > 0 && len(types[typ]) == 0 {
					tpos, _ := prov.Lookup(at + "." + typ)
					d.Add(tpos, at+"."+typ, "cluster %s of environment %s has no GPU node group of type %s, so no ResourceFlavor would hold these GPUs; its GPU groups: %s", env.Cluster.Name, env.Name, typ, have())
				}
			}
		case len(types) > 1 && *q.GPU > 0:
			d.Add(pos, at, "cluster %s of environment %s has GPUs of several types (%s): name them, as in gpu: {%s: %d}, so that Kueue knows which flavor holds the quota", env.Cluster.Name, env.Name, have(), slices.Sorted(maps.Keys(types))[0], *q.GPU)
		}
	}
	return d
}

// TeamQueues checks the teams' Kueue queue settings in platform.cue: a
// borrowing limit needs a cohort to borrow from (Kueue's ClusterQueue
// refuses one without).
func TeamQueues(p *spec.Platform, prov provenance.Map) diag.List {
	var d diag.List
	for _, team := range slices.Sorted(maps.Keys(p.Teams)) {
		q := p.Teams[team].Queue
		if q == nil || q.BorrowingLimit == nil || q.Cohort != "" {
			continue
		}
		at := "teams." + team + ".queue.borrowingLimit"
		pos, _ := prov.Lookup(at)
		d.Add(pos, at, "a borrowing limit needs a cohort to borrow from: set teams.%s.queue.cohort, or drop the limit", team)
	}
	return d
}
