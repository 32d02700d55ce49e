package spec

// Component is one platform component (schemas #Component), installed by
// Argo CD from the kubeflow-config repo. Exactly one of Git, Helm and
// Chart is set.
type Component struct {
	Namespace      string   `json:"namespace"`
	AlsoNamespaces []string `json:"alsoNamespaces,omitempty"`
	DependsOn      []string `json:"dependsOn,omitempty"`
	ServingIngress bool     `json:"servingIngress,omitempty"`
	KnativeServing bool     `json:"knativeServing,omitempty"`

	Git   *GitSource      `json:"git,omitempty"`
	Helm  *HelmRepoSource `json:"helm,omitempty"`
	Chart *WorkspaceChart `json:"chart,omitempty"`
}

// GitSource is an upstream folder at a pinned revision, rendered by Argo CD.
type GitSource struct {
	URL      string `json:"url"`
	Path     string `json:"path"`
	Revision string `json:"revision"`
	// Kind is "kustomize" or "directory" (plain manifests).
	Kind string `json:"kind"`
}

// Git source kinds.
const (
	GitKustomize = "kustomize"
	GitDirectory = "directory"
)

// HelmRepoSource is a chart of a chart repository, rendered by Argo CD.
type HelmRepoSource struct {
	Repo    string         `json:"repo"`
	Chart   string         `json:"chart"`
	Version string         `json:"version"`
	Values  map[string]any `json:"values,omitempty"`
}

// WorkspaceChart is a chart inside the workspace, rendered by dmls.
type WorkspaceChart struct {
	// Path is the chart folder or .tgz, relative to the workspace root.
	Path    string         `json:"path"`
	Values  map[string]any `json:"values,omitempty"`
	Release string         `json:"release,omitempty"`
}
