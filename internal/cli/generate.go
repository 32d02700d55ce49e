package cli

import (
	"fmt"
	"maps"
	"slices"

	"github.com/spf13/cobra"

	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/outdir"
)

func generateCmd(g *globals) *cobra.Command {
	var out string
	var cf cacheFlags
	c := &cobra.Command{
		Use:   "generate --out DIR",
		Short: "Write the GitOps tree of every config repo",
		Long: `generate writes DIR/<repo>/..., one folder per config repo of platform.cue,
as publish would commit them. The k8s-config repo gets apps/<app>/base and
apps/<app>/overlays/<env>, each with a kustomization.yaml, and
platform/<env> with the team namespaces and quotas.

DIR is replaced as a whole, and only if it does not exist, is empty, or is
a folder dmls made (it holds a .dmls-output marker); anything else is
refused and left as it is. Each app's result comes from the cache when
it can (see --cache-dir and render --help).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageError{fmt.Errorf("--out DIR is required")}
			}
			if done, err := g.generateCached(cf, out); done {
				return err
			}
			ws, res, err := g.build(build.Options{})
			if err != nil {
				return err
			}
			repos := res.Repos(ws.Platform)
			all := map[string][]byte{}
			for name, tree := range repos {
				for p, b := range tree {
					all[name+"/"+p] = b
				}
			}
			if err := outdir.Write(out, all, outdir.Options{Workspace: g.workspace}); err != nil {
				return err
			}
			for _, name := range slices.Sorted(maps.Keys(repos)) {
				fmt.Fprintf(g.stdout, "%s/%s: %d files\n", out, name, len(repos[name]))
			}
			return nil
		},
	}
	c.Flags().StringVar(&out, "out", "", "output folder (replaced as a whole)")
	cf.add(c)
	return c
}
