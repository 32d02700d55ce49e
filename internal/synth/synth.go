// Package synth makes synthetic workspaces for scale tests and benchmarks.
package synth

import (
	"fmt"
	"testing/fstest"
)

// Workspace is a workspace of n apps, each with training and serving, in
// three environments: the scale dmls is designed for. Apps are named
// app-0000, app-0001, ... in apps/<name>/app.cue.
func Workspace(n int) fstest.MapFS {
	fsys := fstest.MapFS{
		"platform.cue":         {Data: []byte("name: \"p\"\nteams: t: {}\nrepos: \"k8s-config\": url: \"https://git.example.com/k.git\"\n")},
		"overlays/dev.cue":     {Data: []byte("order: 0\nnamespaces: t: \"t-dev\"\nserving: minScale: 0\n")},
		"overlays/staging.cue": {Data: []byte("order: 1\nnamespaces: t: \"t-staging\"\n")},
		"overlays/prod.cue":    {Data: []byte("order: 2\nnamespaces: t: \"t-prod\"\nimageTags: \"pinned\"\nserving: minScale: 2\n")},
	}
	for i := 0; i < n; i++ {
		fsys[fmt.Sprintf("apps/app-%04d/app.cue", i)] = &fstest.MapFile{Data: []byte(fmt.Sprintf(`name: "app-%04d"
team: "t"
training: {
	image: "registry.example.com/train:1.%d"
	hyperparameters: {learning_rate: 0.01, epochs: %d}
	volumes: data: {mountPath: "/data", create: size: "1Gi"}
	resources: {cpu: "1", memory: "2Gi"}
	replicas: {chief: replicas: 1, worker: replicas: 2}
}
serving: {
	image: "registry.example.com/serve:1.%d"
	revision: "v2"
	autoscaling: maxScale: 4
}
overrides: prod: training: replicas: worker: replicas: 4
overrides: staging: serving: traffic: {stable: "v1", canaryPercent: 20}
`, i, i, i%10, i))}
	}
	return fsys
}
