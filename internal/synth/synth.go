// Package synth makes synthetic workspaces for scale tests and benchmarks.
package synth

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing/fstest"
)

// Workspace is a workspace of n apps in three environments (dev, staging,
// prod), of the shapes a platform of many models has. Apps are named
// app-0000, app-0001, ... in apps/<name>/app.cue, and app i is:
//   - training: one to three replica sets (worker; chief and worker;
//     chief, worker and ps, by i%3), GPUs on every fourth, a data volume
//     that dmls creates and, on every other, a read-only model volume,
//     hyperparameters as args or (every fifth) as environment variables;
//   - serving, on nine in ten: KServe on app 8, 18, 28, ... (a model
//     from storage), else Knative, with a canary traffic split in staging
//     on every third;
//   - overrides: four workers in prod, the canary in staging, and a
//     pinned revision or a bigger scale in prod on some.
//
// The environments adjust replicas, scale and resources, so every app is
// layered differently in each.
func Workspace(n int) fstest.MapFS {
	fsys := fstest.MapFS{
		"platform.cue":         {Data: []byte("name: \"p\"\nteams: t: {}\nrepos: \"k8s-config\": url: \"https://git.example.com/k.git\"\n")},
		"overlays/dev.cue":     {Data: []byte("order: 0\nnamespaces: t: \"t-dev\"\nserving: minScale: 0\ntraining: workerReplicas: 1\n")},
		"overlays/staging.cue": {Data: []byte("order: 1\nnamespaces: t: \"t-staging\"\nserving: deploymentMode: \"RawDeployment\"\n")},
		"overlays/prod.cue":    {Data: []byte("order: 2\nnamespaces: t: \"t-prod\"\nimageTags: \"pinned\"\nserving: minScale: 2\nserving: maxScale: 8\ntraining: resources: {cpu: \"2\", memory: \"4Gi\"}\n")},
	}
	for i := 0; i < n; i++ {
		fsys[fmt.Sprintf("apps/app-%04d/app.cue", i)] = &fstest.MapFile{Data: []byte(App(i))}
	}
	return fsys
}

// App is the spec of app i of Workspace.
func App(i int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: \"app-%04d\"\nteam: \"t\"\n", i)
	replicas := []string{
		"worker: replicas: 2",
		"chief: replicas: 1, worker: replicas: 2",
		"chief: replicas: 1, worker: replicas: 3, ps: {replicas: 1, resources: {cpu: \"1\", memory: \"1Gi\"}}",
	}[i%3]
	resources := `{cpu: "1", memory: "2Gi"}`
	if i%4 == 0 {
		resources = `{cpu: "4", memory: "16Gi", gpu: 1, limits: {cpu: "4", memory: "16Gi"}}`
	}
	hpAs := ""
	if i%5 == 0 {
		hpAs = "\n\thyperparametersAs: \"env\""
	}
	model := ""
	if i%2 == 1 {
		model = "\n\tvolumes: model: {mountPath: \"/model\", readOnly: true, claimName: \"models\"}"
	}
	fmt.Fprintf(&b, `training: {
	image: "registry.example.com/train:1.%d"
	hyperparameters: {learning_rate: 0.01, epochs: %d, optimizer: "adam"}%s
	volumes: data: {mountPath: "/data", create: size: "%dGi"}%s
	resources: %s
	replicas: {%s}
}
`, i, 1+i%50, hpAs, 1+i%20, model, resources, replicas)
	serving := i%10 != 9
	switch {
	case !serving:
	case i%10 == 8:
		fmt.Fprintf(&b, `serving: {
	runtime: "kserve"
	model: {storageUri: "s3://models/app-%04d/v%d", format: "tensorflow"}
	autoscaling: maxScale: 4
}
`, i, 1+i%3)
	default:
		fmt.Fprintf(&b, `serving: {
	image: "registry.example.com/serve:1.%d"
	revision: "v2"
	autoscaling: {maxScale: 4, target: %d}
}
`, i%10, 10+i%90)
	}
	b.WriteString("overrides: prod: training: replicas: worker: replicas: 4\n")
	if serving && i%10 != 8 && i%3 == 0 {
		b.WriteString("overrides: staging: serving: traffic: {stable: \"v1\", canaryPercent: 20}\n")
	}
	if serving && i%11 == 0 {
		b.WriteString("overrides: prod: serving: autoscaling: maxScale: 16\n")
	}
	return b.String()
}

// Write writes Workspace(n) into the folder dir, which it creates.
func Write(dir string, n int) error {
	for name, f := range Workspace(n) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// ReleaseApp is app "mnist" of Workspace's team, whose model comes from
// training (run r<N> writes to pvc://models/mnist/r<N>): it trains in
// dev, and each run goes to staging after 1h and to prod on an approval,
// as a canary at 10% for 30m. release is more of its release policy and
// overrides its overrides, in CUE (each may be "").
func ReleaseApp(release, overrides string) string {
	return `name: "mnist"
team: "t"
training: {
	image: "registry.example.com/mnist:1.0"
	replicas: worker: replicas: 1
	output: storageUri: "pvc://models/mnist"
}
serving: model: fromTraining: true
release: {
	canary: {percent: 10, duration: "30m"}
	promotion: [{from: "dev", to: "staging", after: "1h"}, {from: "staging", to: "prod", approval: true}]
` + release + `}
` + overrides
}
