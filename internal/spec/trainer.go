package spec

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Training frameworks (schemas #TrainingJob framework). TensorFlow is a
// TFJob of the training operator; the others are Trainer v2 TrainJobs.
const (
	FrameworkTensorFlow = "tensorflow"
	FrameworkPyTorch    = "pytorch"
	FrameworkJAX        = "jax"
	FrameworkDeepSpeed  = "deepspeed"
	FrameworkMLX        = "mlx"
	FrameworkXGBoost    = "xgboost"
)

// upstreamRuntimes are the ClusterTrainingRuntimes that Trainer v2.3.0
// ships, with the framework each runs and the replicated jobs whose pods
// run the trainer container ("node"): a runtime with a launcher runs it
// as a node too (runLauncherAsNode).
var upstreamRuntimes = map[string]struct {
	framework string
	jobs      []string
	// chartKey is the runtime's switch in the kubeflow-trainer chart's
	// values (runtimes.<key>.enabled).
	chartKey string
}{
	"torch-distributed":     {FrameworkPyTorch, []string{"node"}, "torchDistributed"},
	"jax-distributed":       {FrameworkJAX, []string{"node"}, "jaxDistributed"},
	"deepspeed-distributed": {FrameworkDeepSpeed, []string{"launcher", "node"}, "deepspeedDistributed"},
	"mlx-distributed":       {FrameworkMLX, []string{"launcher", "node"}, "mlxDistributed"},
	"xgboost-distributed":   {FrameworkXGBoost, []string{"node"}, "xgboostDistributed"},
}

// TrainerFrameworks are the frameworks Trainer v2 runs, in the schema's
// order.
var TrainerFrameworks = []string{FrameworkPyTorch, FrameworkJAX, FrameworkDeepSpeed, FrameworkMLX, FrameworkXGBoost}

// IsTrainJob reports whether the job is a Trainer v2 TrainJob rather than
// a TFJob.
func (t *TrainingJob) IsTrainJob() bool {
	return t != nil && t.Framework != "" && t.Framework != FrameworkTensorFlow
}

// Kind is the kind of the job's object: TrainJob or TFJob.
func (t *TrainingJob) Kind() string {
	if t.IsTrainJob() {
		return "TrainJob"
	}
	return "TFJob"
}

// RuntimeName is the ClusterTrainingRuntime of a TrainJob: its runtime,
// or the framework's upstream one.
func (t *TrainingJob) RuntimeName() string {
	if t.Runtime != "" {
		return t.Runtime
	}
	return DefaultRuntime(t.Framework)
}

// DefaultRuntime is the upstream ClusterTrainingRuntime of a framework.
func DefaultRuntime(framework string) string {
	for name, r := range upstreamRuntimes {
		if r.framework == framework {
			return name
		}
	}
	return ""
}

// RuntimeJobs are the replicated jobs of runtime whose pods run the
// trainer: those of an upstream runtime, or "node" for another.
func RuntimeJobs(runtime string) []string {
	if r, ok := upstreamRuntimes[runtime]; ok {
		return r.jobs
	}
	return []string{"node"}
}

// RuntimeChartKey is the kubeflow-trainer chart's values key that turns an
// upstream runtime on, or "" for a runtime the chart does not ship.
func RuntimeChartKey(runtime string) string { return upstreamRuntimes[runtime].chartKey }

// TrainerNodeContainer is the container of a TrainJob's trainer pods in
// every upstream runtime.
const TrainerNodeContainer = "node"

// Initializers are a TrainJob's dataset and model initializers.
type Initializers struct {
	Dataset *Initializer `json:"dataset,omitempty"`
	Model   *Initializer `json:"model,omitempty"`
}

// Initializer downloads a dataset or a model before training.
type Initializer struct {
	StorageURI string              `json:"storageUri"`
	SecretRef  string              `json:"secretRef,omitempty"`
	Env        map[string]EnvValue `json:"env,omitempty"`
}

// PodMetadata are extra labels and annotations of a job's pods.
type PodMetadata struct {
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Gang schedulers of an environment (schemas #Environment scheduler).
const (
	SchedulerDefault = "default"
	SchedulerKueue   = "kueue"
	SchedulerVolcano = "volcano"
)

// Kueue's labels on a job.
const (
	KueueQueueLabel    = "kueue.x-k8s.io/queue-name"
	KueuePriorityLabel = "kueue.x-k8s.io/priority-class"
)

// IsZero reports whether the quota sets nothing.
func (q Quota) IsZero() bool {
	return q.CPU == "" && q.Memory == "" && q.GPU == nil && q.Pods == nil && q.PVCs == nil && q.Storage == "" && q.GPUTypes == nil
}

// UnmarshalJSON reads gpu as a number or as GPUs per type.
func (q *Quota) UnmarshalJSON(b []byte) error {
	type plain Quota
	var raw struct {
		plain
		GPU json.RawMessage `json:"gpu,omitempty"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*q = Quota(raw.plain)
	q.GPU, q.GPUTypes = nil, nil
	if len(raw.GPU) == 0 || string(raw.GPU) == "null" {
		return nil
	}
	if strings.HasPrefix(strings.TrimSpace(string(raw.GPU)), "{") {
		var types map[string]int
		if err := json.Unmarshal(raw.GPU, &types); err != nil {
			return fmt.Errorf("quota gpu: %w", err)
		}
		sum := 0
		for _, n := range types {
			sum += n
		}
		q.GPU, q.GPUTypes = &sum, types
		return nil
	}
	n, err := strconv.Atoi(string(raw.GPU))
	if err != nil {
		return fmt.Errorf("quota gpu: %w", err)
	}
	q.GPU = &n
	return nil
}

// MarshalJSON writes gpu back as it was given.
func (q Quota) MarshalJSON() ([]byte, error) {
	type plain Quota
	var gpu any
	switch {
	case q.GPUTypes != nil:
		gpu = q.GPUTypes
	case q.GPU != nil:
		gpu = *q.GPU
	}
	return json.Marshal(struct {
		plain
		GPU any `json:"gpu,omitempty"`
	}{plain(q), gpu})
}

// TrainerComponent returns the platform's Trainer v2 component and its
// name, or nil.
func (p *Platform) TrainerComponent() (string, *Component) {
	return p.markedComponent(func(c Component) bool { return c.Trainer != nil })
}

// KueueComponent returns the platform's Kueue component and its name, or
// nil.
func (p *Platform) KueueComponent() (string, *Component) {
	return p.markedComponent(func(c Component) bool { return c.Kueue != nil })
}

func (p *Platform) markedComponent(marked func(Component) bool) (string, *Component) {
	if p == nil {
		return "", nil
	}
	for _, name := range slices.Sorted(maps.Keys(p.Components)) {
		if c := p.Components[name]; marked(c) {
			return name, &c
		}
	}
	return "", nil
}

// KueueVersion is the Kueue release of a Kueue component: its own
// version, its helm chart's, or its git revision's; "" when none says.
func (c *Component) KueueVersion() string {
	v := ""
	switch {
	case c.Kueue != nil && c.Kueue.Version != "":
		v = c.Kueue.Version
	case c.Helm != nil:
		v = c.Helm.Version
	case c.Git != nil:
		v = c.Git.Revision
	}
	v = strings.TrimPrefix(v, "v")
	if _, _, ok := minorOf(v); !ok {
		return ""
	}
	return v
}

// KueueRemovedTFJob is the first Kueue minor without the TFJob
// integration (deprecated and off by default since 0.19).
const KueueRemovedTFJob = 20

// KueueHasTFJob reports whether Kueue version still has the TFJob
// integration.
func KueueHasTFJob(version string) bool {
	major, minor, ok := minorOf(version)
	return ok && major == 0 && minor < KueueRemovedTFJob
}

func minorOf(v string) (major, minor int, ok bool) {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	a, err1 := strconv.Atoi(parts[0])
	b, err2 := strconv.Atoi(parts[1])
	return a, b, err1 == nil && err2 == nil
}

// NodeResources is what each node of a TrainJob requests, and the spec
// path it comes from: resourcesPerNode, or the job's resources (an
// environment's training.resources fill them). The generator, the quota
// and the cluster checks all read it.
func (t *TrainingJob) NodeResources() (*Resources, string) {
	if t.ResourcesPerNode != nil {
		return t.ResourcesPerNode, "training.resourcesPerNode"
	}
	return t.Resources, "training.resources"
}

// Nodes is how many nodes a TrainJob runs on (the runtimes' default: 1).
func (t *TrainingJob) Nodes() int {
	if t.NumNodes != nil {
		return *t.NumNodes
	}
	return 1
}
