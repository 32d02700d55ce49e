// Package diff compares two rendered revisions of a workspace object by
// object, and explains the change: a semantic summary, the risks, what
// Argo CD will sync, and a unified diff of each changed object.
//
// It is pure: it reads rendered YAML and writes text, Markdown or JSON.
// Objects are matched by API group, kind, namespace and name, and compared
// in a canonical form (sorted keys), so that moving an object or a key, or
// a comment, is no change.
package diff

import (
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sort"
	"strings"

	"github.com/dmls-project/dmls/internal/parallel"
)

// Kind is what a unit holds.
type Kind int

// Unit kinds, in the order a report lists them within an environment.
const (
	// KindPlatform: an environment's team namespaces and quotas, or a
	// platform component (the API server).
	KindPlatform Kind = iota
	// KindApp: one app in one environment.
	KindApp
	// KindArgoCD: Argo CD objects (Applications, AppProjects, settings).
	KindArgoCD
)

// Unit is what one Argo CD Application syncs: the rendered objects of one
// app in one environment, of one environment's platform, or of Argo CD.
type Unit struct {
	// Key matches a unit across the two sides, for example "staging/fashion-mnist".
	Key  string
	Kind Kind
	// Env is "" for units outside any environment.
	Env string
	// App is the app's name for KindApp units.
	App string
	// Title names the unit for people: "fashion-mnist/staging".
	Title string
	// Source is the folder of the k8s-config repo that an Application
	// syncs the unit from; "" if none does (the bootstrap).
	Source string
	// YAML is the rendered multi-document stream.
	YAML []byte
}

// Side is one revision of the workspace, rendered.
//
// A caller may leave out an app's units on both sides when it knows they
// are the same (same inputs): what is on neither side is unchanged. The
// platform and Argo CD units must always be given, since the quota check
// and the Argo CD view read them.
type Side struct {
	// Rev names the revision: "origin/main (1a2b3c4)", "working tree".
	Rev string
	// Envs are the environments in order; the last one is production.
	Envs  []string
	Units []Unit
	// GPU is the number of GPUs every app of the side requests, per
	// namespace (see GPUs), including the apps left out of Units.
	GPU map[string]int
}

// Options filter a comparison.
type Options struct {
	// Envs and Apps, when set, keep only units of these environments and apps.
	Envs, Apps []string
}

// Change is what happens to a unit, an object or an Application.
type Change string

// Changes.
const (
	Added   Change = "added"
	Removed Change = "removed"
	Changed Change = "changed"
)

// Report is the comparison of two sides.
type Report struct {
	Base     string   `json:"base"`
	Head     string   `json:"head"`
	Warnings []string `json:"warnings,omitempty"`
	// Summary has one line per meaningful change.
	Summary []Line `json:"summary"`
	// Risks are changes a reviewer should look at twice.
	Risks []Line `json:"risks"`
	// ArgoCD are the Applications that will sync, in sync order.
	ArgoCD []Sync `json:"argocd"`
	// Units are the units that changed, with their object diffs.
	Units []UnitDiff `json:"units"`
}

// Line is one line of the summary or of the risks.
type Line struct {
	// Where is the app and environment, or the team and environment, or "".
	Where string `json:"where,omitempty"`
	What  string `json:"what"`
}

// String is the line as the text format prints it: "where: what".
func (l Line) String() string {
	if l.Where == "" {
		return l.What
	}
	return l.Where + ": " + l.What
}

// UnitDiff is a changed unit.
type UnitDiff struct {
	Key     string       `json:"key"`
	Title   string       `json:"title"`
	Env     string       `json:"env,omitempty"`
	App     string       `json:"app,omitempty"`
	Change  Change       `json:"change"`
	Objects []ObjectDiff `json:"objects"`
}

// ObjectDiff is an added, removed or changed object.
type ObjectDiff struct {
	// ID is "Kind namespace/name".
	ID        string `json:"id"`
	Group     string `json:"group,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Change    Change `json:"change"`
	// Diff is the unified diff of the object's YAML (all "+" for an added
	// object, all "-" for a removed one).
	Diff string `json:"diff"`
	// Ignored are the changed fields (JSON pointers) that the object's
	// Application ignores (ignoreDifferences): Argo CD does not see them
	// as drift.
	Ignored []string `json:"ignoredByArgoCD,omitempty"`
	// AllIgnored is set when every changed field is ignored.
	AllIgnored bool `json:"allIgnoredByArgoCD,omitempty"`
	// Kept is set on a removed object that Argo CD will not prune
	// (sync-options Prune=false): it stays in the cluster.
	Kept bool `json:"keptByArgoCD,omitempty"`
	// Replaces names the removed object that an added one takes the place
	// of (a re-training's TFJob): Diff is then against that object.
	// ReplacedBy is the other end, on the removed object, whose Diff is
	// then empty.
	Replaces   string `json:"replaces,omitempty"`
	ReplacedBy string `json:"replacedBy,omitempty"`
}

// Sync is what one Argo CD Application will do.
type Sync struct {
	Application string `json:"application"`
	Env         string `json:"env,omitempty"`
	App         string `json:"app,omitempty"`
	Project     string `json:"project,omitempty"`
	// Wave is the Application's sync wave within its parent root.
	Wave   int    `json:"wave"`
	Source string `json:"source,omitempty"`
	// Change is what happens to the Application object itself; "" when
	// only what it syncs changes.
	Change Change   `json:"change,omitempty"`
	Create []string `json:"create,omitempty"`
	Update []string `json:"update,omitempty"`
	Prune  []string `json:"prune,omitempty"`
	// Keep are removed objects Argo CD leaves in the cluster (Prune=false).
	Keep []string `json:"keep,omitempty"`
}

// Changed reports whether the two sides differ.
func (r *Report) Changed() bool { return len(r.Units) > 0 }

// side is a Side with its units parsed.
type side struct {
	*Side
	units map[string]*Unit
	objs  map[string]map[string]*object
	apps  map[string]*application // Argo CD Applications by name
}

func newSide(s *Side, memo *parsed) (*side, error) {
	p := &side{Side: s, units: map[string]*Unit{}, objs: map[string]map[string]*object{}, apps: map[string]*application{}}
	for i := range s.Units {
		u := &s.Units[i]
		if _, dup := p.units[u.Key]; dup {
			return nil, fmt.Errorf("unit %s given twice", u.Key)
		}
		p.units[u.Key] = u
	}
	// Parsing is most of the work: the units in parallel.
	objs := make([]map[string]*object, len(s.Units))
	errs := make([]error, len(s.Units))
	parallel.For(len(s.Units), runtime.GOMAXPROCS(0), func(i int) {
		objs[i], errs[i] = parseObjects(s.Units[i].Title, s.Units[i].YAML, memo)
	})
	for i := range s.Units {
		if errs[i] != nil {
			return nil, errs[i]
		}
		u := &s.Units[i]
		p.objs[u.Key] = objs[i]
		if u.Kind == KindArgoCD {
			for _, o := range objs[i] {
				if a := newApplication(o); a != nil {
					p.apps[a.name] = a
				}
			}
		}
	}
	return p, nil
}

// Compare compares base with head. A unit key that is on neither side is
// unchanged; one on a single side was added or removed.
func Compare(base, head *Side, opts Options) (*Report, error) {
	memo := newParsed()
	b, err := newSide(base, memo)
	if err != nil {
		return nil, fmt.Errorf("base: %w", err)
	}
	h, err := newSide(head, memo)
	if err != nil {
		return nil, fmt.Errorf("head: %w", err)
	}
	c := &comparison{base: b, head: h, opts: opts, envs: envOrder(base.Envs, head.Envs)}
	c.ignores = ignoreRules(h, b)
	r := &Report{Base: base.Rev, Head: head.Rev, Summary: []Line{}, Risks: []Line{}, ArgoCD: []Sync{}, Units: []UnitDiff{}}
	keys := map[string]bool{}
	for k := range b.units {
		keys[k] = true
	}
	for k := range h.units {
		keys[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		u := h.units[k]
		if u == nil {
			u = b.units[k]
		}
		if !c.keep(u.Env, u.App) {
			continue
		}
		if d := c.unit(k); d != nil {
			r.Units = append(r.Units, *d)
		}
	}
	sort.SliceStable(r.Units, func(i, j int) bool { return c.less(r.Units[i], r.Units[j]) })
	c.diffs = map[string]*UnitDiff{}
	for i := range r.Units {
		c.diffs[r.Units[i].Key] = &r.Units[i]
	}
	r.Summary, r.Risks = c.summarize(r.Units)
	r.ArgoCD = c.argoView()
	return r, nil
}

type comparison struct {
	base, head *side
	opts       Options
	envs       []string
	ignores    map[string][]ignoreRule // by unit source
	diffs      map[string]*UnitDiff
}

func (c *comparison) keep(env, app string) bool {
	if len(c.opts.Envs) > 0 && !slices.Contains(c.opts.Envs, env) {
		return false
	}
	if len(c.opts.Apps) > 0 && !slices.Contains(c.opts.Apps, app) {
		return false
	}
	return true
}

// envOrder merges the environment orders of both sides.
func envOrder(base, head []string) []string {
	out := slices.Clone(head)
	for _, e := range base {
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

// prod is the production environment: the last of head's environments.
func (c *comparison) prod() string {
	if len(c.head.Envs) > 0 {
		return c.head.Envs[len(c.head.Envs)-1]
	}
	if len(c.base.Envs) > 0 {
		return c.base.Envs[len(c.base.Envs)-1]
	}
	return ""
}

func (c *comparison) envIndex(env string) int {
	if env == "" {
		return len(c.envs)
	}
	if i := slices.Index(c.envs, env); i >= 0 {
		return i
	}
	return len(c.envs)
}

func (c *comparison) unitOf(key string) *Unit {
	if u := c.head.units[key]; u != nil {
		return u
	}
	return c.base.units[key]
}

func (c *comparison) less(a, b UnitDiff) bool {
	ua, ub := c.unitOf(a.Key), c.unitOf(b.Key)
	if ia, ib := c.envIndex(ua.Env), c.envIndex(ub.Env); ia != ib {
		return ia < ib
	}
	if ua.Kind != ub.Kind {
		return ua.Kind < ub.Kind
	}
	return ua.Title < ub.Title
}

// unit compares one unit's objects; nil when nothing changed.
func (c *comparison) unit(key string) *UnitDiff {
	bu, hu := c.base.units[key], c.head.units[key]
	bo, ho := c.base.objs[key], c.head.objs[key]
	u := hu
	d := &UnitDiff{Key: key, Change: Changed}
	switch {
	case bu == nil:
		d.Change = Added
	case hu == nil:
		d.Change = Removed
		u = bu
	}
	d.Title, d.Env, d.App = u.Title, u.Env, u.App
	keys := map[string]bool{}
	for k := range bo {
		keys[k] = true
	}
	for k := range ho {
		keys[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		b, h := bo[k], ho[k]
		if b != nil && h != nil && b.text == h.text {
			continue
		}
		o := h
		if o == nil {
			o = b
		}
		od := ObjectDiff{ID: o.id(), Group: o.group, Kind: o.kind, Namespace: o.namespace, Name: o.name}
		var bt, ht string
		switch {
		case b == nil:
			od.Change = Added
			ht = h.text
		case h == nil:
			od.Change = Removed
			bt = b.text
			od.Kept = pruneDisabled(b)
		default:
			od.Change = Changed
			bt, ht = b.text, h.text
			var ptrs []string
			changedPointers(b.m, h.m, "", &ptrs)
			rules := c.ignores[u.Source]
			for _, p := range ptrs {
				if ignored(rules, h, p) {
					od.Ignored = append(od.Ignored, p)
				}
			}
			od.AllIgnored = len(ptrs) > 0 && len(od.Ignored) == len(ptrs)
		}
		name := strings.ReplaceAll(o.id(), " ", "/")
		od.Diff = Unified("a/"+name, "b/"+name, bt, ht, 3)
		d.Objects = append(d.Objects, od)
	}
	if len(d.Objects) == 0 {
		return nil
	}
	pairReplacements(d.Objects, bo, ho)
	sort.SliceStable(d.Objects, func(i, j int) bool { return objectLess(d.Objects[i], d.Objects[j]) })
	return d
}

// pairReplacements finds, per kind and namespace, a single removed and a
// single added object: a rename, such as a re-training's new TFJob. The
// added object's diff is then against the removed one.
func pairReplacements(objs []ObjectDiff, bo, ho map[string]*object) {
	type slot struct{ added, removed []int }
	slots := map[string]*slot{}
	var order []string
	for i, o := range objs {
		k := o.Group + "/" + o.Kind + "/" + o.Namespace
		if slots[k] == nil {
			slots[k] = &slot{}
			order = append(order, k)
		}
		switch o.Change {
		case Added:
			slots[k].added = append(slots[k].added, i)
		case Removed:
			slots[k].removed = append(slots[k].removed, i)
		}
	}
	for _, k := range order {
		s := slots[k]
		if len(s.added) != 1 || len(s.removed) != 1 {
			continue
		}
		a, r := &objs[s.added[0]], &objs[s.removed[0]]
		old, cur := bo[k+"/"+r.Name], ho[k+"/"+a.Name]
		if old == nil || cur == nil {
			continue
		}
		a.Replaces, r.ReplacedBy = r.ID, a.ID
		oldName, newName := strings.ReplaceAll(r.ID, " ", "/"), strings.ReplaceAll(a.ID, " ", "/")
		a.Diff = Unified("a/"+oldName, "b/"+newName, old.text, cur.text, 3)
		r.Diff = ""
	}
}

// kindOrder lists objects the way Argo CD applies them: what others need first.
var kindOrder = []string{"Namespace", "ResourceQuota", "ServiceAccount", "ConfigMap", "PersistentVolumeClaim", "Service", "Deployment", "PodDisruptionBudget", "TFJob", "AppProject", "Application"}

func objectLess(a, b ObjectDiff) bool {
	ra, rb := rank(a.Kind), rank(b.Kind)
	if ra != rb {
		return ra < rb
	}
	return a.ID < b.ID
}

func rank(kind string) int {
	if i := slices.Index(kindOrder, kind); i >= 0 {
		return i
	}
	return len(kindOrder)
}

// pruneDisabled reports whether Argo CD leaves the object in the cluster
// when it leaves git.
func pruneDisabled(o *object) bool {
	for _, opt := range strings.Split(str(o.m, "metadata", "annotations", "argocd.argoproj.io/sync-options"), ",") {
		if strings.TrimSpace(opt) == "Prune=false" {
			return true
		}
	}
	return false
}
