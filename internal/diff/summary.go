package diff

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/dmls-project/dmls/internal/admission"
)

// canaryJump is the largest canary step, in points, that is not a risk.
const canaryJump = 50

// Knative annotations that the summary reads.
const (
	annMinScale = "autoscaling.knative.dev/min-scale"
	annMaxScale = "autoscaling.knative.dev/max-scale"
	annTarget   = "autoscaling.knative.dev/target"
	gpuResource = "nvidia.com/gpu"
	quotaGPU    = "requests.nvidia.com/gpu"
)

// roleNames are TFJob replica types in order, with how a summary names them.
var roleNames = []struct{ role, plural, singular string }{
	{"Chief", "chief replicas", "chief"},
	{"PS", "parameter servers", "parameter server"},
	{"Worker", "workers", "worker"},
	{"Evaluator", "evaluators", "evaluator"},
}

type lines struct{ summary, risks []Line }

func (l *lines) add(where, format string, args ...any) {
	l.summary = append(l.summary, Line{Where: where, What: fmt.Sprintf(format, args...)})
}

func (l *lines) risk(where, format string, args ...any) {
	l.risks = append(l.risks, Line{Where: where, What: fmt.Sprintf(format, args...)})
}

func (c *comparison) summarize(units []UnitDiff) ([]Line, []Line) {
	l := &lines{summary: []Line{}, risks: []Line{}}
	handled := c.appsAddedRemoved(l)
	type appFact struct{ app, fact string }
	lifted := map[string][]appFact{} // env -> facts of app units
	for _, d := range units {
		u := c.unitOf(d.Key)
		bo, ho := c.base.objs[d.Key], c.head.objs[d.Key]
		switch u.Kind {
		case KindApp:
			where := d.App + "/" + d.Env
			c.pvcRisks(l, where, d)
			knativeRisks(l, where, d, bo, ho)
			immutableRisks(l, where, d, bo, ho)
			if handled[d.App] {
				continue
			}
			switch d.Change {
			case Added:
				l.add(where, "deployed to %s", d.Env)
				continue
			case Removed:
				l.add(where, "removed from %s", d.Env)
				if d.Env == c.prod() {
					l.risk(where, "app %s is removed from %s", d.App, d.Env)
				}
				continue
			}
			facts := appFacts(l, where, bo, ho)
			if len(facts) == 0 {
				facts = []string{generic(d)}
			}
			for _, f := range facts {
				lifted[d.Env] = append(lifted[d.Env], appFact{d.App, f})
			}
		case KindPlatform:
			if !platformFacts(l, d, bo, ho) {
				l.add(d.Title, "%s", generic(d))
			}
		case KindArgoCD:
			var changed []string
			for _, o := range d.Objects {
				if o.Kind == "Application" && o.Change != Changed {
					continue // shown as an app or environment added or removed
				}
				changed = append(changed, o.Kind+" "+o.Name+" "+verb(o.Change))
			}
			if len(changed) > 0 {
				l.add(d.Title, "%s", strings.Join(changed, ", "))
			}
		}
	}
	// A fact that several apps of one environment share comes from the
	// environment: say it once.
	for _, env := range c.envs {
		facts := lifted[env]
		count := map[string][]string{}
		for _, f := range facts {
			count[f.fact] = append(count[f.fact], f.app)
		}
		perApp := map[string][]string{}
		var apps []string
		for _, f := range facts {
			if len(count[f.fact]) > 1 {
				continue
			}
			if _, ok := perApp[f.app]; !ok {
				apps = append(apps, f.app)
			}
			perApp[f.app] = append(perApp[f.app], f.fact)
		}
		var shared []string
		for _, f := range facts {
			if len(count[f.fact]) > 1 && !slices.Contains(shared, f.fact) {
				shared = append(shared, f.fact)
			}
		}
		for _, f := range shared {
			l.add(env, "%s (apps %s)", f, nameList(count[f]))
		}
		for _, a := range apps {
			l.add(a+"/"+env, "%s", strings.Join(perApp[a], ", "))
		}
	}
	c.quotaRisks(l)
	sortLines(c, l.summary)
	return l.summary, l.risks
}

// sortLines orders lines as units are ordered: by environment, then where.
func sortLines(c *comparison, ls []Line) {
	envOf := func(where string) int {
		where, _, _ = strings.Cut(where, " ")
		if i := strings.LastIndexByte(where, '/'); i >= 0 {
			where = where[i+1:]
		}
		if where == "" {
			return -1
		}
		return c.envIndex(where)
	}
	sort.SliceStable(ls, func(i, j int) bool { return envOf(ls[i].Where) < envOf(ls[j].Where) })
}

// appsAddedRemoved says which apps are new or gone as a whole.
func (c *comparison) appsAddedRemoved(l *lines) map[string]bool {
	envs := func(s *side) map[string][]string {
		out := map[string][]string{}
		for _, u := range s.units {
			if u.Kind == KindApp && c.keep(u.Env, u.App) {
				out[u.App] = append(out[u.App], u.Env)
			}
		}
		for _, e := range out {
			sort.Slice(e, func(i, j int) bool { return c.envIndex(e[i]) < c.envIndex(e[j]) })
		}
		return out
	}
	be, he := envs(c.base), envs(c.head)
	handled := map[string]bool{}
	for _, app := range slices.Sorted(maps.Keys(he)) {
		if _, ok := be[app]; !ok {
			l.add("", "new app %s (%s)", app, strings.Join(he[app], ", "))
			handled[app] = true
		}
	}
	for _, app := range slices.Sorted(maps.Keys(be)) {
		if _, ok := he[app]; !ok {
			l.add("", "app %s removed (%s)", app, strings.Join(be[app], ", "))
			if slices.Contains(be[app], c.prod()) {
				l.risk(app+"/"+c.prod(), "app %s is removed from %s", app, c.prod())
			}
			handled[app] = true
		}
	}
	return handled
}

func (c *comparison) pvcRisks(l *lines, where string, d UnitDiff) {
	for _, o := range d.Objects {
		if o.Kind != "PersistentVolumeClaim" || o.Change != Removed {
			continue
		}
		if o.Kept {
			l.risk(where, "PersistentVolumeClaim %s leaves git; Argo CD keeps it (Prune=false), so delete it by hand once its data is safe", o.Name)
		} else {
			l.risk(where, "PersistentVolumeClaim %s is deleted, and its data with it", o.Name)
		}
	}
}

// appFacts describes the change of one app in one environment; it adds
// risks to l.
func appFacts(l *lines, where string, bo, ho map[string]*object) []string {
	var facts []string
	bj, hj := ofKind(bo, "kubeflow.org", "TFJob"), ofKind(ho, "kubeflow.org", "TFJob")
	switch {
	case len(bj) == 1 && len(hj) == 1 && bj[0].name != hj[0].name:
		facts = append(facts, fmt.Sprintf("re-training: TFJob %s replaced by %s", bj[0].name, hj[0].name))
		facts = append(facts, tfjobFacts(bj[0], hj[0])...)
	default:
		for _, pair := range pairs(bj, hj) {
			switch {
			case pair[0] == nil:
				facts = append(facts, "new training job "+pair[1].name)
			case pair[1] == nil:
				facts = append(facts, "training job "+pair[0].name+" removed")
			default:
				facts = append(facts, tfjobFacts(pair[0], pair[1])...)
			}
		}
	}
	for _, pair := range pairs(ofKind(bo, "serving.knative.dev", "Service"), ofKind(ho, "serving.knative.dev", "Service")) {
		switch {
		case pair[0] == nil:
			facts = append(facts, "new model service "+pair[1].name)
			facts = append(facts, modelFacts(nil, modelOf(pair[1], knativeModel))...)
		case pair[1] == nil:
			facts = append(facts, "model service "+pair[0].name+" removed")
		default:
			facts = append(facts, servingFacts(l, where, pair[0], pair[1])...)
		}
	}
	// KServe: only the model from training is described here.
	for _, pair := range pairs(ofKind(bo, "serving.kserve.io", "InferenceService"), ofKind(ho, "serving.kserve.io", "InferenceService")) {
		facts = append(facts, modelFacts(modelOf(pair[0], kserveModel), modelOf(pair[1], kserveModel))...)
	}
	for _, pair := range pairs(ofKind(bo, "", "PersistentVolumeClaim"), ofKind(ho, "", "PersistentVolumeClaim")) {
		switch {
		case pair[0] == nil:
			facts = append(facts, fmt.Sprintf("new volume claim %s (%s)", pair[1].name, str(pair[1].m, "spec", "resources", "requests", "storage")))
		case pair[1] == nil:
			facts = append(facts, "volume claim "+pair[0].name+" removed")
		default:
			if a, b := str(pair[0].m, "spec", "resources", "requests", "storage"), str(pair[1].m, "spec", "resources", "requests", "storage"); a != b {
				facts = append(facts, fmt.Sprintf("volume claim %s %s→%s", pair[1].name, a, b))
			}
		}
	}
	return facts
}

func tfjobFacts(b, h *object) []string {
	var facts []string
	for _, r := range roleNames {
		bs, hs := get(b.m, "spec", "tfReplicaSpecs", r.role), get(h.m, "spec", "tfReplicaSpecs", r.role)
		if bs == nil && hs == nil {
			continue
		}
		br, _ := num(get(bs, "replicas"))
		hr, _ := num(get(hs, "replicas"))
		if bs != nil && get(bs, "replicas") == nil {
			br = 1
		}
		if hs != nil && get(hs, "replicas") == nil {
			hr = 1
		}
		if br != hr {
			facts = append(facts, fmt.Sprintf("training %s %d→%d", r.plural, br, hr))
		}
		bg, hg := podGPUs(get(bs, "template")), podGPUs(get(hs, "template"))
		if bg != hg && hs != nil && bs != nil {
			facts = append(facts, fmt.Sprintf("GPU per %s %d→%d", r.singular, bg, hg))
		}
	}
	bc, hc := firstContainer(b, "spec", "tfReplicaSpecs"), firstContainer(h, "spec", "tfReplicaSpecs")
	if bi, hi := str(bc, "image"), str(hc, "image"); bi != hi {
		facts = append(facts, fmt.Sprintf("training image %s → %s", bi, hi))
	}
	for _, f := range []string{"command", "args", "env"} {
		if !equal(get(bc, f), get(hc, f)) {
			facts = append(facts, "training "+f+" changed")
		}
	}
	return facts
}

// traffic is a Knative Service's split: the canary's percent and the
// revisions on each side of it.
type traffic struct {
	canary         int
	stable, target string
}

func trafficOf(o *object) traffic {
	var t traffic
	prefix := o.name + "-"
	for _, e := range list(get(o.m, "spec", "traffic")) {
		rev := strings.TrimPrefix(str(e, "revisionName"), prefix)
		if rev == "" && get(e, "latestRevision") == true {
			rev = "latest"
		}
		p, _ := num(get(e, "percent"))
		switch str(e, "tag") {
		case "canary":
			t.canary, t.target = p, rev
		case "stable":
			t.stable = rev
		default:
			if p == 100 {
				t.stable = rev
			}
		}
	}
	return t
}

func servingFacts(l *lines, where string, b, h *object) []string {
	bt, ht := trafficOf(b), trafficOf(h)
	// A model from training: its runs, in words, say what the traffic
	// and the revision facts would.
	hm := modelOf(h, knativeModel)
	facts := modelFacts(modelOf(b, knativeModel), hm)
	revs := func(t traffic) string { return t.stable + " → " + t.target }
	switch {
	case hm != nil:
	case bt.canary != ht.canary && ht.canary == 0:
		facts = append(facts, fmt.Sprintf("canary %d%%→0%% (all traffic to %s)", bt.canary, orLatest(ht.stable)))
	case bt.canary != ht.canary:
		facts = append(facts, fmt.Sprintf("canary %d%%→%d%% (%s)", bt.canary, ht.canary, revs(ht)))
	case ht.canary > 0 && revs(bt) != revs(ht):
		facts = append(facts, fmt.Sprintf("canary at %d%%: %s now %s", ht.canary, revs(bt), revs(ht)))
	}
	if jump := ht.canary - bt.canary; jump > canaryJump || -jump > canaryJump {
		l.risk(where, "canary jumps %d%%→%d%% (%d points in one step)", bt.canary, ht.canary, max(jump, -jump))
	}
	prefix := h.name + "-"
	if br, hr := strings.TrimPrefix(str(b.m, "spec", "template", "metadata", "name"), prefix), strings.TrimPrefix(str(h.m, "spec", "template", "metadata", "name"), prefix); br != hr && hm == nil {
		facts = append(facts, fmt.Sprintf("new revision %s (was %s)", orLatest(hr), orLatest(br)))
	}
	ann := func(o *object, k string) string { return str(o.m, "spec", "template", "metadata", "annotations", k) }
	if bm, hm := ann(b, annMinScale), ann(h, annMinScale); bm != hm {
		f := fmt.Sprintf("min scale %s→%s", orUnset(bm), orUnset(hm))
		switch {
		case hm == "0":
			f += " (scale to zero enabled)"
		case bm == "0":
			f += " (scale to zero disabled)"
		}
		facts = append(facts, f)
	}
	if bm, hm := ann(b, annMaxScale), ann(h, annMaxScale); bm != hm {
		facts = append(facts, fmt.Sprintf("max scale %s→%s", orUnset(bm), orUnset(hm)))
	}
	if bm, hm := ann(b, annTarget), ann(h, annTarget); bm != hm {
		facts = append(facts, fmt.Sprintf("concurrency target %s→%s", orUnset(bm), orUnset(hm)))
	}
	bc, hc := get(b.m, "spec", "template", "spec", "containers", "0"), get(h.m, "spec", "template", "spec", "containers", "0")
	if bi, hi := str(bc, "image"), str(hc, "image"); bi != hi {
		facts = append(facts, fmt.Sprintf("serving image %s → %s", bi, hi))
	}
	if bg, hg := podGPUs(get(b.m, "spec", "template")), podGPUs(get(h.m, "spec", "template")); bg != hg {
		facts = append(facts, fmt.Sprintf("GPU per serving replica %d→%d", bg, hg))
	}
	return facts
}

// quotaNames are the ResourceQuota keys a summary names briefly.
var quotaNames = []struct{ key, name string }{
	{"requests.cpu", "cpu"}, {"requests.memory", "memory"}, {quotaGPU, "gpu"}, {"pods", "pods"},
}

// platformFacts describes the namespaces and quotas of a platform unit;
// false if it found nothing to say.
func platformFacts(l *lines, d UnitDiff, bo, ho map[string]*object) bool {
	said := false
	for _, pair := range pairs(ofKind(bo, "", "Namespace"), ofKind(ho, "", "Namespace")) {
		switch {
		case pair[0] == nil:
			l.add(d.Title, "new namespace %s", pair[1].name)
			said = true
		case pair[1] == nil:
			l.add(d.Title, "namespace %s leaves git (Argo CD keeps it: Prune=false)", pair[0].name)
			said = true
		}
	}
	for _, pair := range pairs(ofKind(bo, "", "ResourceQuota"), ofKind(ho, "", "ResourceQuota")) {
		o := pair[1]
		if o == nil {
			o = pair[0]
		}
		where := quotaWhere(o, d.Env)
		hard := func(o *object, key string) string {
			if o == nil {
				return ""
			}
			v := get(o.m, "spec", "hard", key)
			if n, ok := v.(float64); ok {
				return fmt.Sprint(n)
			}
			s, _ := v.(string)
			return s
		}
		var facts []string
		keys := map[string]bool{}
		for _, p := range pair {
			if p != nil {
				for k := range asMap(get(p.m, "spec", "hard")) {
					keys[k] = true
				}
			}
		}
		named := map[string]bool{}
		for _, q := range quotaNames {
			named[q.key] = true
			if a, b := hard(pair[0], q.key), hard(pair[1], q.key); a != b {
				facts = append(facts, fmt.Sprintf("%s %s→%s", q.name, orNone(a), orNone(b)))
			}
		}
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			if a, b := hard(pair[0], k), hard(pair[1], k); !named[k] && a != b {
				facts = append(facts, fmt.Sprintf("%s %s→%s", k, orNone(a), orNone(b)))
			}
		}
		switch {
		case pair[0] == nil:
			l.add(where, "new quota (%s)", strings.Join(facts, ", "))
		case pair[1] == nil:
			l.add(where, "removed")
		case len(facts) > 0:
			l.add(where, "%s", strings.Join(facts, ", "))
		default:
			continue
		}
		said = true
	}
	return said
}

func quotaWhere(o *object, env string) string {
	team := str(o.m, "metadata", "labels", labelTeam)
	if team == "" {
		team = o.namespace
	}
	if e := str(o.m, "metadata", "labels", labelEnv); e != "" {
		env = e
	}
	return team + "/" + env + " quota"
}

// quotaRisks flags namespaces whose GPU requests grow beyond their quota.
func (c *comparison) quotaRisks(l *lines) {
	quotas := func(s *side) map[string]*object {
		out := map[string]*object{}
		for k, u := range s.units {
			if u.Kind != KindPlatform {
				continue
			}
			for _, o := range ofKind(s.objs[k], "", "ResourceQuota") {
				if get(o.m, "spec", "hard", quotaGPU) != nil {
					out[o.namespace] = o
				}
			}
		}
		return out
	}
	bq, hq := quotas(c.base), quotas(c.head)
	for _, ns := range slices.Sorted(maps.Keys(c.head.GPU)) {
		q := hq[ns]
		if q == nil {
			continue
		}
		limit, _ := num(get(q.m, "spec", "hard", quotaGPU))
		used, was := c.head.GPU[ns], c.base.GPU[ns]
		oldLimit := limit
		if b := bq[ns]; b != nil {
			oldLimit, _ = num(get(b.m, "spec", "hard", quotaGPU))
		}
		if env := str(q.m, "metadata", "labels", labelEnv); len(c.opts.Envs) > 0 && !slices.Contains(c.opts.Envs, env) {
			continue
		}
		if used > limit && (used > was || limit < oldLimit) {
			l.risk(quotaWhere(q, ""), "GPU requests %d→%d exceed the quota of %d", was, used, limit)
		}
	}
}

// podGPUs sums the GPUs of a pod template's containers (limits, or requests).
func podGPUs(template any) int {
	total := 0
	for _, ct := range list(get(template, "spec", "containers")) {
		n, ok := num(get(ct, "resources", "limits", gpuResource))
		if !ok {
			n, _ = num(get(ct, "resources", "requests", gpuResource))
		}
		total += n
	}
	return total
}

func firstContainer(o *object, keys ...string) any {
	specs := asMap(get(o.m, keys...))
	for _, r := range roleNames {
		if s, ok := specs[r.role]; ok {
			return get(s, "template", "spec", "containers", "0")
		}
	}
	return nil
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func ofKind(objs map[string]*object, group, kind string) []*object {
	var out []*object
	for _, k := range slices.Sorted(maps.Keys(objs)) {
		if o := objs[k]; o.group == group && o.kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// pairs matches objects by namespace and name: [base, head], either nil.
func pairs(b, h []*object) [][2]*object {
	idx := map[string]int{}
	var out [][2]*object
	for _, o := range b {
		idx[o.namespace+"/"+o.name] = len(out)
		out = append(out, [2]*object{o, nil})
	}
	for _, o := range h {
		if i, ok := idx[o.namespace+"/"+o.name]; ok {
			out[i][1] = o
			continue
		}
		out = append(out, [2]*object{nil, o})
	}
	return out
}

// generic describes a change without a more specific fact.
func generic(d UnitDiff) string {
	var parts []string
	for _, o := range d.Objects {
		parts = append(parts, o.Kind+" "+o.Name+" "+verb(o.Change))
	}
	return strings.Join(parts, ", ")
}

func verb(c Change) string {
	switch c {
	case Added:
		return "added"
	case Removed:
		return "removed"
	}
	return "changed"
}

func nameList(names []string) string {
	if len(names) > 5 {
		return strings.Join(names[:5], ", ") + fmt.Sprintf(" and %d more", len(names)-5)
	}
	return strings.Join(names, ", ")
}

func orUnset(s string) string {
	if s == "" {
		return "unset"
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func orLatest(s string) string {
	if s == "" {
		return "latest"
	}
	return s
}

// knativeRisks reports the updates of Knative Services that Knative's
// webhook will refuse although each revision alone is valid: a changed
// revision template under its old revision name.
func knativeRisks(l *lines, where string, d UnitDiff, bo, ho map[string]*object) {
	for _, od := range d.Objects {
		if od.Change != Changed || od.AllIgnored || od.Kind != "Service" || od.Group != "serving.knative.dev" {
			continue
		}
		k := od.Group + "/" + od.Kind + "/" + od.Namespace + "/" + od.Name
		b, h := bo[k], ho[k]
		if b == nil || h == nil {
			continue
		}
		for _, e := range admission.KnativeUpdateErrors(b.m, h.m) {
			msg, _, _ := strings.Cut(e.Message, "\n")
			msg = strings.TrimSuffix(strings.TrimSpace(msg), ":")
			hint := ""
			if e.Field == "spec.template.metadata.name" {
				hint = "; give serving.revision a new name, or keep the template as it was"
			}
			l.risk(where, "Knative will refuse this update of %s: %s: %s%s", h.id(), e.Field, msg, hint)
		}
	}
}

// immutableRisks reports the updates of custom resources that the API
// server will refuse although each version alone is valid: a change to a
// field the CRD's transition rules keep immutable, such as a TrainJob's
// trainer or runtime under its old run name.
func immutableRisks(l *lines, where string, d UnitDiff, bo, ho map[string]*object) {
	schemas, err := admission.Default()
	if err != nil {
		return
	}
	for _, od := range d.Objects {
		if od.Change != Changed || od.AllIgnored || od.Kind == "Service" && od.Group == "serving.knative.dev" {
			continue
		}
		k := od.Group + "/" + od.Kind + "/" + od.Namespace + "/" + od.Name
		b, h := bo[k], ho[k]
		if b == nil || h == nil {
			continue
		}
		for _, e := range schemas.UpdateErrors(&unstructured.Unstructured{Object: b.m}, &unstructured.Unstructured{Object: h.m}) {
			hint := ""
			if od.Kind == "TrainJob" {
				hint = "; bump training.run to train the change as a new run"
			}
			l.risk(where, "the API server will refuse this update of %s: %s: %s%s", h.id(), e.Field, strings.TrimSpace(e.Message), hint)
		}
	}
}
