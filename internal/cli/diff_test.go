package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmls-project/dmls/internal/gittest"
	"github.com/dmls-project/dmls/internal/golden"
)

// diffPlatform is the platform of the history below; gpu is its quota.
func diffPlatform(gpu int) string {
	return fmt.Sprintf(`name: "ml-platform"
teams: "ml-research": {
	description: "Trains and serves models"
	quota: {cpu: "32", memory: "128Gi", gpu: %d, pods: 100}
}
repos: "k8s-config": url: "https://git.example.com/dmls/k8s-config-repo.git"
argocd: namespace: "argocd"
`, gpu)
}

const diffOldModel = `name: "old-model"
team: "ml-research"
training: {
	image: "registry.example.com/old-train:1.0"
	volumes: data: {mountPath: "/data", create: size: "1Gi"}
	resources: {cpu: "1", memory: "1Gi", limits: {cpu: "1", memory: "1Gi"}}
	replicas: worker: replicas: 1
}
`

const diffChurn = `name: "churn-model"
team: "ml-research"
envs: ["dev", "staging"]
serving: {
	image: "registry.example.com/churn-serve:1.0"
	resources: {cpu: "1", memory: "1Gi", limits: {cpu: "1", memory: "1Gi"}}
	revision: "v1"
	autoscaling: maxScale: 3
}
`

// fashionMNIST is the example app with its knobs: prod workers and GPUs,
// the staging canary and the run.
func fashionMNIST(workers, gpu, canary, run int) string {
	gpuLine := ""
	if gpu > 0 {
		gpuLine = fmt.Sprintf("\noverrides: prod: training: resources: gpu: %d", gpu)
	}
	return fmt.Sprintf(`name: "fashion-mnist"
team: "ml-research"
training: {
	image:   "kubeflow/multi-worker-strategy:v0.1"
	command: ["python", "/distributed-training.py"]
	hyperparameters: model_type: "cnn"
	volumes: training: {mountPath: "/trained_model", claimName: "fashion-mnist-model", create: size: "8Gi"}
	resources: {cpu: "500m", memory: "2Gi", limits: {cpu: "500m", memory: "4Gi"}}
	replicas: worker: replicas: 2
	run: %d
}
serving: {
	model: {storageUri: "pvc://fashion-mnist-model/saved_model_versions", name: "fashion-mnist"}
	resources: {cpu: "1", memory: "2Gi", limits: {cpu: "2", memory: "4Gi"}}
	autoscaling: target: 10
	revision: "v2"
}
overrides: staging: serving: traffic: {stable: "v1", canaryPercent: %d}
overrides: prod: training: replicas: worker: replicas: %d%s
`, run, canary, workers, gpuLine)
}

// fashionMNISTReordered is fashionMNIST(12, 1, 25, 2) with its fields and
// files in another order and other comments: the same specs.
const fashionMNISTReordered = `// The overrides first, this time.
overrides: prod: training: resources: gpu: 1
overrides: prod: training: replicas: worker: replicas: 12
overrides: staging: serving: traffic: {canaryPercent: 25, stable: "v1"}
serving: {
	revision: "v2"
	autoscaling: target: 10
	resources: {limits: {memory: "4Gi", cpu: "2"}, memory: "2Gi", cpu: "1"}
	model: {name: "fashion-mnist", storageUri: "pvc://fashion-mnist-model/saved_model_versions"}
}
training: {
	run: 2
	replicas: worker: replicas: 2
	resources: {limits: {memory: "4Gi", cpu: "500m"}, memory: "2Gi", cpu: "500m"}
	volumes: training: {create: size: "8Gi", claimName: "fashion-mnist-model", mountPath: "/trained_model"}
	hyperparameters: model_type: "cnn"
	command: ["python", "/distributed-training.py"]
	image:   "kubeflow/multi-worker-strategy:v0.1"
}
team: "ml-research"
name: "fashion-mnist"
`

// diffHistory builds a repository whose workspace is in specs/, one
// commit per kind of change, and returns it with the commits in order.
func diffHistory(t *testing.T) (*gittest.Local, []string, []string) {
	l := gittest.NewLocal(t, t.TempDir())
	example := func(p string) string {
		b, err := os.ReadFile(filepath.Join("..", "..", p))
		if err != nil {
			t.Fatal(err)
		}
		s := strings.ReplaceAll(string(b), `"ml-serving":  "ml-serving-`, `// "ml-serving": "ml-serving-`)
		// diffPlatform has no clusters for the environments to name, and
		// no Kueue.
		s = strings.ReplaceAll(s, "scheduler: \"kueue\"\n", "")
		return strings.ReplaceAll(s, "\tname:   \"mycluster\"\n", "")
	}
	l.Write(map[string]string{
		"README.md":                        "specs live in specs/\n",
		"specs/platform.cue":               diffPlatform(12),
		"specs/overlays/dev.cue":           example("overlays/dev.cue"),
		"specs/overlays/staging.cue":       example("overlays/staging.cue"),
		"specs/overlays/prod.cue":          example("overlays/prod.cue"),
		"specs/apps/fashion-mnist/app.cue": fashionMNIST(8, 0, 10, 1),
		"specs/apps/old-model/app.cue":     diffOldModel,
	})
	var names, commits []string
	commit := func(name string) {
		names = append(names, name)
		commits = append(commits, l.Commit(name))
		l.Git("tag", name)
	}
	commit("base")
	l.Write(map[string]string{"specs/apps/churn-model/app.cue": diffChurn})
	commit("add-app")
	l.Write(map[string]string{"specs/apps/fashion-mnist/app.cue": fashionMNIST(12, 1, 10, 1)})
	commit("scale-workers")
	l.Write(map[string]string{"specs/apps/fashion-mnist/app.cue": fashionMNIST(12, 1, 25, 1)})
	commit("change-canary")
	l.Write(map[string]string{"specs/apps/fashion-mnist/app.cue": fashionMNIST(12, 1, 25, 2)})
	commit("re-train")
	l.Write(map[string]string{"specs/apps/old-model/app.cue": ""})
	commit("remove-app")
	l.Write(map[string]string{"specs/platform.cue": diffPlatform(16)})
	commit("change-quota")
	l.Write(map[string]string{
		"specs/apps/fashion-mnist/app.cue": fashionMNISTReordered,
		"specs/platform.cue":               "argocd: namespace: \"argocd\"\n" + strings.Replace(diffPlatform(16), "argocd: namespace: \"argocd\"\n", "", 1),
	})
	commit("reorder-only")
	l.Write(map[string]string{"specs/platform.cue": "// The platform, with a comment.\n" + strings.ReplaceAll(diffPlatform(16), "\n", " // and another\n")})
	commit("comment-only")
	return l, names, commits
}

// runDMLS runs the CLI in-process.
func runDMLS(args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return out.String(), errb.String(), code
}

// TestDiffGolden walks a history of typical changes: each step against
// the one before, in text, and the whole history in every format.
func TestDiffGolden(t *testing.T) {
	l, names, commits := diffHistory(t)
	ws := filepath.Join(l.Dir, "specs")
	noChange := map[string]bool{"reorder-only": true, "comment-only": true}
	for i := 1; i < len(commits); i++ {
		t.Run(names[i], func(t *testing.T) {
			out, errs, code := runDMLS("diff", "-w", ws, "--base", names[i-1], "--head", names[i], "--exit-code")
			want := 1
			if noChange[names[i]] {
				want = 0
				if !strings.Contains(out, "No changes.") {
					t.Errorf("%s gives a diff:\n%s", names[i], out)
				}
			}
			if code != want {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, want, errs)
			}
			golden.Check(t, fmt.Sprintf("testdata/golden/diff/%d-%s.txt", i, names[i]), []byte(out))
		})
	}
	for _, f := range []struct{ format, ext string }{{"text", "txt"}, {"markdown", "md"}, {"json", "json"}} {
		t.Run("all-"+f.format, func(t *testing.T) {
			// The head is the working tree here.
			out, errs, code := runDMLS("diff", "-w", ws, "--base", "base", "--format", f.format)
			if code != 0 {
				t.Fatalf("exit code %d; stderr:\n%s", code, errs)
			}
			if f.format == "json" && !json.Valid([]byte(out)) {
				t.Fatalf("invalid JSON:\n%s", out)
			}
			golden.Check(t, "testdata/golden/diff/all."+f.ext, []byte(out))
		})
	}
}

// exampleMarkers delimit the example preview in docs/preview.md.
const (
	exampleStart = "<!-- example-preview:start (make golden rewrites this) -->\n"
	exampleEnd   = "<!-- example-preview:end -->\n"
)

// TestPreviewDocExampleGolden renders the preview of a typical pull request on the
// bundled example (staging canary 10%→25%, prod workers 8→12 with a GPU
// each, a re-training) and checks that docs/preview.md shows exactly it.
func TestPreviewDocExampleGolden(t *testing.T) {
	l := gittest.NewLocal(t, t.TempDir())
	files := map[string]string{}
	for _, p := range []string{"platform.cue", "overlays/dev.cue", "overlays/staging.cue", "overlays/prod.cue", "apps/fashion-mnist/app.cue", "apps/fashion-mnist/serving.cue", "apps/fashion-mnist/training.cue",
		"charts/nvidia-device-plugin/Chart.yaml", "charts/nvidia-device-plugin/values.yaml", "charts/nvidia-device-plugin/templates/daemonset.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", p))
		if err != nil {
			t.Fatal(err)
		}
		files[p] = string(b)
	}
	l.Write(files)
	l.Commit("the example")
	l.Git("update-ref", "refs/remotes/origin/main", "HEAD")
	edit := func(p, old, new string) {
		if !strings.Contains(files[p], old) {
			t.Fatalf("%s has no %q", p, old)
		}
		l.Write(map[string]string{p: strings.Replace(files[p], old, new, 1)})
	}
	edit("apps/fashion-mnist/serving.cue", "canaryPercent: 10", "canaryPercent: 25")
	edit("apps/fashion-mnist/training.cue", "overrides: prod: training: replicas: worker: replicas: 8",
		"overrides: prod: training: replicas: worker: replicas: 12\noverrides: prod: training: resources: gpu: 1\ntraining: run: 2")
	out, errs, code := runDMLS("diff", "-w", l.Dir, "--base", "origin/main", "--format", "markdown")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, errs)
	}
	// A warning names its file by the checkout's path, a temporary folder.
	out = strings.ReplaceAll(out, l.Dir+"/", "")
	golden.Check(t, "testdata/golden/diff/example.md", []byte(out))

	const page = "../../docs/preview.md"
	doc, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	i, j := strings.Index(s, exampleStart), strings.Index(s, exampleEnd)
	if i < 0 || j < i {
		t.Fatalf("docs/preview.md lacks the example preview between %q and %q", exampleStart, exampleEnd)
	}
	want := "`````markdown\n" + out + "`````\n"
	if s[i+len(exampleStart):j] == want {
		return
	}
	if golden.Updating() {
		if err := os.WriteFile(page, []byte(s[:i+len(exampleStart)]+want+s[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("the example preview in docs/preview.md is not what dmls diff prints; run make golden")
}

// TestCachedDiffIsIdentical holds the cached diff to the uncached one:
// every step of the history, and the whole of it in every format, with a
// cold cache and then a warm one, against --no-cache.
func TestCachedDiffIsIdentical(t *testing.T) {
	l, names, _ := diffHistory(t)
	ws := filepath.Join(l.Dir, "specs")
	cacheDir := filepath.Join(t.TempDir(), "cache")
	check := func(t *testing.T, args ...string) {
		want, wantErr, wantCode := runDMLS(append(args, "--no-cache")...)
		for _, run := range []string{"cold", "warm"} {
			got, gotErr, gotCode := runDMLS(append(args, "--cache-dir", cacheDir)...)
			if got != want || gotErr != wantErr || gotCode != wantCode {
				t.Errorf("%s cache: exit %d, want %d\nstdout:\n%s\nwant:\n%s\nstderr:\n%s\nwant:\n%s", run, gotCode, wantCode, got, want, gotErr, wantErr)
			}
		}
	}
	for i := 1; i < len(names); i++ {
		t.Run(names[i], func(t *testing.T) {
			check(t, "diff", "-w", ws, "--base", names[i-1], "--head", names[i], "--format", "json")
		})
	}
	// The working tree, over its GPU quota when the service scales out:
	// 12 prod workers and 2 to 3 replicas with a GPU each, for 14.
	l.Write(map[string]string{
		"specs/platform.cue":               diffPlatform(14),
		"specs/apps/fashion-mnist/app.cue": fashionMNIST(12, 1, 25, 2) + "overrides: prod: serving: {resources: gpu: 1, autoscaling: maxScale: 3}\n",
	})
	for _, format := range []string{"text", "markdown", "json"} {
		t.Run("all-"+format, func(t *testing.T) {
			check(t, "diff", "-w", ws, "--base", "base", "--format", format)
		})
	}
	t.Run("filters", func(t *testing.T) {
		check(t, "diff", "-w", ws, "--base", "base", "--env", "prod", "--app", "fashion-mnist")
		check(t, "diff", "-w", ws, "--base", "base", "--app", "no-such-app")
	})
}
