package argocdv1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Group is Argo CD's API group.
const Group = "argoproj.io"

// The kinds dmls writes.
var (
	ApplicationSchemaGroupVersionKind = schema.GroupVersionKind{Group: Group, Version: "v1alpha1", Kind: "Application"}
	AppProjectSchemaGroupVersionKind  = schema.GroupVersionKind{Group: Group, Version: "v1alpha1", Kind: "AppProject"}
)

// BackgroundPropagationPolicyFinalizer makes Argo CD delete an
// Application's resources, in the background, when it is deleted.
const BackgroundPropagationPolicyFinalizer = "resources-finalizer.argocd.argoproj.io/background"

// Annotations and their values (gitops-engine's pkg/sync/common and Argo
// CD's common).
const (
	AnnotationSyncOptions    = "argocd.argoproj.io/sync-options"
	AnnotationSyncWave       = "argocd.argoproj.io/sync-wave"
	AnnotationCompareOptions = "argocd.argoproj.io/compare-options"

	SyncOptionServerSideApply    = "ServerSideApply=true"
	SyncOptionApplyOutOfSyncOnly = "ApplyOutOfSyncOnly=true"
	SyncOptionDelete             = "Delete"
	SyncOptionPrune              = "Prune"
	SyncValueFalse               = "false"

	// ArgoCDConfigMapName is Argo CD's settings ConfigMap.
	ArgoCDConfigMapName = "argocd-cm"
)

// Application is a definition of an Application resource.
type Application struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              ApplicationSpec `json:"spec"`
}

// ApplicationSpec represents desired application state.
type ApplicationSpec struct {
	Source            *ApplicationSource     `json:"source,omitempty"`
	Destination       ApplicationDestination `json:"destination"`
	Project           string                 `json:"project"`
	SyncPolicy        *SyncPolicy            `json:"syncPolicy,omitempty"`
	IgnoreDifferences IgnoreDifferences      `json:"ignoreDifferences,omitempty"`
}

// IgnoreDifferences is the differences an Application's comparison ignores.
type IgnoreDifferences []ResourceIgnoreDifferences

// ResourceIgnoreDifferences contains resource filter and list of json
// paths which should be ignored during comparison with live state.
type ResourceIgnoreDifferences struct {
	Group                 string   `json:"group,omitempty"`
	Kind                  string   `json:"kind"`
	Name                  string   `json:"name,omitempty"`
	Namespace             string   `json:"namespace,omitempty"`
	JSONPointers          []string `json:"jsonPointers,omitempty"`
	JQPathExpressions     []string `json:"jqPathExpressions,omitempty"`
	ManagedFieldsManagers []string `json:"managedFieldsManagers,omitempty"`
}

// ApplicationSource contains all required information about the source of
// an application.
type ApplicationSource struct {
	RepoURL        string                      `json:"repoURL"`
	Path           string                      `json:"path,omitempty"`
	TargetRevision string                      `json:"targetRevision,omitempty"`
	Helm           *ApplicationSourceHelm      `json:"helm,omitempty"`
	Kustomize      *ApplicationSourceKustomize `json:"kustomize,omitempty"`
	Directory      *ApplicationSourceDirectory `json:"directory,omitempty"`
	Chart          string                      `json:"chart,omitempty"`
}

// ApplicationSourceDirectory holds options for applications of type plain
// YAML or Jsonnet.
type ApplicationSourceDirectory struct {
	Recurse bool `json:"recurse,omitempty"`
}

// ApplicationSourceHelm holds helm specific options.
type ApplicationSourceHelm struct {
	ReleaseName  string                `json:"releaseName,omitempty"`
	ValuesObject *runtime.RawExtension `json:"valuesObject,omitempty"`
}

// ApplicationSourceKustomize holds options specific to an Application
// source specific to Kustomize.
type ApplicationSourceKustomize struct {
	Patches KustomizePatches `json:"patches,omitempty"`
}

// KustomizePatches is a list of Kustomize patches.
type KustomizePatches []KustomizePatch

// KustomizePatch is a Kustomize patch.
type KustomizePatch struct {
	Path    string             `json:"path,omitempty" yaml:"path,omitempty"`
	Patch   string             `json:"patch,omitempty" yaml:"patch,omitempty"`
	Target  *KustomizeSelector `json:"target,omitempty" yaml:"target,omitempty"`
	Options map[string]bool    `json:"options,omitempty" yaml:"options,omitempty"`
}

// KustomizeSelector selects the objects a patch applies to.
type KustomizeSelector struct {
	KustomizeResId     `json:",inline,omitempty" yaml:",inline,omitempty"`
	AnnotationSelector string `json:"annotationSelector,omitempty" yaml:"annotationSelector,omitempty"`
	LabelSelector      string `json:"labelSelector,omitempty" yaml:"labelSelector,omitempty"`
}

// KustomizeResId is an object's group, version, kind, name and namespace.
type KustomizeResId struct {
	KustomizeGvk `json:",inline,omitempty" yaml:",inline,omitempty"`
	Name         string `json:"name,omitempty" yaml:"name,omitempty"`
	Namespace    string `json:"namespace,omitempty" yaml:"namespace,omitempty"`
}

// KustomizeGvk is an object's group, version and kind.
type KustomizeGvk struct {
	Group   string `json:"group,omitempty" yaml:"group,omitempty"`
	Version string `json:"version,omitempty" yaml:"version,omitempty"`
	Kind    string `json:"kind,omitempty" yaml:"kind,omitempty"`
}

// ApplicationDestination holds information about the application's
// destination.
type ApplicationDestination struct {
	Server    string `json:"server,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
}

// SyncPolicy controls when a sync will be performed in response to updates
// in git.
type SyncPolicy struct {
	Automated   *SyncPolicyAutomated `json:"automated,omitempty"`
	SyncOptions SyncOptions          `json:"syncOptions,omitempty"`
	Retry       *RetryStrategy       `json:"retry,omitempty"`
}

// SyncPolicyAutomated controls the behavior of an automated sync.
type SyncPolicyAutomated struct {
	Prune    *bool `json:"prune,omitempty"`
	SelfHeal *bool `json:"selfHeal,omitempty"`
}

// SyncOptions are the options a sync runs with.
type SyncOptions []string

// RetryStrategy contains information about the strategy to apply when a
// sync failed.
type RetryStrategy struct {
	Limit   int64    `json:"limit,omitempty"`
	Backoff *Backoff `json:"backoff,omitempty"`
}

// Backoff is the backoff strategy to use on subsequent retries for failing
// syncs.
type Backoff struct {
	Duration    string `json:"duration,omitempty"`
	Factor      *int64 `json:"factor,omitempty"`
	MaxDuration string `json:"maxDuration,omitempty"`
}

// AppProject provides a logical grouping of applications, providing
// controls for where they may deploy from and to.
type AppProject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              AppProjectSpec `json:"spec"`
}

// AppProjectSpec is the specification of an AppProject.
type AppProjectSpec struct {
	SourceRepos                []string                         `json:"sourceRepos,omitempty"`
	Destinations               []ApplicationDestination         `json:"destinations,omitempty"`
	Description                string                           `json:"description,omitempty"`
	ClusterResourceWhitelist   []ClusterResourceRestrictionItem `json:"clusterResourceWhitelist,omitempty"`
	NamespaceResourceBlacklist []metav1.GroupKind               `json:"namespaceResourceBlacklist,omitempty"`
	NamespaceResourceWhitelist []metav1.GroupKind               `json:"namespaceResourceWhitelist,omitempty"`
	ClusterResourceBlacklist   []ClusterResourceRestrictionItem `json:"clusterResourceBlacklist,omitempty"`
	SourceNamespaces           []string                         `json:"sourceNamespaces,omitempty"`
}

// ClusterResourceRestrictionItem is a cluster-scoped kind a project may
// (or may not) hold.
type ClusterResourceRestrictionItem struct {
	Group string `json:"group"`
	Kind  string `json:"kind"`
	Name  string `json:"name,omitempty"`
}
