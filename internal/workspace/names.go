package workspace

import (
	"fmt"
	"maps"
	"slices"

	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/internal/spec"
)

// The names dmls derives from specs (see internal/spec/names.go) are
// checked here, in the loader, at the spec position that produced them,
// so that what validate accepts every later step accepts: generation, the
// Argo CD layout, publishing and the cluster.

// checkPlatformNames checks the names the platform derives: team
// AppProjects and repository path prefixes.
func (l *loader) checkPlatformNames(prov provenance.Map) {
	p := l.ws.Platform
	for _, team := range slices.Sorted(maps.Keys(p.Teams)) {
		if who, ok := spec.ReservedTeams[team]; ok {
			at := "teams." + team
			pos, _ := prov.Lookup(at)
			l.diags.Add(pos, at, "team name %q is taken: each team gets an Argo CD AppProject of its name, and %q is %s; name the team differently", team, team, who)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(p.Repos)) {
		at := "repos." + name + ".path"
		if why := spec.RepoPathProblem(p.Repos[name].Path); why != "" {
			pos, _ := prov.Lookup(at)
			l.diags.Add(pos, at, "path %q cannot be used: %s; choose another prefix", p.Repos[name].Path, why)
		}
	}
}

// checkEnvName checks the folders and Application names an environment's
// name becomes in the k8s-config repo.
func (l *loader) checkEnvName(rel, name string) bool {
	if folder, ok := spec.ReservedEnvs[name]; ok {
		l.diags.Add(l.filePos(rel), "", "environment name %q (from the file name) is taken: dmls writes %s in the k8s-config repo for something else; rename the file", name, folder)
		return false
	}
	// dmls-root-<env> is the longer of the two names an environment
	// gives its own Applications (platform-<env> is the other).
	if why := spec.ApplicationNameProblem(spec.EnvRootName(name)); why != "" {
		l.diags.Add(l.filePos(rel), "", "environment name %q (from the file name) is too long: %s; use at most %d characters", name, why, spec.MaxApplicationName-len(spec.EnvRootName("")))
		return false
	}
	return true
}

// names checks the names one instance of an app derives in its
// environment, beyond the TFJob and revision names of check.
func (c *checker) names(a *spec.AppSpec) {
	if env := c.in.Env; env != nil {
		if why := spec.ApplicationNameProblem(spec.ApplicationName(a.Name, env.Name)); why != "" {
			c.add("name", "app name too long for environment %s: %s (<app>-<env>); shorten the app name to at most %d characters", env.Name, why, spec.MaxApplicationName-len(env.Name)-1)
		}
	}
	seen := map[string]string{}
	for _, cl := range spec.CreatedClaims(a) {
		if len(cl.Name) > spec.MaxName {
			c.add(cl.From, "the PVC name %q (<app>-<volume>) is %d characters, more than %d; set claimName, or shorten the app or volume name", cl.Name, len(cl.Name), spec.MaxName)
		}
		if other, ok := seen[cl.Name]; ok {
			pos, _ := c.in.Prov.Lookup(other)
			c.add(cl.From, "the PVC %q is already created by %s (%s); one volume creates it, the others mount it without create", cl.Name, other, pos)
		}
		seen[cl.Name] = cl.From
	}
	if s := a.Serving; s != nil {
		tr := s.Traffic
		route := func(at, tag string) {
			if name := spec.RouteTagName(tag, s.ObjectName(a.Name)); len(name) > spec.MaxName {
				c.add(at, "the route of tag %q is the DNS label %q (<tag>-<app>), %d characters, more than %d; shorten the app name or the tag", tag, name, len(name), spec.MaxName)
			}
		}
		revision := func(at, rev string) {
			if name := spec.RevisionName(s.ObjectName(a.Name), rev); len(name) > spec.MaxName {
				c.add(at, "the revision name %q (<app>-<revision>) is %d characters, more than %d; shorten the app name or the revision", name, len(name), spec.MaxName)
			}
		}
		if tr.CanaryPercent != nil {
			route("serving.traffic.canaryPercent", spec.TagStable)
			route("serving.traffic.canaryPercent", spec.TagCanary)
		}
		if tr.Pinned {
			route("serving.traffic.pinned", spec.TagCurrent)
		}
		if tr.Stable != "" {
			revision("serving.traffic.stable", tr.Stable)
		}
		for _, tag := range slices.Sorted(maps.Keys(tr.Tags)) {
			route("serving.traffic.tags."+tag, tag)
			revision("serving.traffic.tags."+tag, tr.Tags[tag])
		}
	}
}

// owner is who generates an object or an Application name.
type owner struct {
	app string // "" for the platform
	at  string // spec path
	pos provenance.Pos
}

func (o owner) String() string {
	who := "the platform"
	if o.app != "" {
		who = "app " + o.app
	}
	if o.at != "" {
		return fmt.Sprintf("%s (%s at %s)", who, o.at, o.pos)
	}
	return fmt.Sprintf("%s (%s)", who, o.pos)
}

// checkOwners refuses two owners of one object: two apps, or an app and
// the platform, that generate the same kind, namespace and name, and Argo
// CD Applications of the same name (they share Argo CD's namespace). Each
// finding names both spec positions; apps with findings leave the
// workspace.
func (l *loader) checkOwners() {
	type key struct{ kind, ns, name string }
	owners := map[key]owner{}
	bad := map[string]bool{}
	envsOf := map[[2]string][]string{}
	claim := func(k key, o owner, env string) {
		prev, ok := owners[k]
		if !ok {
			owners[k] = o
			return
		}
		if prev.app == o.app && prev.at == o.at {
			return
		}
		if env != "" {
			pair := [2]string{prev.String(), o.String()}
			envsOf[pair] = append(envsOf[pair], env)
			if len(envsOf[pair]) > 1 {
				return // reported for the first environment
			}
		}
		what := k.kind + " " + k.name
		if k.ns != "" {
			what = fmt.Sprintf("%s %s/%s", k.kind, k.ns, k.name)
		}
		for _, pair := range [][2]owner{{o, prev}, {prev, o}} {
			me, other := pair[0], pair[1]
			if me.app == "" {
				continue // the platform keeps its names
			}
			where := ""
			if env != "" {
				where = " in environment " + env
			}
			l.diags.Add(me.pos, me.at, "%s%s is also generated by %s: one object has one owner; rename one of them", what, where, other)
			bad[me.app] = true
		}
	}
	p := l.ws.Platform
	pprov := l.ws.PlatformProv
	ppos, _ := pprov.Lookup("")
	claim(key{"Application", "", spec.RootApplication}, owner{pos: ppos}, "")
	if p.API != nil {
		pos, _ := pprov.Lookup("api")
		claim(key{"Application", "", spec.APIServerName}, owner{at: "api", pos: pos}, "")
	}
	for _, e := range l.ws.Envs {
		pos := l.envFiles[e.Name]
		claim(key{"Application", "", spec.PlatformApplicationName(e.Name)}, owner{pos: pos}, "")
		claim(key{"Application", "", spec.EnvRootName(e.Name)}, owner{pos: pos}, "")
	}
	for _, a := range l.ws.Apps {
		for _, in := range a.Envs {
			s := in.Spec
			own := func(at string) owner {
				pos, _ := in.Prov.Lookup(at)
				return owner{app: a.Name, at: at, pos: pos}
			}
			claim(key{"Application", "", spec.ApplicationName(a.Name, in.Env.Name)}, own("name"), "")
			ns := in.Namespace
			for _, cl := range spec.CreatedClaims(s) {
				claim(key{"PersistentVolumeClaim", ns, cl.Name}, own(cl.From), in.Env.Name)
			}
			if t := s.Training; t != nil {
				claim(key{"TFJob", ns, spec.JobName(a.Name, t)}, own("training"), in.Env.Name)
			}
			if sv := s.Serving; sv != nil {
				if sv.Runtime == spec.RuntimeKServe {
					claim(key{"InferenceService", ns, sv.ObjectName(a.Name)}, own("serving"), in.Env.Name)
				} else {
					claim(key{"Knative Service", ns, sv.ObjectName(a.Name)}, own("serving"), in.Env.Name)
					if sv.Revision != "" {
						claim(key{"Knative Revision", ns, spec.RevisionName(sv.ObjectName(a.Name), sv.Revision)}, own("serving.revision"), in.Env.Name)
					}
				}
			}
		}
	}
	if len(bad) == 0 {
		return
	}
	apps := l.ws.Apps[:0]
	for _, a := range l.ws.Apps {
		if !bad[a.Name] {
			apps = append(apps, a)
		}
	}
	l.ws.Apps = apps
}
