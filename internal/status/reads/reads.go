// Package reads lists what dmls's live status reads from a cluster: the
// kinds, where and with which verbs. The status reader (internal/status/kube)
// and the Roles of dmls serve (generators/apiserver) both use this one list.
package reads

import "k8s.io/apimachinery/pkg/runtime/schema"

// Scope says in which namespaces a resource is read.
type Scope int

// Scopes of Resources.
const (
	// TeamNamespaces are the namespaces of the teams in each environment.
	TeamNamespaces Scope = iota
	// ArgoCDNamespace is the namespace of Argo CD on the platform cluster.
	ArgoCDNamespace
)

// Resource is a kind whose status is read.
type Resource struct {
	GVR   schema.GroupVersionResource
	Kind  string
	Scope Scope
	// Verbs, when set, are what the reader does with this resource
	// instead of Verbs: a Workload is listed by its job's label and
	// watched, never got by name; a LocalQueue's pending workloads are
	// got.
	Verbs []string
}

// VerbsOf returns what the reader does with r.
func VerbsOf(r Resource) []string {
	if r.Verbs != nil {
		return r.Verbs
	}
	return Verbs
}

// Kinds whose status is read.
const (
	KindApplication = "Application"
	KindTFJob       = "TFJob"
	KindTrainJob    = "TrainJob"
	// KindWorkload is Kueue's Workload of a queued job, and
	// KindPendingWorkloads the pending workloads of a LocalQueue in
	// Kueue's visibility API, which knows a workload's position.
	KindWorkload         = "Workload"
	KindPendingWorkloads = "PendingWorkloads"
	KindKnativeService   = "Service"
	KindInferenceService = "InferenceService"
)

// Resources are all that the status reader (internal/status/kube) ever
// reads, and Verbs all it does with them. The Roles of dmls serve are
// generated from these two (generators/apiserver), and a test checks what
// the reader requests against those Roles.
var (
	Resources = []Resource{
		{GVR: schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}, Kind: KindApplication, Scope: ArgoCDNamespace},
		{GVR: schema.GroupVersionResource{Group: "kubeflow.org", Version: "v1", Resource: "tfjobs"}, Kind: KindTFJob, Scope: TeamNamespaces},
		{GVR: schema.GroupVersionResource{Group: "trainer.kubeflow.org", Version: "v1alpha1", Resource: "trainjobs"}, Kind: KindTrainJob, Scope: TeamNamespaces},
		{GVR: schema.GroupVersionResource{Group: "kueue.x-k8s.io", Version: "v1beta2", Resource: "workloads"}, Kind: KindWorkload, Scope: TeamNamespaces, Verbs: []string{"list", "watch"}},
		{GVR: schema.GroupVersionResource{Group: "visibility.kueue.x-k8s.io", Version: "v1beta2", Resource: "localqueues/pendingworkloads"}, Kind: KindPendingWorkloads, Scope: TeamNamespaces, Verbs: []string{"get"}},
		{GVR: schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "services"}, Kind: KindKnativeService, Scope: TeamNamespaces},
		{GVR: schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1beta1", Resource: "inferenceservices"}, Kind: KindInferenceService, Scope: TeamNamespaces},
	}
	Verbs = []string{"get", "list", "watch"}
)

// ResourceOf returns the Resource of a kind, which must be one of Resources.
func ResourceOf(kind string) Resource {
	for _, r := range Resources {
		if r.Kind == kind {
			return r
		}
	}
	panic("reads: no resource of kind " + kind)
}
