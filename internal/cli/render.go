package cli

import (
	"bytes"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sync"

	"github.com/spf13/cobra"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/outdir"
	"github.com/dmls-project/dmls/internal/render"
	"github.com/dmls-project/dmls/internal/spec"
)

func renderCmd(g *globals) *cobra.Command {
	var envs, apps []string
	var out string
	var viaKustomize bool
	var cf cacheFlags
	c := &cobra.Command{
		Use:   "render",
		Short: "Render the manifests of every app and environment",
		Long: `render runs the whole pipeline: load and validate the specs, generate the
objects, lay them out as kustomize bases and overlays in memory, and build
each overlay. Overlays are built by a direct path that gives byte for byte
what kustomize builds from the committed overlay (a test holds it to that);
--via-kustomize runs the kustomize API on each overlay instead.

Output goes to stdout as one multi-document YAML stream or, with --out DIR,
to DIR/<env>/<app>.yaml (and DIR/<env>/_platform.yaml for team namespaces,
DIR/_platform/dmls-api.yaml for the API server when platform.cue asks for one,
and DIR/_platform/components/<name>.yaml for each component rendered from a
Helm chart of the workspace).
--out writes a temporary folder and renames it into place, so a failed
render leaves no partial output. DIR must not exist, be empty, or be a
folder dmls made (it holds a .dmls-output marker); anything else, and any
DIR that holds the workspace, its git work tree or the current folder, is
refused and left as it is.

Each app's result is kept in a cache (see --cache-dir), keyed by the
app's files, the platform and environment files and the dmls binary, so
that a render after a small change only builds the apps it changed. Files
go to --out as each app is ready. A progress bar shows on stderr when it is
a terminal and the render takes longer than a second.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.checkOutput("text", "yaml"); err != nil {
				return err
			}
			if len(apps) == 0 && !viaKustomize {
				if done, err := g.renderCached(cf, envs, out); done {
					return err
				}
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
			// The direct path renders from the objects: no kustomize
			// tree to lay out.
			res, err := g.generate(ws, build.Options{Apps: apps, NoLayout: !viaKustomize})
			if err != nil {
				return err
			}
			files, err := Render(ws, res, RenderOptions{Envs: envs, Platform: len(apps) == 0, ViaKustomize: viaKustomize})
			if err != nil {
				return err
			}
			if out != "" {
				return outdir.Write(out, files, outdir.Options{Workspace: g.workspace})
			}
			return writeStream(g, files)
		},
	}
	c.Flags().StringSliceVar(&envs, "env", nil, "render only these environments (repeatable)")
	c.Flags().StringSliceVar(&apps, "app", nil, "render only these apps (repeatable)")
	c.Flags().StringVar(&out, "out", "", "write DIR/<env>/<app>.yaml instead of stdout")
	cf.add(c)
	c.Flags().BoolVar(&viaKustomize, "via-kustomize", false, "build every overlay with the kustomize API, as Argo CD does, instead of the equivalent direct path (slower; the output is the same)")
	return c
}

// RenderOptions select what Render renders.
type RenderOptions struct {
	// Envs limits the environments; empty means all.
	Envs []string
	// Platform also renders each environment's platform objects as
	// <env>/_platform.yaml, the API server as _platform/dmls-api.yaml, and
	// the components dmls renders from workspace charts as
	// _platform/components/<name>.yaml.
	Platform bool
	// ViaKustomize builds each app overlay with the kustomize API instead
	// of the direct path, which gives the same bytes.
	ViaKustomize bool
	// Workers bounds the apps rendered at once; 0 means GOMAXPROCS.
	Workers int
}

// Render renders every overlay of res and returns the files,
// <env>/<app>.yaml, plus the platform's when opts.Platform is set. Apps
// render in parallel; the result does not depend on the order.
func Render(ws *spec.Workspace, res *build.Result, opts RenderOptions) (generators.Tree, error) {
	want := map[string]bool{}
	for _, e := range opts.Envs {
		want[e] = true
	}
	var envs []string
	for _, env := range ws.Envs {
		if len(want) == 0 || want[env.Name] {
			envs = append(envs, env.Name)
		}
	}
	files := generators.Tree{}
	if opts.Platform {
		pf, err := render.Platform(ws, res, envs, opts.ViaKustomize)
		if err != nil {
			return nil, err
		}
		files = pf
	}
	rendered := make([][][]byte, len(res.Apps))
	errs := make([]error, len(res.Apps))
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(workers, len(res.Apps)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				rendered[i], errs[i] = render.App(res.Apps[i], envs, opts.ViaKustomize)
			}
		}()
	}
	for i := range res.Apps {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, a := range res.Apps {
		if errs[i] != nil {
			return nil, errs[i]
		}
		for j, env := range envs {
			if y := rendered[i][j]; y != nil {
				files[appFile(env, a.App.Name)] = append(y, '\n')
			}
		}
	}
	return files, nil
}

// writeStream writes rendered files to stdout as one YAML stream, in
// file order, each headed by a comment naming it.
func writeStream(g *globals, files generators.Tree) error {
	var buf bytes.Buffer
	for _, name := range slices.Sorted(maps.Keys(files)) {
		fmt.Fprintf(&buf, "---\n# %s\n", name)
		buf.Write(files[name])
	}
	_, err := g.stdout.Write(buf.Bytes())
	return err
}

// appFile is the file of the app in env in render's output.
func appFile(env, app string) string { return env + "/" + app + ".yaml" }
