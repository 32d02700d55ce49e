package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/dmls-project/dmls/internal/support"
)

// Version is set at build time with -ldflags "-X .../internal/cli.Version=v1.2.3".
var Version = ""

func versionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the dmls version (-o json or yaml: with the support matrix)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := version()
			info := struct {
				Version string         `json:"version"`
				Go      string         `json:"go"`
				Support support.Matrix `json:"support"`
			}{v, runtime.Version(), support.Current}
			switch g.output {
			case "json":
				return g.printJSON(info)
			case "yaml":
				return g.printYAML(info)
			}
			fmt.Fprintf(g.stdout, "dmls %s (%s)\n", v, runtime.Version())
			return nil
		},
	}
}

// version is the running dmls's version: the one set at build time, else
// the module's (go install ...@v1.2.3), else (devel).
func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
