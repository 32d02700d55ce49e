package rules

import (
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/internal/spec"
)

// secretNames are the Secrets an app may reference: its own, the
// platform's and the platform's existing ones.
func secretNames(a *spec.AppSpec, p *spec.Platform) map[string]bool {
	ok := map[string]bool{}
	for n := range a.Secrets {
		ok[n] = true
	}
	for n := range p.Secrets {
		ok[n] = true
	}
	for _, n := range p.ExistingSecrets {
		ok[n] = true
	}
	return ok
}

// secrets checks an app's references to Secrets and its ExternalSecrets.
func (c *checker) secrets(a *spec.AppSpec) {
	p := c.p
	known := secretNames(a, p)
	names := make([]string, 0, len(known))
	for n := range known {
		names = append(names, n)
	}
	sort.Strings(names)
	undeclared := func(at, name string) {
		c.add(at, "secret %q is not declared: declare it under secrets (an ExternalSecret from the store), or, for a Secret made outside dmls, ask the platform team to list it in existingSecrets in platform.cue; the app may use %s", name, diag.QuoteList(names))
	}
	container := func(at string, env map[string]spec.EnvValue, envFrom []spec.EnvSource) {
		for _, k := range slices.Sorted(maps.Keys(env)) {
			v := env[k]
			vat := provenance.Join(at, spec.PathEnv, k)
			if v.SecretRef != nil && v.ConfigMapRef != nil {
				c.add(vat, "set secretRef or configMapRef, not both")
				continue
			}
			if v.IsEmptyRef() {
				c.add(vat, "a reference needs secretRef: {name, key} or configMapRef: {name, key}")
				continue
			}
			if !v.IsLiteral() && v.Value != "" {
				c.add(vat, "a value is a string or a reference, not both")
			}
			if r := v.SecretRef; r != nil && !known[r.Name] {
				undeclared(vat+".secretRef.name", r.Name)
			}
		}
		for i, s := range envFrom {
			sat := fmt.Sprintf("%s.%s[%d]", at, spec.PathEnvFrom, i)
			switch {
			case s.SecretRef == nil && s.ConfigMapRef == nil:
				c.add(sat, "set secretRef: {name: ...} or configMapRef: {name: ...}")
			case s.SecretRef != nil && s.ConfigMapRef != nil:
				c.add(sat, "set secretRef or configMapRef, not both; use one list entry each")
			case s.SecretRef != nil && !known[s.SecretRef.Name]:
				undeclared(sat+".secretRef.name", s.SecretRef.Name)
			}
		}
	}
	if t := a.Training; t != nil {
		container(spec.PathTraining, t.Env, t.EnvFrom)
		if in := t.Initializer; in != nil {
			for _, x := range []struct {
				name string
				in   *spec.Initializer
			}{{"dataset", in.Dataset}, {"model", in.Model}} {
				if x.in == nil {
					continue
				}
				at := spec.PathTraining + ".initializer." + x.name
				container(at, x.in.Env, nil)
				if r := x.in.SecretRef; r != "" && !known[r] {
					undeclared(at+".secretRef", r)
				}
			}
		}
		for _, role := range spec.Roles {
			if rs := t.Replicas.Get(role); rs != nil {
				container(spec.PathTraining+".replicas."+role, rs.Env, rs.EnvFrom)
			}
		}
	}
	if s := a.Serving; s != nil {
		container(spec.PathServing, s.Env, s.EnvFrom)
		if t := s.Transformer; t != nil {
			container(spec.PathServing+".transformer", t.Env, t.EnvFrom)
		}
	}
	existing := map[string]bool{}
	for _, n := range p.ExistingSecrets {
		existing[n] = true
	}
	for _, name := range slices.Sorted(maps.Keys(a.Secrets)) {
		at := provenance.Join(spec.PathSecrets, name)
		s := a.Secrets[name]
		if _, ok := p.Secrets[name]; ok {
			c.add(at, "the platform already makes secret %q in every team namespace; reference it, or give the app's secret another name", name)
		}
		if existing[name] {
			c.add(at, "secret %q exists already (existingSecrets in platform.cue); reference it, or give the app's secret another name", name)
		}
		ExternalSecret(c.add, at, s)
		if c.in.Env != nil && s.Store == nil {
			c.add(at, "no secret store for secret %q in environment %s: set secretStore in platform.cue or in overlays/%s.cue, or store: {name, kind} here", name, c.in.Env.Name, c.in.Env.Name)
		}
	}
}

// ExternalSecret checks what the schema cannot: an ExternalSecret
// takes data or extract.
func ExternalSecret(add func(at, format string, args ...any), at string, s spec.ExternalSecret) {
	if len(s.Data) == 0 && s.Extract == nil {
		add(at, "an external secret needs data (Secret keys from store entries, e.g. data: password: key: \"ml/db\") or extract (every property of one entry)")
	}
}
