package argocd

import (
	"testing"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/generators/kservice"
	"github.com/dmls-project/dmls/generators/tfjob"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/spec"
)

// Servers of the fixture: dev runs where Argo CD runs, prod on a cluster
// of its own.
const (
	devServer  = InClusterServer
	prodServer = "https://prod.k8s.example.com:6443"
)

// fixturePlatform has two teams, four config repos and a k8s-config path
// prefix.
func fixturePlatform() *spec.Platform {
	return &spec.Platform{
		Name: "ml-platform",
		Teams: map[string]spec.Team{
			"ml-research": {Description: "Trains and serves the fashion-mnist models", Quota: &spec.Quota{CPU: "16", Memory: "64Gi", GPU: new(4)}},
			"ml-serving":  {},
		},
		Repos: map[string]spec.Repo{
			layout.RepoK8sConfig:      {URL: "https://git.example.com/dmls/k8s-config.git", Branch: "main", Path: "clusters/ml"},
			layout.RepoKubeflowConfig: {URL: "https://git.example.com/dmls/kubeflow-config.git", Branch: "main"},
			layout.RepoInfra:          {URL: "https://git.example.com/dmls/infra.git", Branch: "main"},
			layout.RepoMLModel:        {URL: "https://git.example.com/dmls/ml-model.git", Branch: "main"},
		},
		ArgoCD: spec.ArgoCD{Namespace: "argocd"},
	}
}

func fixtureEnvs() []*spec.Environment {
	return []*spec.Environment{
		{Name: "dev", Order: 0, Cluster: spec.Cluster{Server: devServer}, Namespaces: map[string]string{
			"ml-research": "ml-research-dev", "ml-serving": "ml-serving-dev",
		}},
		{Name: "prod", Order: 1, Cluster: spec.Cluster{Server: prodServer}, Namespaces: map[string]string{
			"ml-research": "ml-research", "ml-serving": "ml-serving",
		}},
	}
}

// fixtureSpecs are the apps of the fixture in each environment: one that
// trains and serves, one that only serves and sets the revision timeout
// itself.
func fixtureSpecs() map[string][]*spec.AppSpec {
	training := func(workers int) *spec.TrainingJob {
		return &spec.TrainingJob{
			Container: spec.Container{
				Image:   "kubeflow/multi-worker-strategy:v0.1",
				Command: []string{"python", "/distributed-training.py"},
				Volumes: map[string]spec.Volume{"training": {
					MountPath: "/trained_model", ClaimName: "fashion-mnist-model",
					Create: &spec.VolumeClaim{Size: "8Gi", AccessModes: []string{"ReadWriteOnce"}},
				}},
			},
			Run:               3,
			HyperparametersAs: "args",
			Replicas:          spec.Replicas{Worker: &spec.ReplicaSet{Replicas: workers}},
			RestartPolicy:     "Never",
			CleanPodPolicy:    "None",
		}
	}
	serving := func(minScale int) *spec.ModelService {
		return &spec.ModelService{
			Model:       &spec.Model{StorageURI: "pvc://fashion-mnist-model/saved_model_versions", Runtime: "tensorflow-serving", RuntimeVersion: "2.14.1"},
			Resources:   &spec.Resources{CPU: "1", Memory: "2Gi"},
			Autoscaling: spec.Autoscaling{MinScale: new(minScale), Target: new(10)},
			Revision:    "v2",
		}
	}
	ranker := func() *spec.ModelService {
		return &spec.ModelService{
			Image:       "registry.example.com/ranker:1.4.0",
			Autoscaling: spec.Autoscaling{TimeoutSeconds: new(60), ContainerConcurrency: new(8)},
			Revision:    "v7",
			Traffic:     spec.Traffic{Stable: "v6", CanaryPercent: new(10)},
		}
	}
	return map[string][]*spec.AppSpec{
		"dev": {
			{Name: "fashion-mnist", Team: "ml-research", Training: training(1), Serving: serving(0)},
			{Name: "ranker", Team: "ml-serving", Serving: ranker()},
		},
		"prod": {
			{Name: "fashion-mnist", Team: "ml-research", Training: training(8), Serving: serving(2)},
		},
	}
}

// fixtureApps runs the real app generators over fixtureSpecs.
func fixtureApps(t testing.TB) []App {
	t.Helper()
	p := fixturePlatform()
	var out []App
	specs := fixtureSpecs()
	for _, env := range []string{"dev", "prod"} {
		for _, a := range specs[env] {
			var objs []generators.Object
			for _, g := range []generators.Func{tfjob.Generate, kservice.Generate} {
				o, err := g(a, p)
				if err != nil {
					t.Fatalf("generate %s in %s: %v", a.Name, env, err)
				}
				objs = append(objs, o...)
			}
			out = append(out, App{Name: a.Name, Team: a.Team, Env: env, Objects: objs})
		}
	}
	return out
}

func platformDir(env string) string { return "platform/" + env }

func fixtureInput(t testing.TB) Input {
	return Input{Platform: fixturePlatform(), Envs: fixtureEnvs(), Apps: fixtureApps(t), PlatformDir: platformDir}
}
