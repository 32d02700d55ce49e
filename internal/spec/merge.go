package spec

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
