package render

import (
	"maps"
	"slices"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/kbuild"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/spec"
)

// The rendered files of a workspace, as `dmls render` writes them and the
// cache keeps them: <env>/<app>.yaml for an app, <env>/_platform.yaml for
// an environment's platform objects, _platform/dmls-api.yaml for the API
// server and _platform/components/<name>.yaml for a component rendered
// from a workspace chart.
const PlatformName = "_platform"

// AppFile is the rendered file of an app in env.
func AppFile(env, app string) string { return env + "/" + app + ".yaml" }

// PlatformEnvFile is the rendered file of env's platform objects.
func PlatformEnvFile(env string) string { return env + "/" + PlatformName + ".yaml" }

// APIServerFile is the rendered file of the dmls API server component.
const APIServerFile = PlatformName + "/" + layout.APIServerName + ".yaml"

// ComponentFile is the rendered file of a platform component.
func ComponentFile(name string) string {
	return PlatformName + "/" + layout.ComponentDir(name) + ".yaml"
}

// App renders a built app in each of envs, directly from its objects
// (build.App.Render, byte for byte what kustomize builds) unless
// viaKustomize; an environment the app does not run in gives nil.
func App(a *build.App, envs []string, viaKustomize bool) ([][]byte, error) {
	out := make([][]byte, len(envs))
	for j, env := range envs {
		if a.App.Instance(env) == nil {
			continue
		}
		var y []byte
		var err error
		if viaKustomize {
			y, err = kbuild.Build(a.Tree, layout.OverlayDir(a.App.Name, env))
		} else {
			y, _, err = a.Render(env)
		}
		if err != nil {
			return nil, err
		}
		out[j] = y
	}
	return out, nil
}

// AppFiles renders a built app in every environment it runs in, each
// file ending in a newline: what the cache keeps of it, by environment.
func AppFiles(a *build.App) (map[string][]byte, error) {
	envs := make([]string, len(a.App.Envs))
	for i, in := range a.App.Envs {
		envs[i] = in.Env.Name
	}
	out, err := App(a, envs, false)
	if err != nil {
		return nil, err
	}
	files := make(map[string][]byte, len(envs))
	for i, env := range envs {
		files[env] = append(out[i], '\n')
	}
	return files, nil
}

// Platform renders the platform's files of res in envs (nil: every
// environment of ws): PlatformEnvFile of each, APIServerFile when the
// platform has an API server, and ComponentFile of each component dmls
// renders from a workspace chart. The platform folders are built directly
// (build.Result.RenderPlatform) unless viaKustomize.
func Platform(ws *spec.Workspace, res *build.Result, envs []string, viaKustomize bool) (generators.Tree, error) {
	if envs == nil {
		for _, env := range ws.Envs {
			envs = append(envs, env.Name)
		}
	}
	files := generators.Tree{}
	if HasAPIServer(res) {
		y, err := PlatformDir(res, layout.APIServerDir, viaKustomize)
		if err != nil {
			return nil, err
		}
		files[APIServerFile] = append(y, '\n')
	}
	if res.Kubeflow != nil {
		// The manifests dmls renders from workspace charts, as committed
		// to kubeflow-config.
		for _, name := range slices.Sorted(maps.Keys(ws.Platform.Components)) {
			dir := layout.ComponentDir(name)
			if _, ok := res.Kubeflow[dir+"/"+layout.KustomizationFile]; !ok {
				continue
			}
			y, err := kbuild.Build(res.Kubeflow, dir)
			if err != nil {
				return nil, err
			}
			files[ComponentFile(name)] = append(y, '\n')
		}
	}
	for _, env := range envs {
		y, err := PlatformDir(res, layout.PlatformDir(env), viaKustomize)
		if err != nil {
			return nil, err
		}
		files[PlatformEnvFile(env)] = append(y, '\n')
	}
	return files, nil
}

// HasAPIServer reports whether res lays out the dmls API server component.
func HasAPIServer(res *build.Result) bool {
	_, ok := res.Platform[layout.APIServerDir+"/"+layout.KustomizationFile]
	return ok
}

// PlatformDir renders the platform folder dir of res: directly, when res
// has its objects and not viaKustomize (byte for byte the same), else with
// the kustomize API.
func PlatformDir(res *build.Result, dir string, viaKustomize bool) ([]byte, error) {
	if !viaKustomize {
		if y, ok, err := res.RenderPlatform(dir); ok || err != nil {
			return y, err
		}
	}
	return kbuild.Build(res.Platform, dir)
}
