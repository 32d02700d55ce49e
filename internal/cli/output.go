package cli

import (
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
