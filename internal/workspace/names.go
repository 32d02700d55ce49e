package workspace

import (
	"fmt"
	"maps"
	"slices"

	"github.com/dmls-project/dmls/internal/memo"
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

// owner is who generates an object or an Application name.
type owner struct {
	app string // "" for the platform
	at  string // spec path
	pos provenance.Pos
	// prov, when set, is where at is looked up instead of pos: only an
	// owner that is reported needs its position, and looking up every
	// owner's was most of this check at 1,000 apps.
	prov provenance.Map
}

// where is the position of the owner's spec path.
func (o owner) where() provenance.Pos {
	if o.prov != nil {
		p, _ := o.prov.Lookup(o.at)
		return p
	}
	return o.pos
}

func (o owner) String() string {
	who := "the platform"
	if o.app != "" {
		who = "app " + o.app
	}
	if o.at != "" {
		return fmt.Sprintf("%s (%s at %s)", who, o.at, o.where())
	}
	return fmt.Sprintf("%s (%s)", who, o.where())
}

// ownerKey is an object, or an Argo CD Application (kind "Application",
// no namespace), that one owner generates.
type ownerKey struct{ kind, ns, name string }

// ownerRef is where an owner is: claim j of app i of the workspace, or,
// with app -1, the platform's owner j.
type ownerRef struct{ app, claim int }

// appClaim is one object an app's instance generates: its key, the spec
// path that generates it, the instance's provenance (where that path is)
// and its environment, "" for the Application of the instance (Argo CD's
// namespace is one for every environment).
type appClaim struct {
	key  ownerKey
	at   string
	env  string
	prov provenance.Map
}

// claimsMemo keeps the claims of each app by Digest (which covers its
// files, the platform and the environments): the owner check runs over
// every app of the workspace on each load, and in dmls serve all but the
// few apps a batch changed are the same as the last time. Building the
// names again for every app was most of that check at 1,000 apps.
var claimsMemo = memo.New[[]appClaim](8192)

// appClaims returns the objects a generates, in the order checkOwners
// claims them. The slice is shared: do not change it.
func appClaims(a *spec.App) []appClaim {
	if c, ok := claimsMemo.Get(a.Digest); ok && a.Digest != "" {
		return c
	}
	var out []appClaim
	for _, in := range a.Envs {
		s := in.Spec
		ns := in.Namespace
		add := func(k ownerKey, at, env string) {
			out = append(out, appClaim{key: k, at: at, env: env, prov: in.Prov})
		}
		add(ownerKey{"Application", "", spec.ApplicationName(a.Name, in.Env.Name)}, "name", "")
		for _, cl := range spec.CreatedClaims(s) {
			add(ownerKey{"PersistentVolumeClaim", ns, cl.Name}, cl.From, in.Env.Name)
		}
		if t := s.Training; t != nil {
			add(ownerKey{t.Kind(), ns, spec.JobName(a.Name, t)}, "training", in.Env.Name)
		}
		if sv := s.Serving; sv != nil {
			if sv.Runtime == spec.RuntimeKServe {
				add(ownerKey{"InferenceService", ns, sv.ObjectName(a.Name)}, "serving", in.Env.Name)
			} else {
				add(ownerKey{"Knative Service", ns, sv.ObjectName(a.Name)}, "serving", in.Env.Name)
				if sv.Revision != "" {
					add(ownerKey{"Knative Revision", ns, spec.RevisionName(sv.ObjectName(a.Name), sv.Revision)}, "serving.revision", in.Env.Name)
				}
			}
		}
	}
	if a.Digest != "" {
		claimsMemo.Put(a.Digest, out)
	}
	return out
}

// checkOwners refuses two owners of one object: two apps, or an app and
// the platform, that generate the same kind, namespace and name, and Argo
// CD Applications of the same name (they share Argo CD's namespace). Each
// finding names both spec positions; apps with findings leave the
// workspace.
func (l *loader) checkOwners() {
	claims := make([][]appClaim, len(l.ws.Apps))
	n := 0
	for i, a := range l.ws.Apps {
		claims[i] = appClaims(a)
		n += len(claims[i])
	}
	// The map holds where each owner is (ownerRef), not the owner: at
	// 1,000 apps it has an entry per object of every app, and the owners
	// are needed only for a clash.
	var platform []owner
	owners := make(map[ownerKey]ownerRef, n+2+2*len(l.ws.Envs))
	ownerOf := func(r ownerRef) owner {
		if r.app < 0 {
			return platform[r.claim]
		}
		c := claims[r.app][r.claim]
		return owner{app: l.ws.Apps[r.app].Name, at: c.at, prov: c.prov}
	}
	bad := map[string]bool{}
	envsOf := map[[2]string][]string{}
	claim := func(k ownerKey, ref ownerRef, env string) {
		was, ok := owners[k]
		if !ok {
			owners[k] = ref
			return
		}
		prev, o := ownerOf(was), ownerOf(ref)
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
			l.diags.Add(me.where(), me.at, "%s%s is also generated by %s: one object has one owner; rename one of them", what, where, other)
			bad[me.app] = true
		}
	}
	claimPlatform := func(k ownerKey, o owner) {
		platform = append(platform, o)
		claim(k, ownerRef{app: -1, claim: len(platform) - 1}, "")
	}
	p := l.ws.Platform
	pprov := l.ws.PlatformProv
	ppos, _ := pprov.Lookup("")
	claimPlatform(ownerKey{"Application", "", spec.RootApplication}, owner{pos: ppos})
	if p.API != nil {
		pos, _ := pprov.Lookup("api")
		claimPlatform(ownerKey{"Application", "", spec.APIServerName}, owner{at: "api", pos: pos})
	}
	for _, e := range l.ws.Envs {
		pos := l.envFiles[e.Name]
		claimPlatform(ownerKey{"Application", "", spec.PlatformApplicationName(e.Name)}, owner{pos: pos})
		claimPlatform(ownerKey{"Application", "", spec.EnvRootName(e.Name)}, owner{pos: pos})
	}
	for i := range l.ws.Apps {
		for j, c := range claims[i] {
			claim(c.key, ownerRef{app: i, claim: j}, c.env)
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
