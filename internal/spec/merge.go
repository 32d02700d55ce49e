package spec

import "slices"

// MergeOverride returns base with over merged in, the one rule by which an
// app's overrides.<env> (and an environment's settings) apply to the app's
// own settings: maps merge field by field, and everything else, lists
// included, is replaced. It shares values with its arguments.
func MergeOverride(base, over map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if om, ok := v.(map[string]any); ok {
			if bm, ok := out[k].(map[string]any); ok {
				out[k] = MergeOverride(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// RunsIn reports whether the app whose spec data (as written, before any
// environment applies) is data runs in env: every environment unless its
// envs list says otherwise. The loader and the API's spec operations both
// ask it.
func RunsIn(data map[string]any, env string) bool {
	envs, ok := data[PathEnvs].([]any)
	if !ok {
		return true
	}
	return slices.Contains(envs, any(env))
}
