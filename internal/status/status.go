package status

import "time"

// State is the summary state of an app in one environment.
type State string

// The summary states; see the package documentation for the rule.
const (
	Deploying State = "Deploying"
	Running   State = "Running"
	Succeeded State = "Succeeded"
	Failed    State = "Failed"
	Serving   State = "Serving"
	Degraded  State = "Degraded"
	OutOfSync State = "OutOfSync"
	Unknown   State = "Unknown"
)

// States lists every state, in the order of the package documentation.
var States = []State{Deploying, Running, Succeeded, Failed, Serving, Degraded, OutOfSync, Unknown}

// View is the live status of one app in each of its environments.
type View struct {
	Team string `json:"team"`
	App  string `json:"app"`
	// Commit is the ml-model commit that last changed the app, when known.
	Commit       string        `json:"commit,omitempty"`
	Environments []Environment `json:"environments"`
}

// Environment is an app's status in one environment.
type Environment struct {
	Env       string `json:"env"`
	Namespace string `json:"namespace"`
	// State and Reason are the summary (Summarize).
	State  State  `json:"state"`
	Reason string `json:"reason,omitempty"`
	// Commit is the config (k8s-config) commit dmls published last for
	// this app and environment (the newest that changed its folders), the
	// one the state is about; empty when it could not be read.
	Commit string `json:"commit"`
	// RevisionIncludesCommit reports that the revision Argo CD synced is
	// Commit or a later commit (one that did not change this app).
	RevisionIncludesCommit bool         `json:"revisionIncludesCommit,omitempty"`
	Application            *Application `json:"application,omitempty"`
	Training               *Training    `json:"training,omitempty"`
	Serving                *Service     `json:"serving,omitempty"`
	// Error is why the environment's cluster could not be read.
	Error string `json:"error,omitempty"`
	// ObservedAt is when the cluster was read.
	ObservedAt *time.Time `json:"observedAt,omitempty"`
}

// Condition is a Kubernetes status condition.
type Condition struct {
	Type               string `json:"type"`
	Status             string `json:"status"`
	Reason             string `json:"reason,omitempty"`
	Message            string `json:"message,omitempty"`
	LastTransitionTime string `json:"lastTransitionTime,omitempty"`
}

// Application is what Argo CD says about the app's Application.
type Application struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Found     bool   `json:"found"`
	// Sync is Synced, OutOfSync or Unknown; Revision the commit Argo CD
	// compared against.
	Sync     string `json:"sync,omitempty"`
	Revision string `json:"revision,omitempty"`
	// Health is Healthy, Progressing, Degraded, Suspended, Missing or
	// Unknown.
	Health        string     `json:"health,omitempty"`
	HealthMessage string     `json:"healthMessage,omitempty"`
	Operation     *Operation `json:"operation,omitempty"`
	// Conditions are the Application's errors and warnings
	// (ComparisonError, SyncError, ...).
	Conditions []Condition `json:"conditions,omitempty"`
}

// Operation is the Application's last (or running) sync.
type Operation struct {
	Phase      string `json:"phase"`
	Message    string `json:"message,omitempty"`
	Revision   string `json:"revision,omitempty"`
	StartedAt  string `json:"startedAt,omitempty"`
	FinishedAt string `json:"finishedAt,omitempty"`
}

// Training is the TFJob or TrainJob of the app's current run.
type Training struct {
	// State is the job's own state (Deploying, Running, Succeeded or
	// Failed), set by Summarize.
	State State `json:"state,omitempty"`
	// Kind is TFJob or TrainJob ("" reads as TFJob).
	Kind       string      `json:"kind,omitempty"`
	Name       string      `json:"name"`
	Run        int         `json:"run"`
	Found      bool        `json:"found"`
	Conditions []Condition `json:"conditions,omitempty"`
	// Replicas counts active, succeeded and failed pods per replica type
	// (Chief, Worker, PS, Evaluator).
	Replicas       map[string]ReplicaCounts `json:"replicas,omitempty"`
	StartTime      string                   `json:"startTime,omitempty"`
	CompletionTime string                   `json:"completionTime,omitempty"`
	// Suspended is a TrainJob's spec.suspend (Kueue holds a queued job
	// suspended).
	Suspended bool `json:"suspended,omitempty"`
	// Workload is Kueue's Workload of the job, where it queues through
	// Kueue.
	Workload *Workload `json:"workload,omitempty"`
}

// Workload states: where a job is in its Kueue queue.
const (
	WorkloadPending   = "Pending"
	WorkloadAdmitted  = "Admitted"
	WorkloadPreempted = "Preempted"
	WorkloadFinished  = "Finished"
)

// Workload is Kueue's Workload of a queued job.
type Workload struct {
	Name string `json:"name"`
	// State is Pending, Admitted, Preempted or Finished, with the reason
	// and message of the condition that says so.
	State   string `json:"state"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// ClusterQueue and Flavors say where an admitted job runs: the flavor
	// of each resource, such as nvidia.com/gpu=ml-gpu.
	ClusterQueue string   `json:"clusterQueue,omitempty"`
	Flavors      []string `json:"flavors,omitempty"`
	// Position is a pending workload's place in its LocalQueue (0 is
	// next), when Kueue's visibility API answers.
	Position *int32 `json:"position,omitempty"`
}

// ReplicaCounts are the pods of one replica type.
type ReplicaCounts struct {
	Active    int64 `json:"active"`
	Succeeded int64 `json:"succeeded"`
	Failed    int64 `json:"failed"`
}

// Service is the app's Knative Service or InferenceService.
type Service struct {
	// State is the service's own state (Deploying, Serving or
	// Degraded), set by Summarize.
	State State  `json:"state,omitempty"`
	Kind  string `json:"kind"`
	Name  string `json:"name"`
	Found bool   `json:"found"`
	// Ready is the Ready condition's status (True, False, Unknown), with
	// its reason and message.
	Ready                 string    `json:"ready,omitempty"`
	Reason                string    `json:"reason,omitempty"`
	Message               string    `json:"message,omitempty"`
	URL                   string    `json:"url,omitempty"`
	LatestCreatedRevision string    `json:"latestCreatedRevision,omitempty"`
	LatestReadyRevision   string    `json:"latestReadyRevision,omitempty"`
	Traffic               []Traffic `json:"traffic,omitempty"`
}

// Traffic is the share of requests actually routed to a revision.
type Traffic struct {
	Revision       string `json:"revision,omitempty"`
	Tag            string `json:"tag,omitempty"`
	Percent        int64  `json:"percent"`
	LatestRevision bool   `json:"latestRevision,omitempty"`
	URL            string `json:"url,omitempty"`
}

// Short abbreviates a commit SHA to 12 characters.
func Short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
