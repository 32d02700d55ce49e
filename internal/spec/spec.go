// Package spec is the typed model of a dmls workspace: the Go side of the
// CUE schemas, filled only from values that passed them.
package spec

import "encoding/json"

// Platform is the platform as a whole (schemas #Platform).
type Platform struct {
	Name   string          `json:"name"`
	Teams  map[string]Team `json:"teams"`
	Repos  map[string]Repo `json:"repos"`
	ArgoCD ArgoCD          `json:"argocd"`
	// SecretStore is the default store of ExternalSecrets.
	SecretStore *SecretStoreRef `json:"secretStore,omitempty"`
	// Secrets every team gets in each of its namespaces.
	Secrets map[string]ExternalSecret `json:"secrets,omitempty"`
	// ExistingSecrets exist in team namespaces without dmls; apps may
	// reference them.
	ExistingSecrets []string `json:"existingSecrets,omitempty"`
	// API, when set, installs dmls serve on the platform cluster. The
	// loader leaves it nil when the api block holds only auth.
	API *APIServer `json:"api,omitempty"`
	// Auth is api.auth, set whether or not API installs the server: it
	// configures dmls serve wherever it runs.
	Auth *APIAuth `json:"-"`
	// Components are the platform components in the kubeflow-config repo.
	Components map[string]Component `json:"components,omitempty"`
	// Clusters are the kops clusters on AWS, by short name.
	Clusters map[string]KopsCluster `json:"clusters,omitempty"`
	// PriorityClasses are Kueue WorkloadPriorityClasses, by name.
	PriorityClasses map[string]PriorityClass `json:"priorityClasses,omitempty"`
}

// PriorityClass is a Kueue WorkloadPriorityClass.
type PriorityClass struct {
	Value       int32  `json:"value"`
	Description string `json:"description,omitempty"`
}

// APIServer is the installation of dmls serve on the platform cluster.
type APIServer struct {
	Image     string   `json:"image"`
	Namespace string   `json:"namespace"`
	Replicas  int      `json:"replicas"`
	Auth      *APIAuth `json:"auth,omitempty"`
	// Prometheus evaluates the release pipelines' canary gates.
	Prometheus string `json:"prometheus,omitempty"`
}

// Team owns apps and one namespace per environment.
type Team struct {
	Description string `json:"description,omitempty"`
	// Group is the team's identity-provider group, bound to edit rights
	// in the team's namespaces.
	Group string `json:"group"`
	Quota *Quota `json:"quota,omitempty"`
	// Queue shapes the team's Kueue ClusterQueue.
	Queue *TeamQueue `json:"queue,omitempty"`
}

// TeamQueue is how a team's ClusterQueue shares with others (schemas
// #TeamQueue).
type TeamQueue struct {
	Cohort         string           `json:"cohort,omitempty"`
	BorrowingLimit *BorrowingLimit  `json:"borrowingLimit,omitempty"`
	Preemption     *QueuePreemption `json:"preemption,omitempty"`
}

// BorrowingLimit caps what a ClusterQueue borrows from its cohort.
type BorrowingLimit struct {
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
	GPU    *int   `json:"gpu,omitempty"`
}

// QueuePreemption is Kueue's preemption policy of a ClusterQueue.
type QueuePreemption struct {
	ReclaimWithinCohort string `json:"reclaimWithinCohort"`
	WithinClusterQueue  string `json:"withinClusterQueue"`
}

// Quota caps what a team may request in each of its namespaces.
type Quota struct {
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
	// GPU is the number of GPUs of every type. With GPUTypes set it is
	// their sum.
	GPU *int `json:"gpu,omitempty"`
	// GPUTypes, when the quota names GPU types ({a10g: 8, h100: 2}), are
	// the GPUs per type.
	GPUTypes map[string]int `json:"-"`
	Pods     *int           `json:"pods,omitempty"`
	PVCs     *int           `json:"pvcs,omitempty"`
	Storage  string         `json:"storage,omitempty"`
}

// TeamQuota is the quota of team in env: the team's own quota, field by
// field over the environment's defaults. It is nil when neither sets
// anything.
func TeamQuota(t Team, env *Environment) *Quota {
	var q Quota
	if env != nil && env.Quota != nil {
		q = *env.Quota
	}
	if o := t.Quota; o != nil {
		if o.CPU != "" {
			q.CPU = o.CPU
		}
		if o.Memory != "" {
			q.Memory = o.Memory
		}
		if o.GPU != nil {
			q.GPU, q.GPUTypes = o.GPU, o.GPUTypes
		}
		if o.Pods != nil {
			q.Pods = o.Pods
		}
		if o.PVCs != nil {
			q.PVCs = o.PVCs
		}
		if o.Storage != "" {
			q.Storage = o.Storage
		}
	}
	if q.IsZero() {
		return nil
	}
	return &q
}

// Repo is a config repository that dmls publishes to.
type Repo struct {
	URL    string `json:"url"`
	Branch string `json:"branch"`
	Path   string `json:"path"`
}

// ArgoCD says where Argo CD runs.
type ArgoCD struct {
	Namespace string `json:"namespace"`
	// URL is Argo CD's web UI.
	URL string `json:"url,omitempty"`
	// Refresh says how to tell Argo CD about a push.
	Refresh *Refresh `json:"refresh,omitempty"`
}

// Refresh says how dmls tells Argo CD about a push (schemas #Refresh).
type Refresh struct {
	Webhook    *Webhook `json:"webhook,omitempty"`
	Annotation bool     `json:"annotation,omitempty"`
}

// Webhook is Argo CD's git webhook endpoint and where its secret is.
type Webhook struct {
	URL       string `json:"url"`
	SecretEnv string `json:"secretEnv"`
}

// Well-known config repo names.
const (
	RepoK8sConfig      = "k8s-config"
	RepoKubeflowConfig = "kubeflow-config"
	RepoInfra          = "infra"
	RepoMLModel        = "ml-model"
)

// Environment is one deployment environment (schemas #Environment).
type Environment struct {
	// Name comes from the file name, overlays/<name>.cue.
	Name       string            `json:"-"`
	Order      int               `json:"order"`
	Namespaces map[string]string `json:"namespaces"`
	Cluster    Cluster           `json:"cluster"`
	ImageTags  string            `json:"imageTags"`
	// Scheduler is the gang scheduler of training jobs: SchedulerKueue,
	// SchedulerVolcano or SchedulerDefault.
	Scheduler string `json:"scheduler"`
	// SecretStore, when set, overrides the platform's.
	SecretStore *SecretStoreRef `json:"secretStore,omitempty"`
	Policy      Policy          `json:"policy"`
	// Quota holds the defaults of the team quotas in this environment.
	Quota *Quota `json:"quota,omitempty"`
	// PodSecurity is the Pod Security admission level of team namespaces.
	PodSecurity string `json:"podSecurity"`
	// Limits is the LimitRange of team namespaces.
	Limits   EnvLimits   `json:"limits"`
	Training EnvTraining `json:"training"`
	Serving  EnvServing  `json:"serving"`
}

// EnvLimits are the default container requests and limits of a team
// namespace (its LimitRange).
type EnvLimits struct {
	DefaultRequest CPUMemory `json:"defaultRequest"`
	Default        CPUMemory `json:"default"`
}

// CPUMemory is a cpu and a memory quantity.
type CPUMemory struct {
	CPU    string `json:"cpu"`
	Memory string `json:"memory"`
}

// Cluster is an Argo CD destination cluster.
type Cluster struct {
	Server string `json:"server"`
	// Name is the platform cluster the environment runs on, if any.
	Name string `json:"name,omitempty"`
}

// TFServingImage is the image of serving.model's runtime, tagged with its
// runtimeVersion.
const TFServingImage = "tensorflow/serving"

// Image tag policies.
const (
	ImageTagsAny    = "any"
	ImageTagsPinned = "pinned"
	ImageTagsDigest = "digest"
)

// Policy levels (schemas #PolicyLevel, and "off" where a rule can be
// switched off).
const (
	PolicyError = "error"
	PolicyWarn  = "warn"
	PolicyOff   = "off"
)

// Policy sets how each policy rule applies in an environment.
type Policy struct {
	// Images is the level of rules image-tag and image-digest.
	Images string `json:"images"`
	// Registries is the allow-list of rule image-registry; empty: any.
	Registries []string `json:"registries,omitempty"`
	// Resources is the level of rule resources-required.
	Resources string `json:"resources"`
	// SecurityExceptions is the level of rule security-context.
	SecurityExceptions string `json:"securityExceptions"`
	// SecretLiterals is the level of rule secret-literal.
	SecretLiterals string `json:"secretLiterals"`
}

// AppPolicy is an app's policy settings (schemas #Policy).
type AppPolicy struct {
	Exceptions *PolicyExceptions `json:"exceptions,omitempty"`
}

// PolicyExceptions relax policy rules for one app.
type PolicyExceptions struct {
	SecurityContext *SecurityException `json:"securityContext,omitempty"`
}

// SecurityException relaxes the restricted security context.
type SecurityException struct {
	Reason                 string `json:"reason"`
	RunAsRoot              bool   `json:"runAsRoot,omitempty"`
	WritableRootFilesystem bool   `json:"writableRootFilesystem,omitempty"`
	PrivilegeEscalation    bool   `json:"privilegeEscalation,omitempty"`
}

// SecurityException returns the app's security-context exception, or nil.
func (a *AppSpec) SecurityException() *SecurityException {
	if a.Policy == nil || a.Policy.Exceptions == nil {
		return nil
	}
	return a.Policy.Exceptions.SecurityContext
}

// EnvTraining adjusts training jobs in one environment.
type EnvTraining struct {
	WorkerReplicas *int       `json:"workerReplicas,omitempty"`
	MaxReplicas    *int       `json:"maxReplicas,omitempty"`
	Resources      *Resources `json:"resources,omitempty"`
}

// EnvServing holds serving defaults of one environment.
type EnvServing struct {
	MinScale             *int       `json:"minScale,omitempty"`
	MaxScale             *int       `json:"maxScale,omitempty"`
	Target               *int       `json:"target,omitempty"`
	ContainerConcurrency *int       `json:"containerConcurrency,omitempty"`
	TimeoutSeconds       *int       `json:"timeoutSeconds,omitempty"`
	Resources            *Resources `json:"resources,omitempty"`
	// DeploymentMode is KServe's deployment mode in this environment.
	DeploymentMode string `json:"deploymentMode"`
	// Knative is the Knative Serving configuration of the environment's
	// cluster, which dmls validates Services with.
	Knative *KnativeConfig `json:"knative,omitempty"`
}

// KnativeConfig is the data of Knative Serving's config-autoscaler and
// config-defaults ConfigMaps on a cluster.
type KnativeConfig struct {
	Autoscaler map[string]string `json:"autoscaler,omitempty"`
	Defaults   map[string]string `json:"defaults,omitempty"`
}

// KServe deployment modes (serving.kserve.io/deploymentMode), as KServe
// 0.16 and later name them: Knative (a Knative Service, scales to zero)
// and Standard (a Deployment with an HPA).
const (
	DeploymentKnative  = "Knative"
	DeploymentStandard = "Standard"
)

// The deprecated names of the deployment modes, which KServe before 0.16
// used and later KServe still reads (its defaulting rewrites them).
const (
	DeploymentServerless = "Serverless"
	DeploymentRaw        = "RawDeployment"
)

// DeploymentMode returns the KServe 0.16+ word for mode, and whether mode
// was a deprecated name of it. dmls writes only the new words.
func DeploymentMode(mode string) (word string, deprecated bool) {
	switch mode {
	case DeploymentServerless:
		return DeploymentKnative, true
	case DeploymentRaw:
		return DeploymentStandard, true
	}
	return mode, false
}

// AppSpec is one app with its settings for one environment already merged in
// (schemas #App without overrides).
type AppSpec struct {
	Name     string            `json:"name"`
	Team     string            `json:"team"`
	Envs     []string          `json:"envs,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Training *TrainingJob      `json:"training,omitempty"`
	Serving  *ModelService     `json:"serving,omitempty"`
	Policy   *AppPolicy        `json:"policy,omitempty"`
	// Release is the app's release policy (release.go).
	Release *Release `json:"release,omitempty"`

	// Secrets are the app's ExternalSecrets, by the name of the Secret.
	Secrets map[string]ExternalSecret `json:"secrets,omitempty"`

	// GPU, set by the loader for an app in an environment whose cluster
	// has GPU groups, is where the app's GPU pods must run.
	GPU *Placement `json:"-"`
	// Kueue, set by the loader for an app whose environment's scheduler
	// is kueue, is where its training job queues.
	Kueue *KueueJob `json:"-"`
}

// KueueJob is the LocalQueue and the WorkloadPriorityClass of a training
// job under Kueue.
type KueueJob struct {
	Queue, PriorityClass string
	// QueueFrom and PriorityFrom are the spec paths that set them ("" for
	// the team's default queue).
	QueueFrom, PriorityFrom string
}

// Container holds settings shared by a training job and its replica sets.
type Container struct {
	Image           string              `json:"image,omitempty"`
	ImagePullPolicy string              `json:"imagePullPolicy,omitempty"`
	Command         []string            `json:"command,omitempty"`
	Args            []string            `json:"args,omitempty"`
	Env             map[string]EnvValue `json:"env,omitempty"`
	EnvFrom         []EnvSource         `json:"envFrom,omitempty"`
	Resources       *Resources          `json:"resources,omitempty"`
	NodeSelector    map[string]string   `json:"nodeSelector,omitempty"`
	Tolerations     []Toleration        `json:"tolerations,omitempty"`
	Volumes         map[string]Volume   `json:"volumes,omitempty"`
}

// TrainingJob is distributed training (schemas #TrainingJob): a TFJob for
// framework tensorflow, a Trainer v2 TrainJob for the others.
type TrainingJob struct {
	Container
	Framework        string        `json:"framework,omitempty"`
	Runtime          string        `json:"runtime,omitempty"`
	NumNodes         *int          `json:"numNodes,omitempty"`
	NumProcPerNode   *int          `json:"numProcPerNode,omitempty"`
	ResourcesPerNode *Resources    `json:"resourcesPerNode,omitempty"`
	Initializer      *Initializers `json:"initializer,omitempty"`
	PodMetadata      *PodMetadata  `json:"podMetadata,omitempty"`
	Run              int           `json:"run"`
	// Output is where each run writes; Schedule starts runs.
	Output   *TrainingOutput `json:"output,omitempty"`
	Schedule *Schedule       `json:"schedule,omitempty"`
	// ScheduledAt is the schedule's tick that started the run (RFC 3339).
	ScheduledAt string `json:"scheduledAt,omitempty"`
	// Name, when set, is the TFJob's name instead of <app>-r<run>.
	Name                    string         `json:"name,omitempty"`
	Hyperparameters         map[string]any `json:"hyperparameters,omitempty"`
	HyperparametersAs       string         `json:"hyperparametersAs"`
	Replicas                Replicas       `json:"replicas"`
	RestartPolicy           string         `json:"restartPolicy"`
	CleanPodPolicy          string         `json:"cleanPodPolicy"`
	BackoffLimit            *int32         `json:"backoffLimit,omitempty"`
	ActiveDeadlineSeconds   *int64         `json:"activeDeadlineSeconds,omitempty"`
	TTLSecondsAfterFinished *int32         `json:"ttlSecondsAfterFinished,omitempty"`
	SuccessPolicy           string         `json:"successPolicy"`
	Scheduling              *Scheduling    `json:"scheduling,omitempty"`
}

// Replicas are the replica sets of a TFJob, by role.
type Replicas struct {
	Chief     *ReplicaSet `json:"chief,omitempty"`
	Worker    *ReplicaSet `json:"worker,omitempty"`
	PS        *ReplicaSet `json:"ps,omitempty"`
	Evaluator *ReplicaSet `json:"evaluator,omitempty"`
}

// Roles lists the replica roles in a fixed order.
var Roles = []string{"chief", "ps", "worker", "evaluator"}

// Get returns the replica set of role, or nil.
func (r Replicas) Get(role string) *ReplicaSet {
	switch role {
	case "chief":
		return r.Chief
	case "worker":
		return r.Worker
	case "ps":
		return r.PS
	case "evaluator":
		return r.Evaluator
	}
	return nil
}

// ReplicaSet is one TFJob replica type.
type ReplicaSet struct {
	Container
	PodMetadata   *PodMetadata `json:"podMetadata,omitempty"`
	Replicas      int          `json:"replicas"`
	RestartPolicy string       `json:"restartPolicy,omitempty"`
}

// Scheduling places a job in a queue with a priority.
type Scheduling struct {
	Queue         string `json:"queue,omitempty"`
	PriorityClass string `json:"priorityClass,omitempty"`
	MinAvailable  *int32 `json:"minAvailable,omitempty"`
}

// Resources are container requests and limits.
type Resources struct {
	CPU    string  `json:"cpu,omitempty"`
	Memory string  `json:"memory,omitempty"`
	GPU    *int    `json:"gpu,omitempty"`
	Limits *Limits `json:"limits,omitempty"`
}

// Limits are container limits above the requests.
type Limits struct {
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
}

// Toleration lets pods schedule onto tainted nodes.
type Toleration struct {
	Key               string `json:"key,omitempty"`
	Operator          string `json:"operator"`
	Value             string `json:"value,omitempty"`
	Effect            string `json:"effect,omitempty"`
	TolerationSeconds *int64 `json:"tolerationSeconds,omitempty"`
}

// Volume mounts a PersistentVolumeClaim.
type Volume struct {
	MountPath string       `json:"mountPath"`
	ClaimName string       `json:"claimName,omitempty"`
	ReadOnly  bool         `json:"readOnly"`
	SubPath   string       `json:"subPath,omitempty"`
	Create    *VolumeClaim `json:"create,omitempty"`
}

// VolumeClaim asks for the PVC of a volume to be created.
type VolumeClaim struct {
	Size         string   `json:"size"`
	AccessModes  []string `json:"accessModes"`
	StorageClass string   `json:"storageClass,omitempty"`
}

// Serving runtimes of a model service.
const (
	RuntimeKnative = "knative"
	RuntimeKServe  = "kserve"
)

// ModelService serves a model on Knative or KServe (schemas #ModelService).
type ModelService struct {
	Runtime string `json:"runtime"`
	// Name, when set, is the object's name instead of the app's.
	Name        string              `json:"name,omitempty"`
	Image       string              `json:"image,omitempty"`
	Model       *Model              `json:"model,omitempty"`
	Port        int                 `json:"port,omitempty"`
	Command     []string            `json:"command,omitempty"`
	Args        []string            `json:"args,omitempty"`
	Env         map[string]EnvValue `json:"env,omitempty"`
	EnvFrom     []EnvSource         `json:"envFrom,omitempty"`
	Resources   *Resources          `json:"resources,omitempty"`
	Autoscaling Autoscaling         `json:"autoscaling"`
	Revision    string              `json:"revision,omitempty"`
	Traffic     Traffic             `json:"traffic"`
	// DeploymentMode overrides the environment's (KServe only).
	DeploymentMode string       `json:"deploymentMode,omitempty"`
	Transformer    *Transformer `json:"transformer,omitempty"`
}

// ObjectName is the name of the service's object: its name, or the app's.
func (s *ModelService) ObjectName(app string) string {
	if s.Name != "" {
		return s.Name
	}
	return app
}

// Transformer is a KServe pre/post-processing container.
type Transformer struct {
	Image     string              `json:"image"`
	Command   []string            `json:"command,omitempty"`
	Args      []string            `json:"args,omitempty"`
	Env       map[string]EnvValue `json:"env,omitempty"`
	EnvFrom   []EnvSource         `json:"envFrom,omitempty"`
	Resources *Resources          `json:"resources,omitempty"`
	Port      int                 `json:"port,omitempty"`
}

// Model is a saved model in storage plus the runtime that serves it.
type Model struct {
	StorageURI string `json:"storageUri,omitempty"`
	// FromTraining serves <training.output.storageUri>/r<Run>; the loader
	// sets StorageURI from it.
	FromTraining    bool   `json:"fromTraining,omitempty"`
	Run             int    `json:"run,omitempty"`
	Format          string `json:"format,omitempty"`
	FormatVersion   string `json:"formatVersion,omitempty"`
	Runtime         string `json:"runtime,omitempty"`
	RuntimeVersion  string `json:"runtimeVersion,omitempty"`
	ProtocolVersion string `json:"protocolVersion,omitempty"`
	Name            string `json:"name,omitempty"`
}

// TFServingRuntime is the Knative runtime of a model from storage.
const TFServingRuntime = "tensorflow-serving"

// DefaultTFServingVersion is the tensorflow/serving tag when a Knative
// model sets no runtimeVersion.
const DefaultTFServingVersion = "2.14.1"

// Autoscaling bounds and targets of a model service.
type Autoscaling struct {
	MinScale             *int `json:"minScale,omitempty"`
	MaxScale             *int `json:"maxScale,omitempty"`
	Target               *int `json:"target,omitempty"`
	ContainerConcurrency *int `json:"containerConcurrency,omitempty"`
	TimeoutSeconds       *int `json:"timeoutSeconds,omitempty"`
	// Metric is KServe's scaleMetric.
	Metric string `json:"metric,omitempty"`
}

// Traffic splits requests between revisions.
type Traffic struct {
	Stable        string            `json:"stable,omitempty"`
	CanaryPercent *int              `json:"canaryPercent,omitempty"`
	Pinned        bool              `json:"pinned"`
	Tags          map[string]string `json:"tags,omitempty"`
}

// EnvValue is one environment variable's value: a literal, or a reference
// to a key of a Secret or a ConfigMap (schemas #Env). In JSON a literal is
// a string and a reference an object, as in the spec files.
type EnvValue struct {
	Value        string  `json:"-"`
	SecretRef    *KeyRef `json:"secretRef,omitempty"`
	ConfigMapRef *KeyRef `json:"configMapRef,omitempty"`
	// object is set when the spec wrote an object, so that {} is told
	// from "".
	object bool
}

// IsEmptyRef reports whether the spec wrote a reference object that names
// neither a Secret nor a ConfigMap.
func (v EnvValue) IsEmptyRef() bool { return v.object && v.IsLiteral() }

// IsLiteral reports whether v is a literal value rather than a reference.
func (v EnvValue) IsLiteral() bool { return v.SecretRef == nil && v.ConfigMapRef == nil }

// Literal returns a literal EnvValue.
func Literal(s string) EnvValue { return EnvValue{Value: s} }

type envRef struct {
	SecretRef    *KeyRef `json:"secretRef,omitempty"`
	ConfigMapRef *KeyRef `json:"configMapRef,omitempty"`
}

// UnmarshalJSON reads a string or a {secretRef|configMapRef} object.
func (v *EnvValue) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		*v = EnvValue{}
		return json.Unmarshal(b, &v.Value)
	}
	var r envRef
	if err := json.Unmarshal(b, &r); err != nil {
		return err
	}
	*v = EnvValue{SecretRef: r.SecretRef, ConfigMapRef: r.ConfigMapRef, object: true}
	return nil
}

// MarshalJSON writes a literal as a string and a reference as an object.
func (v EnvValue) MarshalJSON() ([]byte, error) {
	if v.IsLiteral() {
		return json.Marshal(v.Value)
	}
	return json.Marshal(envRef{SecretRef: v.SecretRef, ConfigMapRef: v.ConfigMapRef})
}

// KeyRef names one key of a Secret or a ConfigMap.
type KeyRef struct {
	Name     string `json:"name"`
	Key      string `json:"key"`
	Optional *bool  `json:"optional,omitempty"`
}

// EnvSource is one Secret or ConfigMap whose keys all become environment
// variables (schemas #EnvSource).
type EnvSource struct {
	SecretRef    *ObjectRef `json:"secretRef,omitempty"`
	ConfigMapRef *ObjectRef `json:"configMapRef,omitempty"`
	Prefix       string     `json:"prefix,omitempty"`
}

// ObjectRef names a Secret or a ConfigMap.
type ObjectRef struct {
	Name     string `json:"name"`
	Optional *bool  `json:"optional,omitempty"`
}

// ExternalSecret is a Secret made by the External Secrets Operator from
// entries of an external store (schemas #ExternalSecret).
type ExternalSecret struct {
	Data            map[string]RemoteRef `json:"data,omitempty"`
	Extract         *RemoteExtract       `json:"extract,omitempty"`
	RefreshInterval string               `json:"refreshInterval"`
	// Store is the secret's own store; the loader fills it in from the
	// environment or the platform when the spec does not name one.
	Store *SecretStoreRef `json:"store,omitempty"`
}

// RemoteRef is one entry of an external store.
type RemoteRef struct {
	Key      string `json:"key"`
	Property string `json:"property,omitempty"`
	Version  string `json:"version,omitempty"`
}

// RemoteExtract takes every property of one store entry.
type RemoteExtract struct {
	Key     string `json:"key"`
	Version string `json:"version,omitempty"`
}

// SecretStoreRef names an External Secrets SecretStore or ClusterSecretStore.
type SecretStoreRef struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
}
