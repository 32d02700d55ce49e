package diff

import (
	"maps"
	"path"
	"slices"
	"sort"
	"strings"
)

// Argo CD annotations and labels dmls sets.
const (
	annSyncWave = "argocd.argoproj.io/sync-wave"
	labelApp    = "dmls.dev/app"
	labelEnv    = "dmls.dev/env"
	labelTeam   = "dmls.dev/team"
)

// application is an Argo CD Application found in an Argo CD unit.
type application struct {
	name, project, source, env, app string
	wave                            int
	obj                             *object
	ignore                          []ignoreRule
}

// ignoreRule is one entry of an Application's ignoreDifferences.
type ignoreRule struct {
	group, kind, name, namespace string
	pointers                     []string
}

func newApplication(o *object) *application {
	if o.group != "argoproj.io" || o.kind != "Application" {
		return nil
	}
	a := &application{name: o.name, obj: o, project: str(o.m, "spec", "project")}
	a.source = path.Clean(strings.Trim(str(o.m, "spec", "source", "path"), "/"))
	a.env = str(o.m, "metadata", "labels", labelEnv)
	a.app = str(o.m, "metadata", "labels", labelApp)
	a.wave, _ = num(get(o.m, "metadata", "annotations", annSyncWave))
	for _, r := range list(get(o.m, "spec", "ignoreDifferences")) {
		rule := ignoreRule{group: str(r, "group"), kind: str(r, "kind"), name: str(r, "name"), namespace: str(r, "namespace")}
		for _, p := range list(get(r, "jsonPointers")) {
			if s, ok := p.(string); ok {
				rule.pointers = append(rule.pointers, strings.TrimRight(s, "/"))
			}
		}
		a.ignore = append(a.ignore, rule)
	}
	return a
}

// ignoreRules maps each source folder to the ignoreDifferences of the
// Application that syncs it: head's, or base's for what head no longer has.
func ignoreRules(sides ...*side) map[string][]ignoreRule {
	out := map[string][]ignoreRule{}
	for _, s := range sides {
		for _, name := range slices.Sorted(maps.Keys(s.apps)) {
			a := s.apps[name]
			if _, ok := out[a.source]; !ok {
				out[a.source] = a.ignore
			}
		}
	}
	return out
}

// ignored reports whether pointer p of object o falls under one of rules.
func ignored(rules []ignoreRule, o *object, p string) bool {
	for _, r := range rules {
		if r.group != o.group || r.kind != o.kind || (r.name != "" && r.name != o.name) || (r.namespace != "" && r.namespace != o.namespace) {
			continue
		}
		for _, q := range r.pointers {
			if p == q || strings.HasPrefix(p, q+"/") {
				return true
			}
		}
	}
	return false
}

// argoView lists the Applications that will do something: those that are
// added, removed or changed, and those whose objects change.
func (c *comparison) argoView() []Sync {
	bySource := map[string]string{} // source folder -> unit key
	for _, s := range []*side{c.base, c.head} {
		for k, u := range s.units {
			if u.Source != "" {
				bySource[path.Clean(u.Source)] = k
			}
		}
	}
	names := map[string]bool{}
	for n := range c.base.apps {
		names[n] = true
	}
	for n := range c.head.apps {
		names[n] = true
	}
	var out []Sync
	root := map[string]bool{} // Applications that sync other Applications
	for _, n := range slices.Sorted(maps.Keys(names)) {
		b, h := c.base.apps[n], c.head.apps[n]
		a := h
		s := Sync{Application: n}
		switch {
		case b == nil:
			s.Change = Added
		case h == nil:
			s.Change = Removed
			a = b
		case b.obj.text != h.obj.text:
			s.Change = Changed
		}
		s.Env, s.App, s.Project, s.Wave, s.Source = a.env, a.app, a.project, a.wave, a.source
		if u := c.unitOf(bySource[a.source]); u != nil && u.Kind == KindArgoCD {
			root[n] = true
		}
		if !c.keep(a.env, a.app) {
			continue
		}
		if d := c.diffs[bySource[a.source]]; d != nil {
			for _, o := range d.Objects {
				switch {
				case o.Change == Added:
					s.Create = append(s.Create, o.ID)
				case o.Change == Removed && o.Kept:
					s.Keep = append(s.Keep, o.ID)
				case o.Change == Removed:
					s.Prune = append(s.Prune, o.ID)
				case !o.AllIgnored:
					s.Update = append(s.Update, o.ID)
				}
			}
		}
		if s.Change == "" && len(s.Create)+len(s.Update)+len(s.Prune)+len(s.Keep) == 0 {
			continue
		}
		out = append(out, s)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		ia, ib := c.envIndex(a.Env), c.envIndex(b.Env)
		if a.Env == "" {
			ia = -1
		}
		if b.Env == "" {
			ib = -1
		}
		if ia != ib {
			return ia < ib
		}
		if root[a.Application] != root[b.Application] {
			return root[a.Application] // a parent before its children
		}
		if a.Wave != b.Wave {
			return a.Wave < b.Wave
		}
		return a.Application < b.Application
	})
	return out
}
