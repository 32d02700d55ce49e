package tfjob

import (
	"bytes"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/dmls-project/dmls/internal/golden"
	"github.com/dmls-project/dmls/internal/spec"
)

// fullJob uses every training feature: all four roles, GPUs, tolerations,
// node selectors, per-role overrides, volumes with and without claims,
// hyperparameters as env, and every run policy.
func fullJob() *spec.AppSpec {
	return &spec.AppSpec{
		Name: "resnet", Team: "vision", Labels: map[string]string{"cost-center": "ml"},
		Training: &spec.TrainingJob{
			Container: spec.Container{
				Image:   "registry.example.com/vision/resnet:2.1",
				Command: []string{"python", "-m", "train"},
				Args:    []string{"--data=/data"},
				Env: map[string]spec.EnvValue{
					"TF_CPP_MIN_LOG_LEVEL": spec.Literal("2"),
					"WANDB_API_KEY":        {SecretRef: &spec.KeyRef{Name: "resnet-wandb", Key: "api-key"}},
					"DATASET":              {ConfigMapRef: &spec.KeyRef{Name: "resnet-data", Key: "dataset", Optional: new(true)}},
				},
				EnvFrom: []spec.EnvSource{{SecretRef: &spec.ObjectRef{Name: "resnet-s3"}, Prefix: "S3_"}},
				Resources: &spec.Resources{CPU: "4", Memory: "16Gi", GPU: new(2),
					Limits: &spec.Limits{Memory: "20Gi"}},
				NodeSelector: map[string]string{"node.kubernetes.io/instance-type": "p3.8xlarge"},
				Tolerations:  []spec.Toleration{{Key: "nvidia.com/gpu", Operator: "Exists", Effect: "NoSchedule"}},
				Volumes: map[string]spec.Volume{
					"data":   {MountPath: "/data", ClaimName: "imagenet", ReadOnly: true},
					"models": {MountPath: "/models", Create: &spec.VolumeClaim{Size: "50Gi", AccessModes: []string{"ReadWriteMany"}, StorageClass: "efs"}},
				},
			},
			Run:               3,
			Hyperparameters:   map[string]any{"learning_rate": 0.1, "batch_size": 256, "augment": true},
			HyperparametersAs: "env",
			Replicas: spec.Replicas{
				Chief: &spec.ReplicaSet{Replicas: 1},
				Worker: &spec.ReplicaSet{Replicas: 4, RestartPolicy: "OnFailure", Container: spec.Container{
					Env:     map[string]spec.EnvValue{"DATASET": {SecretRef: &spec.KeyRef{Name: "resnet-private-data", Key: "dataset"}}},
					EnvFrom: []spec.EnvSource{{ConfigMapRef: &spec.ObjectRef{Name: "resnet-worker"}}},
				}},
				PS:        &spec.ReplicaSet{Replicas: 2, Container: spec.Container{Resources: &spec.Resources{CPU: "2", Memory: "8Gi"}, Tolerations: []spec.Toleration{}}},
				Evaluator: &spec.ReplicaSet{Replicas: 1, Container: spec.Container{Image: "registry.example.com/vision/resnet-eval:2.1"}},
			},
			RestartPolicy:           "Never",
			CleanPodPolicy:          "Running",
			BackoffLimit:            new(int32(3)),
			ActiveDeadlineSeconds:   new(int64(86400)),
			TTLSecondsAfterFinished: new(int32(3600)),
			SuccessPolicy:           "AllWorkers",
			Scheduling:              &spec.Scheduling{Queue: "gpu", PriorityClass: "high", MinAvailable: new(int32(8))},
		},
	}
}

func TestGolden(t *testing.T) {
	objs, err := Generate(fullJob(), &spec.Platform{Name: "ml"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, o := range objs {
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		buf.WriteString("---\n")
		buf.Write(b)
	}
	golden.Check(t, "testdata/full.golden.yaml", buf.Bytes())
}

// TestProvenance checks that fields remember the spec field that set them,
// including per-role overrides.
func TestProvenance(t *testing.T) {
	objs, err := Generate(fullJob(), nil)
	if err != nil {
		t.Fatal(err)
	}
	job := objs[len(objs)-1]
	for field, want := range map[string]string{
		"spec.tfReplicaSpecs.Worker.replicas":                                       "training.replicas.worker.replicas",
		"spec.tfReplicaSpecs.Evaluator.template.spec.containers[0].image":           "training.replicas.evaluator.image",
		"spec.tfReplicaSpecs.Chief.template.spec.containers[0].image":               "training.image",
		"spec.tfReplicaSpecs.PS.template.spec.containers[0].resources.requests.cpu": "training.replicas.ps.resources",
		"spec.tfReplicaSpecs.Worker.restartPolicy":                                  "training.replicas.worker.restartPolicy",
		"spec.tfReplicaSpecs.Chief.restartPolicy":                                   "training.restartPolicy",
		"spec.tfReplicaSpecs.Chief.template.spec.containers[0].env[2].valueFrom":    "training.env.WANDB_API_KEY",
		"spec.tfReplicaSpecs.Worker.template.spec.containers[0].env[0].valueFrom":   "training.replicas.worker.env.DATASET",
		"spec.tfReplicaSpecs.Chief.template.spec.containers[0].envFrom[0].prefix":   "training.envFrom[0]",
		"spec.tfReplicaSpecs.Worker.template.spec.containers[0].envFrom[0]":         "training.replicas.worker.envFrom[0]",
	} {
		if got, _ := job.Trace.Spec(field); got != want {
			t.Errorf("%s comes from %q, want %q", field, got, want)
		}
	}
}

func TestNoTraining(t *testing.T) {
	objs, err := Generate(&spec.AppSpec{Name: "x"}, nil)
	if err != nil || len(objs) != 0 {
		t.Errorf("Generate without training = %v, %v; want nothing", objs, err)
	}
}

// TestGPUPlacement checks that pods requesting GPUs get the GPU groups'
// node selector and toleration (once, next to the spec's own), with their
// provenance on the GPU request, and that pods without GPUs get neither
// (issue 9).
func TestGPUPlacement(t *testing.T) {
	app := fullJob()
	app.GPU = spec.GPUPlacement()
	objs, err := Generate(app, &spec.Platform{Name: "ml"})
	if err != nil {
		t.Fatal(err)
	}
	job := objs[len(objs)-1]
	var tj struct {
		Spec struct {
			TFReplicaSpecs map[string]struct {
				Template struct {
					Spec struct {
						NodeSelector map[string]string   `json:"nodeSelector"`
						Tolerations  []map[string]string `json:"tolerations"`
					} `json:"spec"`
				} `json:"template"`
			} `json:"tfReplicaSpecs"`
		} `json:"spec"`
	}
	b, _ := yaml.Marshal(job.Object)
	if err := yaml.Unmarshal(b, &tj); err != nil {
		t.Fatal(err)
	}
	worker := tj.Spec.TFReplicaSpecs["Worker"].Template.Spec
	if worker.NodeSelector[spec.GPULabel] != spec.GPULabelValue || worker.NodeSelector["node.kubernetes.io/instance-type"] != "p3.8xlarge" {
		t.Errorf("worker node selector %v", worker.NodeSelector)
	}
	if len(worker.Tolerations) != 1 || worker.Tolerations[0]["key"] != spec.GPUTaintKey {
		t.Errorf("worker tolerations %v, want the spec's one GPU toleration, not twice", worker.Tolerations)
	}
	ps := tj.Spec.TFReplicaSpecs["PS"].Template.Spec
	if ps.NodeSelector[spec.GPULabel] != "" || len(ps.Tolerations) != 0 {
		t.Errorf("parameter servers request no GPU but got %v %v", ps.NodeSelector, ps.Tolerations)
	}
	if got, _ := job.Trace.Spec("spec.tfReplicaSpecs.Worker.template.spec.nodeSelector." + spec.GPULabel); got != "training.resources.gpu" {
		t.Errorf("node selector provenance %q", got)
	}

	// Without the spec's own toleration, the GPU one is added.
	app.Training.Tolerations = nil
	objs, err = Generate(app, &spec.Platform{Name: "ml"})
	if err != nil {
		t.Fatal(err)
	}
	job = objs[len(objs)-1]
	if got, _ := job.Trace.Spec("spec.tfReplicaSpecs.Chief.template.spec.tolerations[0]"); got != "training.resources.gpu" {
		t.Errorf("toleration provenance %q", got)
	}
	tol, _, _ := unstructuredSlice(job.Object, "spec", "tfReplicaSpecs", "Chief", "template", "spec", "tolerations")
	if len(tol) != 1 {
		t.Errorf("chief tolerations %v", tol)
	}
}

func unstructuredSlice(obj map[string]any, fields ...string) ([]any, bool, error) {
	var cur any = obj
	for _, f := range fields {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false, nil
		}
		cur = m[f]
	}
	s, ok := cur.([]any)
	return s, ok, nil
}
