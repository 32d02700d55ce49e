package cli

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/dmls-project/dmls/internal/scaffold"
)

func initCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "init [DIR]",
		Short: "Scaffold a new workspace",
		Long: `init writes a new workspace into DIR (default: the current folder): a
platform, the dev, staging and prod environments and one example app. It
validates and renders as written, and never overwrites a file.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			files, err := scaffold.Write(dir)
			if err != nil {
				return err
			}
			for _, f := range files {
				fmt.Fprintln(g.stdout, filepath.Join(dir, filepath.FromSlash(f)))
			}
			fmt.Fprintf(g.stdout, "Next: dmls validate -w %s && dmls render -w %s\n", dir, dir)
			return nil
		},
	}
}
