package trainjob

import (
	"bytes"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/dmls-project/dmls/internal/admission"
	"github.com/dmls-project/dmls/internal/golden"
	"github.com/dmls-project/dmls/internal/spec"
)

// fullJob uses every TrainJob feature: a named runtime, nodes with GPUs,
// both initializers with credentials, env from a Secret, hyperparameters
// as args, volumes with and without claims, pod metadata, tolerations, a
// deadline, GPU placement and a Kueue queue with a priority.
func fullJob() *spec.AppSpec {
	return &spec.AppSpec{
		Name: "llm", Team: "research", Labels: map[string]string{"cost-center": "ml"},
		Training: &spec.TrainingJob{
			Container: spec.Container{
				Image:   "registry.example.com/research/llm:1.4",
				Command: []string{"torchrun", "/workspace/train.py"},
				Args:    []string{"--bf16"},
				Env: map[string]spec.EnvValue{
					"NCCL_DEBUG":    spec.Literal("INFO"),
					"WANDB_API_KEY": {SecretRef: &spec.KeyRef{Name: "llm-wandb", Key: "api-key"}},
				},
				NodeSelector: map[string]string{"topology.kubernetes.io/zone": "us-east-1a"},
				Tolerations:  []spec.Toleration{{Key: "dedicated", Operator: "Equal", Value: "research", Effect: "NoSchedule"}},
				Volumes: map[string]spec.Volume{
					"checkpoints": {MountPath: "/checkpoints", Create: &spec.VolumeClaim{Size: "100Gi", AccessModes: []string{"ReadWriteMany"}, StorageClass: "efs"}},
					"data":        {MountPath: "/data", ClaimName: "corpus", ReadOnly: true},
				},
			},
			Framework:        spec.FrameworkDeepSpeed,
			NumNodes:         new(4),
			NumProcPerNode:   new(8),
			ResourcesPerNode: &spec.Resources{CPU: "32", Memory: "256Gi", GPU: new(8), Limits: &spec.Limits{Memory: "300Gi"}},
			Initializer: &spec.Initializers{
				Dataset: &spec.Initializer{StorageURI: "s3://research-data/corpus", SecretRef: "llm-s3"},
				Model:   &spec.Initializer{StorageURI: "hf://meta-llama/Llama-3.2-1B", SecretRef: "llm-hf", Env: map[string]spec.EnvValue{"HF_HUB_OFFLINE": spec.Literal("0")}},
			},
			PodMetadata:           &spec.PodMetadata{Labels: map[string]string{"sidecar.istio.io/inject": "false"}, Annotations: map[string]string{"example.com/cost-center": "research-42"}},
			Run:                   7,
			Hyperparameters:       map[string]any{"learning_rate": 0.0002, "epochs": 3},
			HyperparametersAs:     "args",
			ActiveDeadlineSeconds: new(int64(172800)),
		},
		GPU:   spec.GPUPlacement(),
		Kueue: &spec.KueueJob{Queue: "research", QueueFrom: "training.scheduling.queue", PriorityClass: "high", PriorityFrom: "training.scheduling.priorityClass"},
	}
}

func render(t *testing.T, app *spec.AppSpec) ([]byte, []map[string]any) {
	t.Helper()
	objs, err := Generate(app, &spec.Platform{Name: "ml"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	var out []map[string]any
	for _, o := range objs {
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		buf.WriteString("---\n")
		buf.Write(b)
		out = append(out, o.Object)
	}
	return buf.Bytes(), out
}

func TestGolden(t *testing.T) {
	b, _ := render(t, fullJob())
	golden.Check(t, "testdata/full.golden.yaml", b)
}

// TestPassesTheCRD checks the generated TrainJob against Trainer v2.3's
// CRD, with its CEL rules, as the API server would on create.
func TestPassesTheCRD(t *testing.T) {
	s, err := admission.Default()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Generate(fullJob(), &spec.Platform{Name: "ml"})
	if err != nil {
		t.Fatal(err)
	}
	job := objs[len(objs)-1]
	if job.GetKind() != "TrainJob" || !s.Knows(job.GroupVersionKind()) {
		t.Fatalf("last object %s, and the CRD schemas know it: %v", job.GetKind(), s.Knows(job.GroupVersionKind()))
	}
	if found := s.CheckIn(job.Unstructured, "research-dev"); len(found) > 0 {
		t.Errorf("the TrainJob CRD refuses the generated job: %+v", found)
	}
	// And it does refuse a broken one, so the check above can fail.
	broken := job.DeepCopy()
	_ = unstructuredSet(broken.Object, "spec", "runtimeRef", "name", "")
	if found := s.CheckIn(broken, "research-dev"); len(found) == 0 {
		t.Error("a TrainJob without a runtime name passes the CRD")
	}
}

func unstructuredSet(obj map[string]any, path ...any) bool {
	m := obj
	for i := 0; i < len(path)-2; i++ {
		next, ok := m[path[i].(string)].(map[string]any)
		if !ok {
			return false
		}
		m = next
	}
	m[path[len(path)-2].(string)] = path[len(path)-1]
	return true
}

// TestProvenance checks that fields remember the spec field that set them.
func TestProvenance(t *testing.T) {
	objs, err := Generate(fullJob(), nil)
	if err != nil {
		t.Fatal(err)
	}
	job := objs[len(objs)-1]
	for field, want := range map[string]string{
		"spec.trainer.image":                        "training.image",
		"spec.trainer.numNodes":                     "training.numNodes",
		"spec.trainer.resourcesPerNode.limits.cpu":  "training.resourcesPerNode",
		"spec.trainer.env[1].valueFrom":             "training.env.WANDB_API_KEY",
		"spec.trainer.args[1]":                      "training.hyperparameters.epochs",
		"spec.initializer.model.storageUri":         "training.initializer.model.storageUri",
		"spec.runtimeRef.name":                      "training.framework",
		"metadata.labels.kueue.x-k8s.io/queue-name": "training.scheduling.queue",
		"spec.runtimePatches[0].trainingRuntimeSpec.template.spec.replicatedJobs[0].template.spec.template.spec.nodeSelector.dmls.dev/gpu": "training.resourcesPerNode.gpu",
		"spec.runtimePatches[0].trainingRuntimeSpec.template.spec.replicatedJobs[0].template.spec.template.spec.volumes[1]":                "training.volumes.data",
		"spec.runtimePatches[0].trainingRuntimeSpec.template.spec.replicatedJobs[0].template.spec.template.metadata.annotations":           "training.podMetadata",
	} {
		if got, _ := job.Trace.Spec(field); got != want {
			t.Errorf("%s comes from %q, want %q", field, got, want)
		}
	}
}

// TestRuntimePatchTargetsTheTrainer checks that dmls's patch goes to each
// replicated job that runs the trainer: node alone for torch, launcher
// and node for DeepSpeed and MLX.
func TestRuntimePatchTargetsTheTrainer(t *testing.T) {
	for fw, want := range map[string]string{spec.FrameworkPyTorch: "node", spec.FrameworkDeepSpeed: "launcher,node", spec.FrameworkMLX: "launcher,node", spec.FrameworkJAX: "node"} {
		app := fullJob()
		app.Training.Framework = fw
		objs, err := Generate(app, nil)
		if err != nil {
			t.Fatal(err)
		}
		job := objs[len(objs)-1].Object
		patches := job["spec"].(map[string]any)["runtimePatches"].([]any)
		p := patches[0].(map[string]any)
		if p["manager"] != Manager {
			t.Errorf("%s: manager %v", fw, p["manager"])
		}
		var names []string
		for _, rj := range p["trainingRuntimeSpec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["replicatedJobs"].([]any) {
			names = append(names, rj.(map[string]any)["name"].(string))
		}
		if got := strings.Join(names, ","); got != want {
			t.Errorf("%s: patches %s, want %s", fw, got, want)
		}
		ref := job["spec"].(map[string]any)["runtimeRef"].(map[string]any)["name"]
		if ref != spec.DefaultRuntime(fw) {
			t.Errorf("%s: runtime %v, want %s", fw, ref, spec.DefaultRuntime(fw))
		}
	}
}

// TestTFJobsAreNotTrainJobs checks that the generator leaves TFJobs (and
// apps without training) to the TFJob generator.
func TestTFJobsAreNotTrainJobs(t *testing.T) {
	for _, app := range []*spec.AppSpec{{Name: "x"}, {Name: "x", Training: &spec.TrainingJob{Framework: spec.FrameworkTensorFlow}}, {Name: "x", Training: &spec.TrainingJob{}}} {
		if objs, err := Generate(app, nil); err != nil || len(objs) != 0 {
			t.Errorf("%+v: %v, %v; want nothing", app.Training, objs, err)
		}
	}
}
