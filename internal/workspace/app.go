package workspace

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"regexp"
	"slices"
	"sync"

	"cuelang.org/go/cue"

	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/internal/spec"
	"github.com/dmls-project/dmls/schemas"
)

// Spec paths used when layering environments.
const (
	pathName      = "name"
	pathTeam      = "team"
	pathEnvs      = "envs"
	pathOverrides = "overrides"
	pathTraining  = "training"
	pathServing   = "serving"
	pathPolicy    = "policy"
)

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func isDNSLabel(s string) bool { return len(s) <= 63 && dnsLabel.MatchString(s) }

var schemaDigest = sync.OnceValue(func() string {
	h := sha256.New()
	_ = fs.WalkDir(schemas.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := fs.ReadFile(schemas.FS, p)
			fmt.Fprintf(h, "%s %d\n", p, len(b))
			h.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))
})

// loadApp evaluates one app folder on its own: it needs only the platform
// and the environments, so apps load in parallel and cache by Digest.
func (l *loader) loadApp(ev *evaluator, dir string) (*spec.App, diag.List) {
	rel := path.Join(layout.AppsDir, dir)
	dirPos := l.filePos(rel)
	var d diag.List
	if !isDNSLabel(dir) {
		d.Add(dirPos, "", "app folder name %q must be a DNS-1123 label: lower-case letters, digits and '-'", dir)
		return nil, d
	}
	files, fd := l.specFiles(rel)
	d = append(d, fd...)
	if len(files) == 0 {
		if len(fd) == 0 {
			d.Add(dirPos, "", "no spec files in the app folder; add a .cue, .yaml or .json spec")
		}
		return nil, d
	}
	h := sha256.New()
	fmt.Fprintf(h, "workspace %s\napp %s\n", l.ws.Digest, dir)
	srcs := make([][]byte, len(files))
	for i, f := range files {
		src, fd := l.readFile(f, h)
		d = append(d, fd...)
		srcs[i] = src
	}
	if len(d) > 0 {
		return nil, d
	}
	digest := hex.EncodeToString(h.Sum(nil))
	if a, ok := l.cache.Get(digest); ok {
		return a, nil
	}
	if l.guard == nil {
		return l.evalApp(ev, dir, files, srcs, digest)
	}
	job := &AppJob{Root: l.root, Dir: dir, Context: l.ctx, ContextDigest: l.ctxDigest}
	for i, f := range files {
		job.Files = append(job.Files, File{Rel: f, Data: srcs[i]})
	}
	return l.guard.Evaluate(job, func() (*spec.App, diag.List) { return l.evalApp(ev, dir, files, srcs, digest) })
}

// evalApp evaluates the app in the folder dir from its spec files, read:
// the one function that evaluates an app, in this process (Load) or in a
// worker (EvalApp), so that both find the same. A valid app is cached
// under digest.
func (l *loader) evalApp(ev *evaluator, dir string, files []string, srcs [][]byte, digest string) (*spec.App, diag.List) {
	dirPos := l.filePos(path.Join(layout.AppsDir, dir))
	var d diag.List
	var raw cue.Value
	var display []string
	for i, f := range files {
		v, fd := l.parseSpec(ev, f, srcs[i])
		display = append(display, l.display(f))
		if len(fd) > 0 {
			d = append(d, fd...)
			continue
		}
		if i == 0 || !raw.Exists() {
			raw = v
		} else {
			raw = raw.Unify(v)
		}
	}
	if len(d) > 0 {
		return nil, d
	}
	if !raw.LookupPath(cue.ParsePath(pathName)).Exists() {
		raw = raw.FillPath(cue.ParsePath(pathName), dir)
	}
	prov := provenance.Map{}
	positions(raw, prov)
	prov.Set("", provenance.Pos{File: display[0]})

	// Types, constraints and unknown fields first, with the user's own
	// positions, together with what the app names outside itself; the
	// user's data must then be concrete.
	refs := l.checkRefs(rawRefs(raw), prov)
	checked := ev.schema.LookupPath(defApp).Unify(raw)
	if err := checked.Validate(); err != nil {
		found := fromCUE(err, defApp.String(), prov, dirPos)
		found = append(found, unknownFields(ev, defApp, raw, prov, dirPos, found)...)
		return nil, append(refs, clarifySecretErrors(found)...)
	}
	if len(refs) > 0 {
		return nil, refs
	}
	if err := raw.Validate(cue.Concrete(true)); err != nil {
		return nil, fromCUE(err, "", prov, dirPos)
	}
	data, err := toData(raw)
	if err != nil {
		d.Add(dirPos, "", "%v", err)
		return nil, d
	}
	appName, _ := data[pathName].(string)
	d = append(d, l.secretLiterals(appName, data, prov)...)
	app := &spec.App{Dir: dir, Files: display, Digest: digest}
	app.Name, _ = data[pathName].(string)
	app.Team, _ = data[pathTeam].(string)
	overrides, _ := data[pathOverrides].(map[string]any)
	delete(data, pathOverrides)

	var layers []envInput
	for _, env := range l.ws.Envs {
		if !runsIn(data, env.Name) {
			continue
		}
		// The environment adjusts the app's own settings; the app's
		// overrides for that environment have the last word.
		layer, lprov, origins := envLayer(env, data, asMap(overrides[env.Name]), l.ws.EnvProv[env.Name])
		in := envInput{env: env, layer: layer, touched: map[string]bool{}}
		for k := range layer {
			in.touched[k] = true
		}
		in.merged = merge(data, layer)
		in.prov = prov.Clone()
		in.prov.Overlay("", lprov)
		if o, ok := overrides[env.Name].(map[string]any); ok {
			in.override = o
			for k := range o {
				in.touched[k] = true
			}
			in.merged = merge(in.merged, o)
			at := provenance.Join(pathOverrides, env.Name)
			oprov := prov.Sub(at)
			in.prov.Overlay("", oprov)
			for p := range oprov {
				if p != "" {
					origins[p] = provenance.Join(at, p)
				}
			}
		}
		in.origins = origins
		layers = append(layers, in)
	}
	if base, envs, ok := l.fastInstances(ev, checked, data, prov, layers); ok {
		for _, in := range append([]*spec.Instance{base}, envs...) {
			d = append(d, l.finish(in)...)
		}
		app.Base = base
		app.Envs = envs
	} else {
		base, bd := l.instance(ev, nil, data, prov, nil)
		d = append(d, bd...)
		app.Base = base
		for _, in := range layers {
			inst, ed := l.instance(ev, in.env, in.merged, in.prov, in.origins)
			d = append(d, ed...)
			if inst != nil {
				app.Envs = append(app.Envs, inst)
			}
		}
	}
	if d.HasErrors() {
		return nil, d
	}
	app.Warnings = d
	l.cache.Put(digest, app)
	return app, nil
}

// instance validates the merged data of an app in env (nil: the base)
// against #App and decodes it.
func (l *loader) instance(ev *evaluator, env *spec.Environment, data map[string]any, prov provenance.Map, origins map[string]string) (*spec.Instance, diag.List) {
	v, err := ev.fromJSON(data)
	if err != nil {
		var d diag.List
		d.Add(prov[""], "", "%v", err)
		return nil, d
	}
	var a spec.AppSpec
	if d := validate(ev, defApp, v, prov, prov[""], &a); len(d) > 0 {
		return nil, d
	}
	in := &spec.Instance{Env: env, Spec: &a, Prov: prov, Origins: origins}
	d := l.finish(in)
	if d.HasErrors() {
		return nil, d
	}
	return in, d
}

// finish completes an instance whose spec passed the schema: it resolves
// the secret stores and runs the loader's checks.
func (l *loader) finish(in *spec.Instance) diag.List {
	l.resolveStores(in.Spec, in.Env, in.Prov)
	if in.Env != nil {
		in.Namespace = in.Env.Namespaces[in.Spec.Team]
	}
	return l.check(in)
}

// checkRefs checks what an app names outside itself: its team and
// environments.
func (l *loader) checkRefs(data map[string]any, prov provenance.Map) diag.List {
	var d diag.List
	team, isString := data[pathTeam].(string)
	if _, ok := l.ws.Platform.Teams[team]; !ok && isString {
		pos, _ := prov.Lookup(pathTeam)
		d.Add(pos, pathTeam, "unknown team %q; the platform's teams are %s", team, quoteList(slices.Sorted(maps.Keys(l.ws.Platform.Teams))))
	}
	envNames := make([]string, len(l.ws.Envs))
	for i, e := range l.ws.Envs {
		envNames[i] = e.Name
	}
	if envs, ok := data[pathEnvs].([]any); ok {
		for i, e := range envs {
			if name, _ := e.(string); l.ws.Env(name) == nil {
				at := fmt.Sprintf("%s[%d]", pathEnvs, i)
				pos, _ := prov.Lookup(at)
				d.Add(pos, at, "unknown environment %q; the environments are %s", name, quoteList(envNames))
			}
		}
	}
	if o, ok := data[pathOverrides].(map[string]any); ok {
		for _, name := range slices.Sorted(maps.Keys(o)) {
			at := provenance.Join(pathOverrides, name)
			pos, _ := prov.Lookup(at)
			if l.ws.Env(name) == nil {
				d.Add(pos, at, "unknown environment %q; the environments are %s", name, quoteList(envNames))
			} else if !runsIn(data, name) {
				d.Add(pos, at, "the app does not run in environment %q (see envs)", name)
			}
		}
	}
	for _, env := range l.ws.Envs {
		if !runsIn(data, env.Name) {
			continue
		}
		if _, ok := env.Namespaces[team]; !ok && len(d) == 0 {
			pos, _ := prov.Lookup(pathTeam)
			epos, _ := l.ws.EnvProv[env.Name].Lookup("namespaces")
			d.Add(pos, pathTeam, "team %q has no namespace in environment %q; add it to namespaces in %s", team, env.Name, epos.File)
		}
	}
	return d
}

// rawRefs picks, from a value that may not pass the schema yet, what
// checkRefs needs: team, envs and the environments of overrides.
func rawRefs(raw cue.Value) map[string]any {
	out := map[string]any{}
	if s, err := raw.LookupPath(cue.ParsePath(pathTeam)).String(); err == nil {
		out[pathTeam] = s
	}
	if it, err := raw.LookupPath(cue.ParsePath(pathEnvs)).List(); err == nil {
		var envs []any
		for it.Next() {
			s, _ := it.Value().String()
			envs = append(envs, s)
		}
		out[pathEnvs] = envs
	}
	if it, err := raw.LookupPath(cue.ParsePath(pathOverrides)).Fields(); err == nil {
		o := map[string]any{}
		for it.Next() {
			o[it.Selector().Unquoted()] = map[string]any{}
		}
		out[pathOverrides] = o
	}
	return out
}

// runsIn reports whether the app runs in env: every environment unless its
// envs list says otherwise.
func runsIn(data map[string]any, env string) bool {
	envs, ok := data[pathEnvs].([]any)
	if !ok {
		return true
	}
	for _, e := range envs {
		if e == env {
			return true
		}
	}
	return false
}

// envLayer turns an environment's settings into a layer over the app's own
// settings, under the app's overrides for that environment.
// origins maps each path of the layer to the environment's own path.
func envLayer(env *spec.Environment, app, override map[string]any, eprov provenance.Map) (map[string]any, provenance.Map, map[string]string) {
	layer := map[string]any{}
	prov := provenance.Map{}
	origins := map[string]string{}
	set := func(at string, value any, from string) {
		setPath(layer, at, value)
		if pos, ok := eprov.Lookup(from); ok {
			prov.Set(at, pos)
			origins[at] = from
		}
	}
	if t, ok := app[pathTraining].(map[string]any); ok {
		if env.Training.WorkerReplicas != nil && getPath(t, "replicas.worker") != nil {
			set("training.replicas.worker.replicas", *env.Training.WorkerReplicas, "training.workerReplicas")
		}
		if env.Training.Resources != nil {
			set("training.resources", toMap(env.Training.Resources), "training.resources")
		}
	}
	if _, ok := app[pathServing].(map[string]any); ok {
		s := env.Serving
		for _, f := range []struct {
			name string
			v    *int
		}{
			{"minScale", s.MinScale}, {"maxScale", s.MaxScale}, {"target", s.Target},
			{"containerConcurrency", s.ContainerConcurrency}, {"timeoutSeconds", s.TimeoutSeconds},
		} {
			if f.v != nil {
				set("serving.autoscaling."+f.name, *f.v, "serving."+f.name)
			}
		}
		if s.Resources != nil {
			set("serving.resources", toMap(s.Resources), "serving.resources")
		}
		// A KServe service runs in the environment's deployment mode
		// unless it names its own.
		merged := merge(app, override)
		if getPath(merged, "serving.runtime") == spec.RuntimeKServe && getPath(merged, "serving.deploymentMode") == nil {
			set("serving.deploymentMode", s.DeploymentMode, "serving.deploymentMode")
		}
	}
	return layer, prov, origins
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func toMap(v any) map[string]any {
	b, _ := json.Marshal(v)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// merge returns base with over merged in: maps merge field by field, and
// everything else, lists included, is replaced.
func merge(base, over map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if om, ok := v.(map[string]any); ok {
			if bm, ok := out[k].(map[string]any); ok {
				out[k] = merge(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}

func setPath(m map[string]any, dotted string, v any) {
	keys := splitDots(dotted)
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = v
}

func getPath(m map[string]any, dotted string) any {
	var cur any = m
	for _, k := range splitDots(dotted) {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[k]
	}
	return cur
}

func splitDots(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
