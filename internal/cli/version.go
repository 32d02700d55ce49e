package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Version is set at build time with -ldflags "-X .../internal/cli.Version=v1.2.3".
var Version = ""

func versionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the dmls version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := Version
			if v == "" {
				v = "(devel)"
				if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
					v = bi.Main.Version
				}
			}
			info := map[string]string{"version": v, "go": runtime.Version()}
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
