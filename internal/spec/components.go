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
	// Trainer marks the Kubeflow Trainer v2 install.
	Trainer *TrainerComponent `json:"trainer,omitempty"`
	// Kueue marks the Kueue install.
	Kueue *KueueComponent `json:"kueue,omitempty"`

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

// TrainerComponent is what dmls knows of a Trainer v2 install: the
// ClusterTrainingRuntimes it installs.
type TrainerComponent struct {
	Runtimes []string `json:"runtimes"`
}

// KueueComponent is what dmls knows of a Kueue install.
type KueueComponent struct {
	// Version, when set, is Kueue's release; else the helm chart's.
	Version string `json:"version,omitempty"`
}
