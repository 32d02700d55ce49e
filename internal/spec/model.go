package spec

import (
	"sort"
	"strings"

	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/provenance"
)

// This file is the model that the loader (internal/workspace) makes and
// every later step reads: a workspace of apps, each app in each
// environment it runs in, with the provenance of every field.

// ChartFile is one file of a workspace chart: its slash-separated path
// under the chart root and its bytes.
type ChartFile struct {
	Name string
	Data []byte
}

// ChartFiles is a chart read into memory.
type ChartFiles []ChartFile

// Workspace is a loaded, valid workspace.
type Workspace struct {
	// Root is the workspace folder as the user named it; file positions in
	// findings are under it.
	Root         string
	Platform     *Platform
	PlatformProv provenance.Map
	// Envs are sorted by their order, then name.
	Envs    []*Environment
	EnvProv map[string]provenance.Map
	// Apps are sorted by name.
	Apps []*App
	// Digest identifies the platform, environments and schemas; an app's
	// own Digest includes it, so it is a complete cache key.
	Digest string
	// Charts are the files of the platform components' workspace charts,
	// by component, read with helmrender's safety rules.
	Charts map[string]ChartFiles
	// Warnings are the findings that do not fail the load, from every
	// file, sorted. Errors come back from Load as a diag.List.
	Warnings diag.List
}

// App is one app, evaluated on its own.
type App struct {
	Name string
	Team string
	// Dir is the app folder's name under apps/.
	Dir   string
	Files []string
	// Base is the app without any environment's settings: what the
	// kustomize base holds.
	Base *Instance
	// Envs are the app in each environment it runs in, in environment order.
	Envs []*Instance
	// Digest is a hash of everything the app's output depends on.
	Digest string
	// Warnings are the app's findings that do not fail it; they are kept
	// with the app so that a cached app reports them again.
	Warnings diag.List
}

// TrainingJob is the app's training job: the base's, or else the first
// environment's (an app whose release policy trains in one environment
// has none in its base); nil when the app trains nowhere.
func (a *App) TrainingJob() *TrainingJob {
	if a.Base.Spec.Training != nil {
		return a.Base.Spec.Training
	}
	for _, in := range a.Envs {
		if in.Spec.Training != nil {
			return in.Spec.Training
		}
	}
	return nil
}

// ModelService is the app's model service: the base's, or else the first
// environment's (a model from training serves only where a run is set,
// usually in overrides); nil when the app serves nowhere.
func (a *App) ModelService() *ModelService {
	if a.Base.Spec.Serving != nil {
		return a.Base.Spec.Serving
	}
	for _, in := range a.Envs {
		if in.Spec.Serving != nil {
			return in.Spec.Serving
		}
	}
	return nil
}

// Instance is an app as it runs in one environment.
type Instance struct {
	// Env is nil for the base.
	Env       *Environment
	Namespace string
	Spec      *AppSpec
	// Prov maps spec paths of Spec to where they were written.
	Prov provenance.Map
	// Origins maps the paths of Spec that an environment or an override
	// set to the paths as written there (overrides.prod.training...).
	Origins map[string]string
}

// Locate returns where the value at path of the instance's spec was
// written, and the path as written there: a value that the app's
// overrides set is named by the override's own path
// (overrides.staging.serving.traffic.stable), one that the environment
// set by the environment's (training.workerReplicas in overlays/prod.cue).
func (in *Instance) Locate(path string) (provenance.Pos, string) {
	pos, _ := in.Prov.Lookup(path)
	for p := path; ; {
		if _, ok := in.Prov[p]; ok {
			if src, ok := in.Origins[p]; ok {
				return pos, src + path[len(p):]
			}
			return pos, path
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			return pos, path
		}
		p = p[:i]
	}
}

// Env returns the environment named name, or nil.
func (w *Workspace) Env(name string) *Environment {
	for _, e := range w.Envs {
		if e.Name == name {
			return e
		}
	}
	return nil
}

// App returns the app named name, or nil.
func (w *Workspace) App(name string) *App {
	i := sort.Search(len(w.Apps), func(i int) bool { return w.Apps[i].Name >= name })
	if i < len(w.Apps) && w.Apps[i].Name == name {
		return w.Apps[i]
	}
	return nil
}

// Instance returns the app in environment env, or nil if it does not run there.
func (a *App) Instance(env string) *Instance {
	for _, in := range a.Envs {
		if in.Env.Name == env {
			return in
		}
	}
	return nil
}
