package cli

import (
	"sort"

	"sigs.k8s.io/yaml"
)

// silentExit ends a command with a code after it printed its own report.
type silentExit struct{ code int }

func (e silentExit) Error() string { return "exit" }

// printYAML writes v as YAML.
func (g *globals) printYAML(v any) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	_, err = g.stdout.Write(b)
	return err
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
