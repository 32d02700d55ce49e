package rules

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/ec2"
	"github.com/dmls-project/dmls/internal/memo"
	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/internal/spec"
)

// Resource names of pod sets and quotas.
const (
	resCPU    = "cpu"
	resMemory = "memory"
	resGPU    = "gpu"
	resPods   = "pods"
)

// podSet is a group of identical pods of one app instance: a TFJob replica
// set, or a model service's pods.
type podSet struct {
	// what names the pods: "training.replicas.worker" or "serving".
	what string
	// at is the spec path of the resources the pods use.
	at string
	// count is how many run: replicas, or a service's min scale.
	count int
	// maxCount is a service's max scale (0: unbounded); count otherwise.
	maxCount int
	// requests of one pod: cpu, memory (requests, or limits where no
	// request is set, as Kubernetes defaults them) and gpu.
	requests map[string]resource.Quantity
	// src says which field under at each request was read from.
	src map[string]string
	gpu int
}

// podSets returns the pod sets of an app instance, training roles first.
func podSets(a *spec.AppSpec) []podSet {
	var out []podSet
	if t := a.Training; t.IsTrainJob() {
		res, at := t.NodeResources()
		ps := podSet{what: "training", at: at, count: t.Nodes(), maxCount: t.Nodes()}
		ps.requests, ps.src, ps.gpu = requests(res)
		out = append(out, ps)
	} else if t != nil {
		for _, role := range spec.Roles {
			rs := t.Replicas.Get(role)
			if rs == nil {
				continue
			}
			at, res := "training.replicas."+role+".resources", rs.Resources
			if res == nil {
				at, res = "training.resources", t.Resources
			}
			ps := podSet{what: "training.replicas." + role, at: at, count: rs.Replicas, maxCount: rs.Replicas}
			ps.requests, ps.src, ps.gpu = requests(res)
			out = append(out, ps)
		}
	}
	if s := a.Serving; s != nil {
		ps := podSet{what: "serving", at: "serving.resources"}
		if s.Autoscaling.MinScale != nil {
			ps.count = *s.Autoscaling.MinScale
		}
		if s.Autoscaling.MaxScale != nil {
			ps.maxCount = *s.Autoscaling.MaxScale
		}
		ps.requests, ps.src, ps.gpu = requests(s.Resources)
		out = append(out, ps)
	}
	return out
}

// requests returns what one container asks the scheduler for.
func requests(r *spec.Resources) (map[string]resource.Quantity, map[string]string, int) {
	out := map[string]resource.Quantity{}
	src := map[string]string{}
	if r == nil {
		return out, src, 0
	}
	set := func(name, req, lim string) {
		s, from := req, name
		if s == "" {
			s, from = lim, "limits."+name
		}
		if q, err := resource.ParseQuantity(s); err == nil && s != "" {
			out[name] = q
			src[name] = from
		}
	}
	var lim spec.Limits
	if r.Limits != nil {
		lim = *r.Limits
	}
	set(resCPU, r.CPU, lim.CPU)
	set(resMemory, r.Memory, lim.Memory)
	gpu := 0
	if r.GPU != nil {
		gpu = *r.GPU
		out[resGPU] = *resource.NewQuantity(int64(gpu), resource.DecimalSI)
		src[resGPU] = resGPU
	}
	return out, src, gpu
}

// gpuAt is the spec path of a pod set's GPU request.
func (ps podSet) gpuAt() string { return ps.at + ".gpu" }

// envCluster returns the platform cluster of the checked environment.
func (c *checker) envCluster() (string, *spec.KopsCluster) {
	env := c.in.Env
	if env == nil || c.p == nil || env.Cluster.Name == "" {
		return "", nil
	}
	cl, ok := c.p.Clusters[env.Cluster.Name]
	if !ok {
		return "", nil
	}
	return env.Cluster.Name, &cl
}

// nodeGroup is a node group with its machine types from the table.
type nodeGroup struct {
	name     string
	max      int
	gpu      bool
	machines []ec2.Machine
	// gpus is the fewest GPUs of the group's machine types.
	gpus int
}

func nodeGroups(cl *spec.KopsCluster) []nodeGroup {
	var out []nodeGroup
	for _, name := range slices.Sorted(maps.Keys(cl.NodeGroups)) {
		g := cl.NodeGroups[name]
		ng := nodeGroup{name: name, max: g.MaxSize, gpu: g.GPU, gpus: -1}
		for _, t := range g.MachineTypes() {
			if m, ok := ec2.Lookup(t); ok {
				ng.machines = append(ng.machines, m)
				if ng.gpus < 0 || m.GPUs < ng.gpus {
					ng.gpus = m.GPUs
				}
			}
		}
		if ng.gpus < 0 {
			ng.gpus = 0
		}
		out = append(out, ng)
	}
	return out
}

// clusterFit holds the cross-checks of an app instance against its
// environment's cluster: GPU requests need GPU groups with room, and every
// pod must fit some machine type.
func (c *checker) clusterFit(a *spec.AppSpec) {
	env := c.in.Env
	if env == nil || c.p == nil || len(c.p.Clusters) == 0 {
		return
	}
	sets := podSets(a)
	name, cl := c.envCluster()
	if cl == nil {
		return // the environment names no cluster to check against
	}
	groups := nodeGroups(cl)
	// Pods without GPUs do not tolerate the GPU taint: only the other
	// groups take them.
	var gpuGroups, cpuGroups []nodeGroup
	for _, g := range groups {
		if g.gpu {
			gpuGroups = append(gpuGroups, g)
		} else {
			cpuGroups = append(cpuGroups, g)
		}
	}
	jobGPUs, firstGPU := 0, -1
	for i, ps := range sets {
		if ps.gpu == 0 {
			c.fit(ps, name, cpuGroups, false)
			continue
		}
		if len(gpuGroups) == 0 {
			c.add(ps.gpuAt(), "requests %d GPU(s) but cluster %s (environment %s) has no GPU node group; add one with gpu: true to clusters.%s.nodeGroups in the platform spec", ps.gpu, name, env.Name, name)
			continue
		}
		if !c.fit(ps, name, gpuGroups, true) {
			continue
		}
		if ps.what == "serving" {
			c.gpuCapacity(ps, name, gpuGroups, max(ps.count, 1), fmt.Sprintf("%d pod(s) at min scale", max(ps.count, 1)))
			continue
		}
		jobGPUs += ps.count * ps.gpu
		if firstGPU < 0 {
			firstGPU = i
		}
	}
	if firstGPU >= 0 {
		ps := sets[firstGPU]
		var parts []string
		for _, s := range sets {
			if s.gpu > 0 && s.what != "serving" {
				parts = append(parts, fmt.Sprintf("%s %d × %d", strings.TrimPrefix(s.what, "training.replicas."), s.count, s.gpu))
			}
		}
		c.gpuJob(ps, name, gpuGroups, jobGPUs, strings.Join(parts, " + "))
	}
}

// gpuRoom is how many GPUs the GPU groups hold for pods of perPod GPUs:
// max size × GPUs per machine, over the groups whose machines fit one.
func gpuRoom(groups []nodeGroup, perPod int) (int, []string) {
	room := 0
	var how []string
	for _, g := range groups {
		if g.gpus < perPod || len(g.machines) == 0 {
			continue
		}
		room += g.max * g.gpus
		how = append(how, fmt.Sprintf("%s: maxSize %d × %d GPU of %s", g.name, g.max, g.gpus, g.machines[0].Name))
	}
	return room, how
}

func (c *checker) gpuJob(ps podSet, cluster string, groups []nodeGroup, need int, parts string) {
	room, how := gpuRoom(groups, ps.gpu)
	if need > room {
		c.add(ps.gpuAt(), "the training job needs %d GPUs at once (%s) but the GPU node groups of cluster %s (environment %s) hold at most %d (%s); raise maxSize or request fewer", need, parts, cluster, c.in.Env.Name, room, strings.Join(how, "; "))
	}
}

func (c *checker) gpuCapacity(ps podSet, cluster string, groups []nodeGroup, pods int, what string) {
	room, how := gpuRoom(groups, ps.gpu)
	if need := pods * ps.gpu; need > room {
		c.add(ps.gpuAt(), "the service needs %d GPUs (%s × %d) but the GPU node groups of cluster %s (environment %s) hold at most %d (%s); raise maxSize or request fewer", need, what, ps.gpu, cluster, c.in.Env.Name, room, strings.Join(how, "; "))
	}
}

// fit reports whether one pod of ps fits some machine of groups, and
// reports an error when none does.
func (c *checker) fit(ps podSet, cluster string, groups []nodeGroup, gpu bool) bool {
	if len(groups) == 0 {
		if len(ps.requests) > 0 || ps.count > 0 {
			c.add(ps.at, "cluster %s (environment %s) has no node group without GPUs for pods that request none; add one to clusters.%s.nodeGroups", cluster, c.in.Env.Name, cluster)
		}
		return false
	}
	var largest []ec2.Machine
	for _, g := range groups {
		for _, m := range g.machines {
			if fits(ps, m) {
				return true
			}
			largest = append(largest, m)
		}
	}
	if len(largest) == 0 {
		return true // unknown machine types were reported with the platform
	}
	sort.SliceStable(largest, func(i, j int) bool {
		a, b := largest[i], largest[j]
		if a.GPUs != b.GPUs {
			return a.GPUs > b.GPUs
		}
		if a.VCPUs != b.VCPUs {
			return a.VCPUs > b.VCPUs
		}
		return a.MemoryMiB > b.MemoryMiB
	})
	// Point at the first request that is too large for the largest machine.
	at, field := ps.at, ""
	big := largest[0]
	switch {
	case ps.gpu > big.GPUs:
		at, field = ps.gpuAt(), fmt.Sprintf("%d GPUs", ps.gpu)
	case over(ps, resCPU, big.CPU()):
		at, field = ps.at+"."+ps.src[resCPU], "cpu "+qstr(ps.requests[resCPU])
	case over(ps, resMemory, big.Memory()):
		at, field = ps.at+"."+ps.src[resMemory], "memory "+qstr(ps.requests[resMemory])
	default:
		field = describe(ps)
	}
	kind := "machine type"
	if gpu {
		kind = "GPU machine type"
	}
	c.add(at, "a %s pod asks for %s, which fits no %s of cluster %s (environment %s); the largest is %s, so the pod would never schedule", podName(ps), field, kind, cluster, c.in.Env.Name, big.String())
	return false
}

func podName(ps podSet) string {
	if ps.what == "serving" {
		return "serving"
	}
	return strings.TrimPrefix(ps.what, "training.replicas.")
}

func fits(ps podSet, m ec2.Machine) bool {
	return ps.gpu <= m.GPUs && !over(ps, resCPU, m.CPU()) && !over(ps, resMemory, m.Memory())
}

func over(ps podSet, res string, capacity resource.Quantity) bool {
	q, ok := ps.requests[res]
	return ok && q.Cmp(capacity) > 0
}

func describe(ps podSet) string {
	var parts []string
	for _, r := range []string{resCPU, resMemory} {
		if q, ok := ps.requests[r]; ok {
			parts = append(parts, r+" "+qstr(q))
		}
	}
	if ps.gpu > 0 {
		parts = append(parts, fmt.Sprintf("%d GPUs", ps.gpu))
	}
	return strings.Join(parts, ", ")
}

func qstr(q resource.Quantity) string { return q.String() }

// placement returns where the app's GPU pods go in the checked
// environment: the GPU groups of its cluster, if it has any.
func (c *checker) placement() *spec.Placement {
	_, cl := c.envCluster()
	if cl == nil {
		return nil
	}
	for _, g := range cl.NodeGroups {
		if g.GPU {
			return spec.GPUPlacement()
		}
	}
	return nil
}

// quotaResources are the resources the quota cross-check sums, in the
// order findings report them. To check another resource, add its quota
// field here and its use to podSets (or another consumer).
var quotaResources = []struct {
	name  string
	limit func(q *spec.Quota) (resource.Quantity, bool)
}{
	{resCPU, func(q *spec.Quota) (resource.Quantity, bool) { return parseQ(q.CPU) }},
	{resMemory, func(q *spec.Quota) (resource.Quantity, bool) { return parseQ(q.Memory) }},
	{resGPU, func(q *spec.Quota) (resource.Quantity, bool) { return intQ(q.GPU) }},
	{resPods, func(q *spec.Quota) (resource.Quantity, bool) { return intQ(q.Pods) }},
}

func parseQ(s string) (resource.Quantity, bool) {
	if s == "" {
		return resource.Quantity{}, false
	}
	q, err := resource.ParseQuantity(s)
	return q, err == nil
}

func intQ(n *int) (resource.Quantity, bool) {
	if n == nil {
		return resource.Quantity{}, false
	}
	return *resource.NewQuantity(int64(*n), resource.DecimalSI), true
}

// QuotaUse is what one pod set of one app instance takes of one quota
// resource, at the services' min scale or at their max scale. It is
// plain data: the on-disk cache keeps it with the app, so that quotas are
// checked across apps that one run did not load (CheckQuotas).
type QuotaUse struct {
	Env, Team, App string
	// Res is the quota resource: cpu, memory, gpu or pods.
	Res string
	// Max: at the services' max scale; otherwise at their min scale.
	Max bool
	// What names the pods ("training.replicas.worker", "serving"), Pos
	// is the position of the spec field that sets the amount, Count the
	// pods and Amount their total (a quantity).
	What, Pos string
	Count     int
	Amount    string
	// Queued marks a training job's use in an environment whose scheduler
	// is Kueue: Kueue queues what does not fit, so it is not summed (each
	// job alone must fit its ClusterQueue, which the loader checks).
	Queued bool `json:",omitempty"`
	// Kueue marks every use in an environment whose scheduler is Kueue,
	// where the ResourceQuota holds the services at max scale
	// (ServingMax).
	Kueue bool `json:",omitempty"`
}

// QuotaLimit is one resource of one team's quota, with the position of
// its spec field, as plain data (see QuotaUse).
type QuotaLimit struct {
	Team, Res string
	// At is the platform field, Pos its position.
	At    string
	Pos   provenance.Pos
	Limit string
}

// QuotaLimits returns the quota resources of the workspace's teams.
func QuotaLimits(ws *spec.Workspace) []QuotaLimit {
	var out []QuotaLimit
	if ws.Platform == nil {
		return out
	}
	for _, team := range slices.Sorted(maps.Keys(ws.Platform.Teams)) {
		q := ws.Platform.Teams[team].Quota
		if q == nil {
			continue
		}
		for _, r := range quotaResources {
			limit, ok := r.limit(q)
			if !ok {
				continue
			}
			at := "teams." + team + ".quota." + r.name
			pos, _ := ws.PlatformProv.Lookup(at)
			out = append(out, QuotaLimit{Team: team, Res: r.name, At: at, Pos: pos, Limit: limit.String()})
		}
	}
	return out
}

// usesMemo keeps QuotaUses by app digest: the quota check sums every
// app of the workspace on each load, and in dmls serve all but the few
// apps a batch changed are the same as the last time.
var usesMemo = memo.New[[]QuotaUse](8192)

// QuotaUses returns what a's pod sets take of each quota resource in
// each of its environments, at min and at max scale. The slice is shared
// (kept by a's Digest, which covers everything it is computed from): do
// not change it.
func QuotaUses(a *spec.App) []QuotaUse {
	if u, ok := usesMemo.Get(a.Digest); ok && a.Digest != "" {
		return u
	}
	u := quotaUses(a)
	usesMemo.Put(a.Digest, u)
	return u
}

func quotaUses(a *spec.App) []QuotaUse {
	var out []QuotaUse
	for _, in := range a.Envs {
		if in.Env == nil {
			continue
		}
		sets := podSets(in.Spec)
		for _, r := range quotaResources {
			for _, atMax := range []bool{false, true} {
				for _, ps := range sets {
					n := ps.count
					if atMax && ps.what == "serving" {
						if ps.maxCount == 0 {
							continue // unbounded: nothing to sum
						}
						n = ps.maxCount
					}
					var amount resource.Quantity
					if r.name == resPods {
						amount = *resource.NewQuantity(int64(n), resource.DecimalSI)
					} else {
						q, ok := ps.requests[r.name]
						if !ok || n == 0 {
							continue
						}
						amount = *resource.NewMilliQuantity(q.MilliValue()*int64(n), q.Format)
					}
					if amount.IsZero() {
						continue
					}
					at := ps.at
					if r.name == resPods {
						at = ps.what
					}
					pos, _ := in.Prov.Lookup(at)
					kueue := in.Env.Scheduler == spec.SchedulerKueue
					out = append(out, QuotaUse{Env: in.Env.Name, Team: a.Team, App: a.Name, Res: r.name, Max: atMax, What: ps.what, Pos: pos.String(), Count: n, Amount: amount.String(),
						Queued: kueue && ps.what != "serving", Kueue: kueue})
				}
			}
		}
	}
	return out
}

// maxConsumers bounds how many consumers a quota finding lists.
const maxConsumers = 3

// Quotas checks the quotas of the loaded workspace (CheckQuotas).
func Quotas(ws *spec.Workspace) diag.List {
	uses := make([][]QuotaUse, 0, len(ws.Apps))
	for _, a := range ws.Apps {
		uses = append(uses, QuotaUses(a))
	}
	envs := make([]string, len(ws.Envs))
	for i, e := range ws.Envs {
		envs[i] = e.Name
	}
	return checkQuotas(envs, QuotaLimits(ws), uses)
}

// CheckQuotas sums, per environment and team, what the team's apps
// request: every TFJob replica at its count and every service at its min
// scale must fit the team's quota (an error on the quota), and every
// service at its max scale should (a warning). uses are in the order of
// the apps' names, as QuotaUses gives them.
func CheckQuotas(envs []string, limits []QuotaLimit, uses []QuotaUse) diag.List {
	return checkQuotas(envs, limits, [][]QuotaUse{uses})
}

// checkQuotas is CheckQuotas over the uses of each app in turn (not
// copied into one slice). It sums each group first, parsing each distinct
// amount once, and lists a group's largest users only when the group is
// over its quota: at 1,000 apps, parsing, sorting and describing the uses
// of every group on each load was most of this check, for groups that fit.
func checkQuotas(envs []string, limits []QuotaLimit, uses [][]QuotaUse) diag.List {
	type group struct {
		env, team, res string
		max            bool
	}
	limited := map[[2]string]bool{}
	for _, l := range limits {
		limited[[2]string{l.Team, l.Res}] = true
	}
	totals := map[group]*resource.Quantity{}
	type amount struct {
		q  resource.Quantity
		ok bool
	}
	parsed := map[string]amount{}
	for _, app := range uses {
		for i := range app {
			u := &app[i]
			if u.Queued || !limited[[2]string{u.Team, u.Res}] {
				continue
			}
			a, seen := parsed[u.Amount]
			if !seen {
				q, err := resource.ParseQuantity(u.Amount)
				a = amount{q, err == nil}
				parsed[u.Amount] = a
			}
			if !a.ok {
				continue
			}
			g := group{u.Env, u.Team, u.Res, u.Max}
			t := totals[g]
			if t == nil {
				t = &resource.Quantity{}
				totals[g] = t
			}
			t.Add(a.q)
		}
	}
	// of returns the uses of g, in order, for the findings.
	of := func(g group) []QuotaUse {
		var out []QuotaUse
		for _, app := range uses {
			for _, u := range app {
				if !u.Queued && u.Env == g.env && u.Team == g.team && u.Res == g.res && u.Max == g.max {
					out = append(out, u)
				}
			}
		}
		return out
	}
	var d diag.List
	for _, env := range envs {
		for _, l := range limits {
			limit, err := resource.ParseQuantity(l.Limit)
			if err != nil {
				continue
			}
			for _, atMax := range []bool{false, true} {
				g := group{env, l.Team, l.Res, atMax}
				if t := totals[g]; t == nil || t.Cmp(limit) <= 0 {
					continue
				}
				total, users := quotaUse(of(g))
				by := total.DeepCopy()
				by.Sub(limit)
				scale := "at min scale"
				if atMax {
					scale = "at max scale"
				}
				msg := fmt.Sprintf("in environment %s the apps of team %s request %s %s (training replicas at their count, services %s), %s over the quota of %s; largest: %s",
					env, l.Team, l.Res, qstr(total), scale, qstr(by), qstr(limit), strings.Join(users, "; "))
				if atMax {
					d = append(d, diag.Diagnostic{Pos: l.Pos, Path: l.At, Message: msg, Severity: diag.SeverityWarning, Rule: diag.RuleQuotaMaxScale})
				} else {
					d = append(d, diag.Diagnostic{Pos: l.Pos, Path: l.At, Message: msg})
					break // at max scale it is over too
				}
			}
		}
	}
	return d
}

// quotaUse sums uses and lists the largest.
func quotaUse(uses []QuotaUse) (resource.Quantity, []string) {
	var total resource.Quantity
	type user struct {
		QuotaUse
		amount resource.Quantity
	}
	var users []user
	for _, u := range uses {
		amount, err := resource.ParseQuantity(u.Amount)
		if err != nil {
			continue
		}
		total.Add(amount)
		users = append(users, user{u, amount})
	}
	sort.SliceStable(users, func(i, j int) bool { return users[i].amount.Cmp(users[j].amount) > 0 })
	var out []string
	for i, u := range users {
		if i == maxConsumers {
			out = append(out, fmt.Sprintf("and %d more", len(users)-maxConsumers))
			break
		}
		per := resource.Quantity{}
		if u.Count != 0 {
			per = *resource.NewMilliQuantity(u.amount.MilliValue()/int64(u.Count), u.amount.Format)
		}
		out = append(out, fmt.Sprintf("%s %s %s (%d × %s) at %s", u.App, u.What, qstr(u.amount), u.Count, qstr(per), u.Pos))
	}
	return total, out
}

// GPUs is how many GPUs an app instance asks for at its largest, from the
// same pod sets as QuotaUses: each TFJob replica set's replicas times
// their GPUs, and a model service's (on Knative or KServe) max scale, or
// its min scale or 1 where the max is unbounded, times its GPUs per pod.
// The preview's quota warning counts with it.
func GPUs(a *spec.AppSpec) int {
	total := 0
	for _, ps := range podSets(a) {
		n := ps.count
		if ps.what == "serving" {
			n = ps.maxCount
			if n == 0 {
				n = max(ps.count, 1)
			}
		}
		total += n * ps.gpu
	}
	return total
}
