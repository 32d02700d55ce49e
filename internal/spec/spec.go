// Package spec is the typed model of a dmls workspace: the Go side of the
// CUE schemas, filled only from values that passed them.
package spec

// Platform is the platform as a whole (schemas #Platform).
type Platform struct {
	Name   string          `json:"name"`
	Teams  map[string]Team `json:"teams"`
	Repos  map[string]Repo `json:"repos"`
	ArgoCD ArgoCD          `json:"argocd"`
	// API, when set, installs dmls serve on the platform cluster.
	API *APIServer `json:"api,omitempty"`
	// Clusters are the kops clusters on AWS, by short name.
	Clusters map[string]KopsCluster `json:"clusters,omitempty"`
}

// APIServer is the installation of dmls serve on the platform cluster.
type APIServer struct {
	Image     string `json:"image"`
	Namespace string `json:"namespace"`
	Replicas  int    `json:"replicas"`
}

// Team owns apps and one namespace per environment.
type Team struct {
	Description string `json:"description,omitempty"`
	Quota       *Quota `json:"quota,omitempty"`
}

// Quota caps what a team may request in each of its namespaces.
type Quota struct {
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
	GPU    *int   `json:"gpu,omitempty"`
	Pods   *int   `json:"pods,omitempty"`
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
	Training   EnvTraining       `json:"training"`
	Serving    EnvServing        `json:"serving"`
}

// Cluster is an Argo CD destination cluster.
type Cluster struct {
	Server string `json:"server"`
	// Name is the platform cluster the environment runs on, if any.
	Name string `json:"name,omitempty"`
}

// Image tag policies.
const (
	ImageTagsAny    = "any"
	ImageTagsPinned = "pinned"
	ImageTagsDigest = "digest"
)

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
}

// KServe deployment modes (serving.kserve.io/deploymentMode).
const (
	DeploymentServerless = "Serverless"
	DeploymentRaw        = "RawDeployment"
)

// App is one app with its settings for one environment already merged in
// (schemas #App without overrides).
type App struct {
	Name     string            `json:"name"`
	Team     string            `json:"team"`
	Envs     []string          `json:"envs,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Training *TrainingJob      `json:"training,omitempty"`
	Serving  *ModelService     `json:"serving,omitempty"`
	// GPU, set by the loader for an app in an environment whose cluster
	// has GPU groups, is where the app's GPU pods must run.
	GPU *Placement `json:"-"`
}

// Container holds settings shared by a training job and its replica sets.
type Container struct {
	Image           string            `json:"image,omitempty"`
	ImagePullPolicy string            `json:"imagePullPolicy,omitempty"`
	Command         []string          `json:"command,omitempty"`
	Args            []string          `json:"args,omitempty"`
	Env             map[string]string `json:"env,omitempty"`
	Resources       *Resources        `json:"resources,omitempty"`
	NodeSelector    map[string]string `json:"nodeSelector,omitempty"`
	Tolerations     []Toleration      `json:"tolerations,omitempty"`
	Volumes         map[string]Volume `json:"volumes,omitempty"`
}

// TrainingJob is distributed TensorFlow training (schemas #TrainingJob).
type TrainingJob struct {
	Container
	Run int `json:"run"`
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
	Replicas      int    `json:"replicas"`
	RestartPolicy string `json:"restartPolicy,omitempty"`
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
	Name        string            `json:"name,omitempty"`
	Image       string            `json:"image,omitempty"`
	Model       *Model            `json:"model,omitempty"`
	Port        int               `json:"port,omitempty"`
	Command     []string          `json:"command,omitempty"`
	Args        []string          `json:"args,omitempty"`
	Env         map[string]string `json:"env,omitempty"`
	Resources   *Resources        `json:"resources,omitempty"`
	Autoscaling Autoscaling       `json:"autoscaling"`
	Revision    string            `json:"revision,omitempty"`
	Traffic     Traffic           `json:"traffic"`
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
	Image     string            `json:"image"`
	Command   []string          `json:"command,omitempty"`
	Args      []string          `json:"args,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
	Resources *Resources        `json:"resources,omitempty"`
	Port      int               `json:"port,omitempty"`
}

// Model is a saved model in storage plus the runtime that serves it.
type Model struct {
	StorageURI      string `json:"storageUri"`
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
