// Package layout owns every path dmls reads in a workspace and writes in a
// config repo: the workspace's spec folders, the config repos' folders, the
// folders dmls manages in each repo, and which app and environment a
// config-repo path belongs to. It imports nothing of dmls's, so that every
// other package can ask it, and a path is written in one place.
package layout

import (
	"io/fs"
	"path"
	"slices"
	"strings"
)

// Workspace paths, relative to the workspace root.
const (
	PlatformName = "platform" // platform.cue (or .yaml, .yml, .json)
	OverlaysDir  = "overlays" // overlays/<env>.cue
	AppsDir      = "apps"     // apps/<app>/*.cue
)

// SpecExts are the spec file types, in the order they are tried.
var SpecExts = []string{".cue", ".yaml", ".yml", ".json"}

// IsSpecFile reports whether name has one of SpecExts.
func IsSpecFile(name string) bool {
	ext := path.Ext(name)
	for _, e := range SpecExts {
		if ext == e {
			return true
		}
	}
	return false
}

// The config repos, by the names a platform's repos map uses.
const (
	RepoK8sConfig      = "k8s-config"
	RepoKubeflowConfig = "kubeflow-config"
	RepoInfra          = "infra"
	RepoMLModel        = "ml-model"
)

// Config-repo folders and files, relative to a repo's path prefix.
const (
	// KustomizationFile is the file kustomize reads in every folder.
	KustomizationFile = "kustomization.yaml"
	// ArgoCDDir holds the Argo CD Applications (k8s-config and
	// kubeflow-config).
	ArgoCDDir = "argocd"
	// PlatformRoot holds the per-environment platform objects and the API
	// server component (k8s-config).
	PlatformRoot = "platform"
	// ComponentsDir holds the platform components (kubeflow-config).
	ComponentsDir = "components"
	// KopsDir holds the kops manifests of the clusters (infra).
	KopsDir = "kops"
	// APIServerName is the dmls API server component's name and its folder
	// under PlatformRoot.
	APIServerName = "dmls-api"
	// APIServerDir is where the dmls API server component lives in the
	// k8s-config repo.
	APIServerDir = PlatformRoot + "/" + APIServerName
)

// ManagedDirs are the folders dmls owns in each config repo, under the
// repo's path prefix. Files there that dmls no longer generates are
// deleted; everything else in the repo is left alone. kubeflow-config is
// only published while the platform has components.
var ManagedDirs = map[string][]string{
	RepoK8sConfig:      {AppsDir, PlatformRoot, ArgoCDDir},
	RepoKubeflowConfig: {ArgoCDDir, ComponentsDir},
	RepoInfra:          {KopsDir},
}

// BaseDir is an app's kustomize base in the k8s-config repo.
func BaseDir(app string) string { return AppsDir + "/" + app + "/base" }

// OverlayDir is an app's overlay for one environment in the k8s-config repo.
func OverlayDir(app, env string) string { return AppsDir + "/" + app + "/overlays/" + env }

// PlatformDir is where an environment's platform objects (team namespaces
// and their guard rails) live in the k8s-config repo.
func PlatformDir(env string) string { return PlatformRoot + "/" + env }

// ArgoCDEnvDir is where an environment's Applications live.
func ArgoCDEnvDir(env string) string { return ArgoCDDir + "/" + env }

// ComponentDir is where a platform component lives in kubeflow-config.
func ComponentDir(name string) string { return ComponentsDir + "/" + name }

// KopsClusterDir is where a cluster's kops manifests live in infra.
func KopsClusterDir(name string) string { return KopsDir + "/" + name }

// AppOf returns the app and environment of a path in the k8s-config repo,
// relative to its path prefix: apps/<app>/overlays/<env>/... gives (app,
// env), any other path under apps/<app>/ gives (app, ""). ok is false
// for a path outside apps/.
func AppOf(rel string) (app, env string, ok bool) {
	parts := strings.Split(strings.Trim(rel, "/"), "/")
	if len(parts) < 3 || parts[0] != AppsDir || parts[1] == "" {
		return "", "", false
	}
	if len(parts) >= 4 && parts[2] == "overlays" {
		return parts[1], parts[3], true
	}
	return parts[1], "", true
}

// DirsOf returns the folders an Application's source path depends on: the
// folder itself and, for an app's overlay, its base.
func DirsOf(source string) []string {
	dir := strings.Trim(source, "/")
	dirs := []string{dir}
	if root, _, ok := strings.Cut(dir, "/overlays/"); ok {
		dirs = append(dirs, root+"/base")
	}
	return dirs
}

// IsPlatformFile reports whether name, at the workspace root, is a
// platform spec file (platform.cue, .yaml, .yml or .json).
func IsPlatformFile(name string) bool {
	return strings.HasPrefix(name, PlatformName+".") && IsSpecFile(name)
}

// SpecFiles picks the spec files of the workspace folder dir from its
// entries, the one rule of which files the loader reads: files with a spec
// extension, not hidden, sorted. A spec file that is a symlink or not a
// regular file is in refused (path → its mode), never in files: a symlink
// could lead outside the workspace.
func SpecFiles(dir string, entries []fs.DirEntry) (files []string, refused map[string]fs.FileMode) {
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || !IsSpecFile(e.Name()) {
			continue
		}
		rel := path.Join(dir, e.Name())
		if !e.Type().IsRegular() {
			if refused == nil {
				refused = map[string]fs.FileMode{}
			}
			refused[rel] = e.Type()
			continue
		}
		files = append(files, rel)
	}
	slices.Sort(files)
	return files, refused
}
