package workspace

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"

	"cuelang.org/go/cue"

	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/internal/rules"
	"github.com/dmls-project/dmls/internal/schema"
	"github.com/dmls-project/dmls/internal/spec"
)

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func isDNSLabel(s string) bool { return len(s) <= 63 && dnsLabel.MatchString(s) }

// loadApp evaluates one app folder on its own: it needs only the platform
// and the environments, so apps load in parallel and cache by Digest.
func (l *loader) loadApp(ev *schema.Evaluator, dir string) (*spec.App, diag.List) {
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
func (l *loader) evalApp(ev *schema.Evaluator, dir string, files []string, srcs [][]byte, digest string) (*spec.App, diag.List) {
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
	if !raw.LookupPath(cue.ParsePath(spec.PathName)).Exists() {
		raw = raw.FillPath(cue.ParsePath(spec.PathName), dir)
	}
	prov := provenance.Map{}
	schema.Positions(raw, prov)
	prov.Set("", provenance.Pos{File: display[0]})

	// Types, constraints and unknown fields first, with the user's own
	// positions, together with what the app names outside itself; the
	// user's data must then be concrete.
	refs := l.checkRefs(rawRefs(raw), prov)
	checked := ev.Schema().LookupPath(schema.DefApp).Unify(raw)
	if err := checked.Validate(); err != nil {
		found := schema.FromCUE(err, schema.DefApp.String(), prov, dirPos)
		found = append(found, schema.UnknownFields(ev, schema.DefApp, raw, prov, dirPos, found)...)
		return nil, append(refs, clarifySecretErrors(found)...)
	}
	if len(refs) > 0 {
		return nil, refs
	}
	if err := raw.Validate(cue.Concrete(true)); err != nil {
		return nil, schema.FromCUE(err, "", prov, dirPos)
	}
	data, err := schema.ToData(raw)
	if err != nil {
		d.Add(dirPos, "", "%v", err)
		return nil, d
	}
	appName, _ := data[spec.PathName].(string)
	d = append(d, l.secretLiterals(appName, data, prov)...)
	app := &spec.App{Dir: dir, Files: display, Digest: digest}
	app.Name, _ = data[spec.PathName].(string)
	app.Team, _ = data[spec.PathTeam].(string)
	overrides, _ := data[spec.PathOverrides].(map[string]any)
	delete(data, spec.PathOverrides)

	var layers []envInput
	for _, env := range l.ws.Envs {
		if !spec.RunsIn(data, env.Name) {
			continue
		}
		// The environment adjusts the app's own settings; the app's
		// overrides for that environment have the last word.
		layer, lprov, origins := envLayer(env, data, asMap(overrides[env.Name]), l.ws.EnvProv[env.Name])
		in := envInput{env: env, layer: layer, touched: map[string]bool{}}
		for k := range layer {
			in.touched[k] = true
		}
		in.merged = spec.MergeOverride(data, layer)
		in.prov = prov.Clone()
		in.prov.Overlay("", lprov)
		if o, ok := overrides[env.Name].(map[string]any); ok {
			in.override = o
			for k := range o {
				in.touched[k] = true
			}
			in.merged = spec.MergeOverride(in.merged, o)
			at := provenance.Join(spec.PathOverrides, env.Name)
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
func (l *loader) instance(ev *schema.Evaluator, env *spec.Environment, data map[string]any, prov provenance.Map, origins map[string]string) (*spec.Instance, diag.List) {
	v, err := ev.FromJSON(data)
	if err != nil {
		var d diag.List
		d.Add(prov[""], "", "%v", err)
		return nil, d
	}
	var a spec.AppSpec
	if d := schema.Validate(ev, schema.DefApp, v, prov, prov[""], &a); len(d) > 0 {
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
	envs := l.ws.AppEnvs(in.Spec)
	d := rules.Release(in, envs)
	if d.HasErrors() {
		return d
	}
	resolveRelease(in, envs)
	return append(d, rules.Instance(l.ws.Platform, in)...)
}

// checkRefs checks what an app names outside itself: its team and
// environments.
func (l *loader) checkRefs(data map[string]any, prov provenance.Map) diag.List {
	var d diag.List
	team, isString := data[spec.PathTeam].(string)
	if _, ok := l.ws.Platform.Teams[team]; !ok && isString {
		pos, _ := prov.Lookup(spec.PathTeam)
		d.Add(pos, spec.PathTeam, "unknown team %q; the platform's teams are %s", team, diag.QuoteList(slices.Sorted(maps.Keys(l.ws.Platform.Teams))))
	}
	envNames := make([]string, len(l.ws.Envs))
	for i, e := range l.ws.Envs {
		envNames[i] = e.Name
	}
	if envs, ok := data[spec.PathEnvs].([]any); ok {
		for i, e := range envs {
			if name, _ := e.(string); l.ws.Env(name) == nil {
				at := fmt.Sprintf("%s[%d]", spec.PathEnvs, i)
				pos, _ := prov.Lookup(at)
				d.Add(pos, at, "unknown environment %q; the environments are %s", name, diag.QuoteList(envNames))
			}
		}
	}
	if o, ok := data[spec.PathOverrides].(map[string]any); ok {
		for _, name := range slices.Sorted(maps.Keys(o)) {
			at := provenance.Join(spec.PathOverrides, name)
			pos, _ := prov.Lookup(at)
			if l.ws.Env(name) == nil {
				d.Add(pos, at, "unknown environment %q; the environments are %s", name, diag.QuoteList(envNames))
			} else if !spec.RunsIn(data, name) {
				d.Add(pos, at, "the app does not run in environment %q (see envs)", name)
			}
		}
	}
	for _, env := range l.ws.Envs {
		if !spec.RunsIn(data, env.Name) {
			continue
		}
		if _, ok := env.Namespaces[team]; !ok && len(d) == 0 {
			pos, _ := prov.Lookup(spec.PathTeam)
			epos, _ := l.ws.EnvProv[env.Name].Lookup("namespaces")
			d.Add(pos, spec.PathTeam, "team %q has no namespace in environment %q; add it to namespaces in %s", team, env.Name, epos.File)
		}
	}
	return d
}

// rawRefs picks, from a value that may not pass the schema yet, what
// checkRefs needs: team, envs and the environments of overrides.
func rawRefs(raw cue.Value) map[string]any {
	out := map[string]any{}
	if s, err := raw.LookupPath(cue.ParsePath(spec.PathTeam)).String(); err == nil {
		out[spec.PathTeam] = s
	}
	if it, err := raw.LookupPath(cue.ParsePath(spec.PathEnvs)).List(); err == nil {
		var envs []any
		for it.Next() {
			s, _ := it.Value().String()
			envs = append(envs, s)
		}
		out[spec.PathEnvs] = envs
	}
	if it, err := raw.LookupPath(cue.ParsePath(spec.PathOverrides)).Fields(); err == nil {
		o := map[string]any{}
		for it.Next() {
			o[it.Selector().Unquoted()] = map[string]any{}
		}
		out[spec.PathOverrides] = o
	}
	return out
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
	if t, ok := app[spec.PathTraining].(map[string]any); ok {
		if env.Training.WorkerReplicas != nil && getPath(t, "replicas.worker") != nil {
			set("training.replicas.worker.replicas", *env.Training.WorkerReplicas, "training.workerReplicas")
		}
		if env.Training.Resources != nil {
			set("training.resources", toMap(env.Training.Resources), "training.resources")
		}
	}
	if _, ok := app[spec.PathServing].(map[string]any); ok {
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
		merged := spec.MergeOverride(app, override)
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
