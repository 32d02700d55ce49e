package cli

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/dmls-project/dmls/internal/outdir"
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
			// Not into git's own files, as generate --out refuses them.
			if abs, err := outdir.Resolve(dir); err == nil && outdir.InGitDir(abs) {
				return usageError{fmt.Errorf("refusing to write a workspace into %s: it is inside a .git folder; give a folder of the work tree", dir)}
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
