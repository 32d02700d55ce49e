package build

import (
	"bytes"
	"testing"
	"testing/fstest"

	"github.com/dmls-project/dmls/internal/kbuild"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/spec"
	"github.com/dmls-project/dmls/internal/workspace"
)

// everyFeature is a workspace whose apps use every spec feature that
// changes generated objects, in environments that adjust them, with apps
// that run in only some environments and overrides that add and remove
// objects between the base and an overlay.
func everyFeature() fstest.MapFS {
	return fstest.MapFS{
		"platform.cue": {Data: []byte(`name: "p"
teams: {t: {}, u: {}}
repos: "k8s-config": url: "https://git.example.com/k.git"
`)},
		"overlays/dev.cue":     {Data: []byte("order: 0\nnamespaces: {t: \"t-dev\", u: \"u-dev\"}\ntraining: workerReplicas: 1\nserving: {minScale: 0, maxScale: 2}\n")},
		"overlays/staging.cue": {Data: []byte("order: 1\nnamespaces: {t: \"t-staging\", u: \"u-staging\"}\nserving: {minScale: 1, target: 20, containerConcurrency: 4, timeoutSeconds: 120}\n")},
		"overlays/prod.cue":    {Data: []byte("order: 2\nnamespaces: {t: \"t-prod\", u: \"u-prod\"}\nimageTags: \"pinned\"\ntraining: {maxReplicas: 16, resources: {cpu: \"2\", memory: \"4Gi\"}}\nserving: {minScale: 2, maxScale: 10}\n")},
		"apps/full/app.cue": {Data: []byte(`name: "full"
team: "t"
labels: {tier: "gold"}
training: {
	image: "registry.example.com/train:1.0"
	command: ["python", "/train.py"]
	args: ["--flag"]
	env: {LOG_LEVEL: "info"}
	hyperparameters: {learning_rate: 0.01, epochs: 3, use_bn: true, model: "cnn"}
	volumes: {
		data: {mountPath: "/data", create: {size: "1Gi", accessModes: ["ReadWriteMany"], storageClass: "fast"}}
		shared: {mountPath: "/shared", claimName: "team-shared", readOnly: true, subPath: "models"}
	}
	resources: {cpu: "1", memory: "2Gi", gpu: 1, limits: {cpu: "2", memory: "4Gi"}}
	nodeSelector: {"nvidia.com/gpu.present": "true"}
	tolerations: [{key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule"}]
	replicas: {
		chief: {replicas: 1, image: "registry.example.com/chief:1.0"}
		worker: {replicas: 3, restartPolicy: "OnFailure", env: {ROLE: "worker"}}
		ps: {replicas: 2, resources: {cpu: "500m"}}
		evaluator: {replicas: 1, args: ["--eval"]}
	}
	restartPolicy: "ExitCode"
	cleanPodPolicy: "Running"
	backoffLimit: 3
	activeDeadlineSeconds: 3600
	successPolicy: "AllWorkers"
	scheduling: {queue: "research", priorityClass: "high", minAvailable: 2}
	run: 7
}
serving: {
	model: {storageUri: "pvc://full-data/saved_model", name: "full"}
	port: 8501
	env: {MODEL_LOG: "1"}
	resources: {cpu: "1", memory: "2Gi", limits: {cpu: "2", memory: "4Gi"}}
	autoscaling: {maxScale: 4, target: 10}
	revision: "v3"
	traffic: {stable: "v2", canaryPercent: 25, tags: {blue: "v2"}}
}
overrides: {
	dev: training: hyperparametersAs: "env"
	prod: {
		training: replicas: worker: replicas: 8
		serving: {autoscaling: maxScale: 6, traffic: canaryPercent: 50}
	}
}
`)},
		"apps/image-only/app.cue": {Data: []byte(`name: "image-only"
team: "u"
envs: ["dev", "prod"]
serving: {
	image: "registry.example.com/serve:2.1"
	command: ["/serve"]
	args: ["--port=8080"]
	port: 8080
	revision: "r1"
	traffic: pinned: true
}
`)},
		"apps/train-only/app.cue": {Data: []byte(`name: "train-only"
team: "u"
training: {
	image: "registry.example.com/t:3"
	replicas: worker: replicas: 2
	volumes: out: {mountPath: "/out", create: size: "5Gi"}
}
overrides: staging: training: volumes: out: claimName: "existing-out"
`)},
	}
}

// testWorkspaces are the workspaces the byte-for-byte tests run on: the
// example, one that uses every spec feature, and a synthetic one of n
// apps, each loaded when its subtest runs.
func testWorkspaces(n int) map[string]func(t *testing.T) *spec.Workspace {
	load := func(fsys fstest.MapFS) func(t *testing.T) *spec.Workspace {
		return func(t *testing.T) *spec.Workspace {
			ws, err := workspace.Load(fsys, "ws", workspace.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return ws
		}
	}
	return map[string]func(t *testing.T) *spec.Workspace{
		"example":       func(t *testing.T) *spec.Workspace { return loadExample(t) },
		"every feature": load(everyFeature()),
		"synthetic":     load(manyApps(n)),
	}
}

// TestDirectRenderEqualsKustomize is the contract of the render fast
// path: for every app and environment, kustomize.Build gives byte for byte
// what the kustomize API builds from the committed overlay.
func TestDirectRenderEqualsKustomize(t *testing.T) {
	for name, load := range testWorkspaces(5) {
		t.Run(name, func(t *testing.T) {
			ws := load(t)
			res, err := Workspace(ws, Options{})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, a := range res.Apps {
				for _, env := range ws.Envs {
					got, ok, err := a.Render(env.Name)
					if err != nil {
						t.Fatal(err)
					}
					if !ok {
						continue
					}
					want, err := kbuild.Build(a.Tree, layout.OverlayDir(a.App.Name, env.Name))
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, want) {
						t.Errorf("%s/%s: direct render differs from kustomize build\n--- kustomize\n%s\n--- direct\n%s", a.App.Name, env.Name, want, got)
					}
					n++
				}
			}
			if n < 3 {
				t.Fatalf("compared only %d overlays", n)
			}
		})
	}
}

// benchmarkRender renders every overlay of 1000 built apps, one after the
// other (the CLI renders apps in parallel on top of this).
func benchmarkRender(b *testing.B, viaKustomize bool) {
	ws, err := workspace.Load(manyApps(1000), "ws", workspace.Options{})
	if err != nil {
		b.Fatal(err)
	}
	res, err := Workspace(ws, Options{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		for _, a := range res.Apps {
			for _, env := range ws.Envs {
				if viaKustomize {
					_, err = kbuild.Build(a.Tree, layout.OverlayDir(a.App.Name, env.Name))
				} else {
					_, _, err = a.Render(env.Name)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}

// BenchmarkRender1000AppsDirect is the render fast path: 3,000 overlays.
func BenchmarkRender1000AppsDirect(b *testing.B) { benchmarkRender(b, false) }

// BenchmarkRender1000AppsViaKustomize runs the kustomize API on the same
// 3,000 overlays, as --via-kustomize does.
func BenchmarkRender1000AppsViaKustomize(b *testing.B) { benchmarkRender(b, true) }

// TestDirectPlatformRenderEqualsKustomize is the contract of the platform
// fast path: for every environment's platform folder and the API server's,
// Result.RenderPlatform gives byte for byte what the kustomize API builds
// from the committed folder, for the workspaces of Workspace and of Whole
// (the cache's path).
func TestDirectPlatformRenderEqualsKustomize(t *testing.T) {
	for name, fsys := range testWorkspaces(40) {
		t.Run(name, func(t *testing.T) {
			ws := fsys(t)
			res, err := Workspace(ws, Options{})
			if err != nil {
				t.Fatal(err)
			}
			kept := make([]Kept, len(res.Apps))
			for i, a := range res.Apps {
				kept[i] = a.Kept()
			}
			whole, err := Whole(ws, kept)
			if err != nil {
				t.Fatal(err)
			}
			dirs := []string{layout.APIServerDir}
			for _, env := range ws.Envs {
				dirs = append(dirs, layout.PlatformDir(env.Name))
			}
			n := 0
			for _, r := range []*Result{res, whole} {
				for _, dir := range dirs {
					got, ok, err := r.RenderPlatform(dir)
					if err != nil {
						t.Fatal(err)
					}
					_, committed := r.Platform[dir+"/"+layout.KustomizationFile]
					if ok != committed {
						t.Fatalf("%s: RenderPlatform ok=%v, but the tree has the folder: %v", dir, ok, committed)
					}
					if !ok {
						continue
					}
					want, err := kbuild.Build(r.Platform, dir)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, want) {
						t.Errorf("%s: direct render differs from kustomize build\n--- kustomize\n%s\n--- direct\n%s", dir, want, got)
					}
					n++
				}
			}
			if n < 2*len(ws.Envs) {
				t.Fatalf("compared only %d folders", n)
			}
		})
	}
}
