package workspace

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/internal/secrets"
	"github.com/dmls-project/dmls/internal/spec"
)

// secretLiterals finds secret-looking literals anywhere in an app's own
// data (overrides included) and reports each once, at the line that wrote
// it, as the environments' policy.secretLiterals says: an error when an
// environment that gets the value refuses secret literals, else a warning.
func (l *loader) secretLiterals(app string, data map[string]any, prov provenance.Map) diag.List {
	var d diag.List
	var walk func(at, name string, v any)
	walk = func(at, name string, v any) {
		switch x := v.(type) {
		case string:
			f, ok := secrets.Literal(name, x)
			if !ok {
				return
			}
			pos, _ := prov.Lookup(at)
			sev, note := l.secretPolicy(data, at)
			d = append(d, diag.Diagnostic{
				Pos: pos, Path: at, Severity: sev, Rule: secrets.Rule,
				Message: fmt.Sprintf("%s in a literal, and specs are committed to git in plain text; %s%s", f.Kind, suggestRef(app, at, f.Name, data), note),
			})
		case map[string]any:
			// A reference ({secretRef: {name, key}}, an envFrom entry),
			// not a value. A TrainJob initializer names its Secret with a
			// string secretRef beside values that are still walked.
			if _, ok := x["secretRef"].(map[string]any); ok {
				return
			}
			if _, ok := x["configMapRef"].(map[string]any); ok {
				return
			}
			for _, k := range slices.Sorted(maps.Keys(x)) {
				walk(provenance.Join(at, k), k, x[k])
			}
		case []any:
			prev := ""
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", at, i), prev, e)
				prev = ""
				if s, ok := e.(string); ok {
					prev = secrets.FlagName(s)
				}
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(data)) {
		switch k {
		case spec.PathName, spec.PathTeam, spec.PathEnvs, spec.PathSecrets:
			continue
		case spec.PathOverrides:
			o, _ := data[k].(map[string]any)
			for _, env := range slices.Sorted(maps.Keys(o)) {
				ov, _ := o[env].(map[string]any)
				for _, f := range slices.Sorted(maps.Keys(ov)) {
					if f != spec.PathSecrets {
						walk(provenance.Join(spec.PathOverrides, env, f), f, ov[f])
					}
				}
			}
			continue
		}
		walk(k, k, data[k])
	}
	return d
}

// secretPolicy returns the severity of a secret literal at spec path at,
// and a note saying which environments' policy made it so.
func (l *loader) secretPolicy(data map[string]any, at string) (diag.Severity, string) {
	var envs []*spec.Environment
	if rest, ok := strings.CutPrefix(at, spec.PathOverrides+"."); ok {
		name, _, _ := strings.Cut(rest, ".")
		if e := l.ws.Env(name); e != nil {
			envs = append(envs, e)
		}
	} else {
		for _, e := range l.ws.Envs {
			if spec.RunsIn(data, e.Name) {
				envs = append(envs, e)
			}
		}
	}
	var refuse, warn []string
	for _, e := range envs {
		if e.Policy.SecretLiterals == spec.PolicyWarn {
			warn = append(warn, e.Name)
		} else {
			refuse = append(refuse, e.Name)
		}
	}
	if len(refuse) > 0 || len(envs) == 0 {
		if len(refuse) == 0 {
			return diag.SeverityError, ""
		}
		return diag.SeverityError, fmt.Sprintf(" (refused by policy.secretLiterals in %s %s)", plural(len(refuse), "environment", "environments"), strings.Join(refuse, ", "))
	}
	return diag.SeverityWarning, fmt.Sprintf(" (only a warning: policy.secretLiterals is \"warn\" in %s %s)", plural(len(warn), "environment", "environments"), strings.Join(warn, ", "))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// suggestRef shows the secretRef form that replaces a literal at path at.
func suggestRef(app, at, name string, data map[string]any) string {
	secret := app + "-secrets"
	if s, ok := data[spec.PathSecrets].(map[string]any); ok && len(s) == 1 {
		for k := range s {
			secret = k
		}
	}
	parts := strings.Split(at, ".")
	parent := ""
	if len(parts) >= 2 {
		parent = parts[len(parts)-2]
	}
	variable := strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(name))
	if !isEnvVarName(variable) {
		variable = "SECRET_VALUE"
	}
	ref := fmt.Sprintf("secretRef: {name: %q, key: %q}", secret, secrets.Suggest(variable))
	declare := fmt.Sprintf("and declare %q under secrets (an ExternalSecret from the store)", secret)
	container := containerOf(at)
	switch {
	case parent == spec.PathEnv:
		return fmt.Sprintf("reference a Secret instead: %s: %s, %s", variable, ref, declare)
	case strings.Contains(parts[len(parts)-1], "["): // args, command
		return fmt.Sprintf("take it from a Secret instead: set %s.env.%s: %s, write \"$(%s)\" in its place, %s", container, variable, ref, variable, declare)
	default:
		return fmt.Sprintf("take it from a Secret through env instead: %s.env.%s: %s, %s", container, variable, ref, declare)
	}
}

// containerOf returns the spec path of the container settings that hold
// spec path at: training, a replica set, or serving.
func containerOf(at string) string {
	parts := strings.Split(at, ".")
	for i, p := range parts {
		if p == spec.PathTraining || p == spec.PathServing {
			if p == spec.PathTraining && i+2 < len(parts) && parts[i+1] == "replicas" {
				return strings.Join(parts[:i+3], ".")
			}
			return strings.Join(parts[:i+1], ".")
		}
	}
	return spec.PathTraining
}

func isEnvVarName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// resolveStores fills in the store of each of the app's ExternalSecrets
// that names none: the environment's secretStore, else the platform's. The
// provenance of the filled-in store points at where it was set.
func (l *loader) resolveStores(a *spec.AppSpec, env *spec.Environment, prov provenance.Map) {
	for _, name := range slices.Sorted(maps.Keys(a.Secrets)) {
		s := a.Secrets[name]
		if s.Store != nil {
			continue
		}
		at := provenance.Join(spec.PathSecrets, name, "store")
		switch {
		case env != nil && env.SecretStore != nil:
			s.Store = env.SecretStore
			if pos, ok := l.ws.EnvProv[env.Name].Lookup("secretStore"); ok {
				prov.Set(at, pos)
			}
		case l.ws.Platform.SecretStore != nil:
			s.Store = l.ws.Platform.SecretStore
			if pos, ok := l.ws.PlatformProv.Lookup("secretStore"); ok {
				prov.Set(at, pos)
			}
		}
		a.Secrets[name] = s
	}
}

var (
	envValuePath  = regexp.MustCompile(`(^|\.)(env)\.[A-Za-z_][A-Za-z0-9_]*$`)
	secretKeyPath = regexp.MustCompile(`(^|\.)secrets\.[^.]+\.data\.(.+)$`)
	badValue      = regexp.MustCompile(`^(?:conflicting values|invalid value) (.+?) (?:and|\()`)
)

// clarifySecretErrors rewrites CUE's findings on the secret-related
// fields into what a person can act on: an env value that is neither a
// string nor a reference gets one finding, not one per alternative of the
// disjunction, and a bad Secret key says what is valid.
func clarifySecretErrors(found diag.List) diag.List {
	out := found[:0:0]
	seen := map[string]bool{}
	for _, d := range found {
		switch {
		case envValuePath.MatchString(d.Path) && strings.Contains(d.Message, "mismatched types"):
			if seen[d.Path] {
				continue
			}
			seen[d.Path] = true
			if strings.Contains(d.Message, "mismatched types struct and string") && hasFindingUnder(found, d.Path) {
				continue // a reference, and the finding inside it says what is wrong
			}
			got := ""
			if m := badValue.FindStringSubmatch(d.Message); m != nil && !strings.HasPrefix(m[1], "{") {
				got = "; got " + m[1]
			}
			d.Message = `a value is a string, or secretRef: {name, key} (a Secret's key), or configMapRef: {name, key} (a ConfigMap's key)` + got
		case secretKeyPath.MatchString(d.Path) && strings.Contains(d.Message, "field not allowed"):
			m := secretKeyPath.FindStringSubmatch(d.Path)
			d.Message = fmt.Sprintf("%q is not a valid Secret key: use letters, digits, '-', '_' and '.'", m[2])
		}
		out = append(out, d)
	}
	return out
}

func hasFindingUnder(found diag.List, path string) bool {
	for _, d := range found {
		if strings.HasPrefix(d.Path, path+".") {
			return true
		}
	}
	return false
}
