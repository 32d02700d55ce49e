package cli

import (
	"bytes"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/generators/components"
	"github.com/dmls-project/dmls/generators/kustomize"
	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/outdir"
	"github.com/dmls-project/dmls/internal/render"
	"github.com/dmls-project/dmls/internal/workspace"
)

// PlatformRenderName is the rendered file of an environment's platform
// objects; app names cannot start with '_', so it never clashes.
const PlatformRenderName = "_platform"

func renderCmd(g *globals) *cobra.Command {
	var envs, apps []string
	var out string
	c := &cobra.Command{
		Use:   "render",
		Short: "Render the manifests of every app and environment",
		Long: `render runs the whole pipeline: load and validate the specs, generate the
objects, lay them out as kustomize bases and overlays in memory, and build
each overlay in-process with kustomize.

Output goes to stdout as one multi-document YAML stream or, with --out DIR,
to DIR/<env>/<app>.yaml (and DIR/<env>/_platform.yaml for team namespaces,
DIR/_platform/dmls-api.yaml for the API server when platform.cue asks for one,
and DIR/_platform/components/<name>.yaml for each component rendered from a
Helm chart of the workspace).
--out writes a temporary folder and renames it into place, so a failed
render leaves no partial output.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.checkOutput("text", "yaml"); err != nil {
				return err
			}
			ws, err := g.load()
			if err != nil {
				return err
			}
			for _, e := range envs {
				if ws.Env(e) == nil {
					return usageError{fmt.Errorf("--env %s: no such environment", e)}
				}
			}
			res, err := build.Workspace(ws, build.Options{Apps: apps})
			if err != nil {
				return err
			}
			files, err := Render(ws, res, envs, len(apps) == 0)
			if err != nil {
				return err
			}
			if out != "" {
				return outdir.Write(out, files)
			}
			return writeStream(g, files)
		},
	}
	c.Flags().StringSliceVar(&envs, "env", nil, "render only these environments (repeatable)")
	c.Flags().StringSliceVar(&apps, "app", nil, "render only these apps (repeatable)")
	c.Flags().StringVar(&out, "out", "", "write DIR/<env>/<app>.yaml instead of stdout")
	return c
}

// Render builds every overlay of res with kustomize and returns the
// rendered files, <env>/<app>.yaml. With platform set it also renders each
// environment's platform objects as <env>/_platform.yaml, the API server
// as _platform/dmls-api.yaml, and the components dmls renders from
// workspace charts as _platform/components/<name>.yaml.
func Render(ws *workspace.Workspace, res *build.Result, envs []string, platform bool) (generators.Tree, error) {
	want := map[string]bool{}
	for _, e := range envs {
		want[e] = true
	}
	files := generators.Tree{}
	if _, ok := res.Platform[build.APIServerDir+"/"+kustomize.KustomizationFile]; ok && platform {
		y, err := render.Build(res.Platform, build.APIServerDir)
		if err != nil {
			return nil, err
		}
		files[PlatformRenderName+"/dmls-api.yaml"] = append(y, '\n')
	}
	if platform && res.Kubeflow != nil {
		// The manifests dmls renders from workspace charts, as committed
		// to kubeflow-config.
		for _, name := range generators.SortedKeys(ws.Platform.Components) {
			dir := components.ComponentDir(name)
			if _, ok := res.Kubeflow[dir+"/"+kustomize.KustomizationFile]; !ok {
				continue
			}
			y, err := render.Build(res.Kubeflow, dir)
			if err != nil {
				return nil, err
			}
			files[PlatformRenderName+"/"+dir+".yaml"] = append(y, '\n')
		}
	}
	for _, env := range ws.Envs {
		if len(want) > 0 && !want[env.Name] {
			continue
		}
		if platform {
			y, err := render.Build(res.Platform, build.PlatformDir(env.Name))
			if err != nil {
				return nil, err
			}
			files[env.Name+"/"+PlatformRenderName+".yaml"] = append(y, '\n')
		}
		for _, a := range res.Apps {
			if a.App.Instance(env.Name) == nil {
				continue
			}
			y, err := render.Build(a.Tree, kustomize.OverlayDir(a.App.Name, env.Name))
			if err != nil {
				return nil, err
			}
			files[env.Name+"/"+a.App.Name+".yaml"] = append(y, '\n')
		}
	}
	return files, nil
}

// writeStream writes rendered files to stdout as one YAML stream, in
// file order, each headed by a comment naming it.
func writeStream(g *globals, files generators.Tree) error {
	var buf bytes.Buffer
	for _, name := range generators.SortedKeys(files) {
		fmt.Fprintf(&buf, "---\n# %s\n", name)
		buf.Write(files[name])
	}
	_, err := g.stdout.Write(buf.Bytes())
	return err
}
