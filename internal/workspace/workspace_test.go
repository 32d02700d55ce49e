package workspace

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/schema"
)

const testPlatform = `name: "p"
teams: {
	research: {}
	other: {}
}
repos: "k8s-config": url: "https://git.example.com/k8s.git"
`

const testDev = `order: 0
namespaces: {research: "research-dev", other: "other-dev"}
serving: minScale: 0
training: maxReplicas: 20
`

const testProd = `order: 1
namespaces: {research: "research-prod", other: "other-prod"}
imageTags: "pinned"
serving: minScale: 2
`

const testApp = `name: "mnist"
team: "research"
training: {
	image: "registry.example.com/mnist:1.0"
	replicas: worker: replicas: 2
	resources: {cpu: "500m", memory: "1Gi"}
}
serving: {
	image: "registry.example.com/mnist-serve:1.0"
	revision: "v2"
}
overrides: prod: training: replicas: worker: replicas: 8
`

// fsWith returns a valid workspace with files replaced or added; a nil
// content deletes the file.
func fsWith(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{
		"platform.cue":       {Data: []byte(testPlatform)},
		"overlays/dev.cue":   {Data: []byte(testDev)},
		"overlays/prod.cue":  {Data: []byte(testProd)},
		"apps/mnist/app.cue": {Data: []byte(testApp)},
	}
	for name, data := range files {
		if data == "<delete>" {
			delete(fsys, name)
			continue
		}
		fsys[name] = mapFile(data)
	}
	return fsys
}

func mapFile(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

func TestLoadValid(t *testing.T) {
	ws, err := Load(fsWith(nil), "ws", Options{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(ws.Apps) != 1 || len(ws.Envs) != 2 {
		t.Fatalf("got %d apps, %d envs; want 1, 2", len(ws.Apps), len(ws.Envs))
	}
	a := ws.App("mnist")
	dev, prod := a.Instance("dev"), a.Instance("prod")
	if got := dev.Spec.Training.Replicas.Worker.Replicas; got != 2 {
		t.Errorf("dev workers = %d, want 2", got)
	}
	if got := prod.Spec.Training.Replicas.Worker.Replicas; got != 8 {
		t.Errorf("prod workers = %d, want 8 (override)", got)
	}
	if got := *dev.Spec.Serving.Autoscaling.MinScale; got != 0 {
		t.Errorf("dev minScale = %d, want 0 (environment)", got)
	}
	if got := *prod.Spec.Serving.Autoscaling.MinScale; got != 2 {
		t.Errorf("prod minScale = %d, want 2 (environment)", got)
	}
	if a.Base.Spec.Serving.Autoscaling.MinScale != nil {
		t.Errorf("base minScale set, want unset")
	}
	if prod.Namespace != "research-prod" {
		t.Errorf("prod namespace = %q", prod.Namespace)
	}
	// Provenance: the prod worker count comes from the override line.
	pos, ok := prod.Prov.Lookup("training.replicas.worker.replicas")
	if !ok || pos.String() != "ws/apps/mnist/app.cue:12:46" {
		t.Errorf("prod workers written at %v, want ws/apps/mnist/app.cue:12:46", pos)
	}
	pos, _ = prod.Prov.Lookup("serving.autoscaling.minScale")
	if pos.File != "ws/overlays/prod.cue" {
		t.Errorf("prod minScale written at %v, want ws/overlays/prod.cue", pos)
	}
}

// loadErrorCases are the bad inputs of TestLoadErrors.
var loadErrorCases = []struct {
	name  string
	files map[string]string
	// want are substrings of the findings, each of which must appear.
	want []string
}{
	{
		name:  "cue syntax error",
		files: map[string]string{"apps/mnist/app.cue": "name: \"mnist\"\nteam: {\n"},
		want:  []string{"ws/apps/mnist/app.cue:2:9: expected '}', found 'EOF'"},
	},
	{
		name:  "yaml syntax error",
		files: map[string]string{"apps/mnist/app.cue": "<delete>", "apps/mnist/app.yaml": "name: mnist\nteam: [unclosed\n"},
		want:  []string{"ws/apps/mnist/app.yaml:"},
	},
	{
		name:  "type violation",
		files: map[string]string{"apps/mnist/app.cue": strings.Replace(testApp, "replicas: 2", `replicas: "two"`, 1)},
		want:  []string{"ws/apps/mnist/app.cue:5:30: training.replicas.worker.replicas: "},
	},
	{
		name:  "unknown field",
		files: map[string]string{"apps/mnist/app.cue": strings.Replace(testApp, "image: \"registry.example.com/mnist:1.0\"", "image: \"registry.example.com/mnist:1.0\"\n\thostNetwork: true", 1)},
		want:  []string{"ws/apps/mnist/app.cue:5:2: training.hostNetwork: field not allowed"},
	},
	{
		name:  "unknown env in overrides",
		files: map[string]string{"apps/mnist/app.cue": testApp + "overrides: qa: training: replicas: worker: replicas: 1\n"},
		want:  []string{"ws/apps/mnist/app.cue:13:12: overrides.qa: unknown environment \"qa\""},
	},
	{
		name:  "unknown env in envs",
		files: map[string]string{"apps/mnist/app.cue": testApp + "envs: [\"dev\", \"qa\"]\n"},
		want:  []string{"ws/apps/mnist/app.cue:13:15: envs[1]: unknown environment \"qa\""},
	},
	{
		name:  "unknown team",
		files: map[string]string{"apps/mnist/app.cue": strings.Replace(testApp, `team: "research"`, `team: "nobody"`, 1)},
		want:  []string{"ws/apps/mnist/app.cue:2:1: team: unknown team \"nobody\"; the platform's teams are \"other\", \"research\""},
	},
	{
		name:  "name not DNS-1123",
		files: map[string]string{"apps/mnist/app.cue": strings.Replace(testApp, `name: "mnist"`, `name: "MNIST_v2"`, 1)},
		want:  []string{"ws/apps/mnist/app.cue:1:7: name: invalid value \"MNIST_v2\": must be a DNS-1035 label"},
	},
	{
		name:  "name looks like a path (..)",
		files: map[string]string{"apps/mnist/app.cue": strings.Replace(testApp, `name: "mnist"`, `name: "../x"`, 1)},
		want:  []string{"ws/apps/mnist/app.cue:1:7: name: invalid value \"../x\": must be a DNS-1035 label"},
	},
	{
		name:  "name looks like a path (a/b)",
		files: map[string]string{"apps/mnist/app.cue": strings.Replace(testApp, `name: "mnist"`, `name: "a/b"`, 1)},
		want:  []string{"ws/apps/mnist/app.cue:1:7: name: invalid value \"a/b\": must be a DNS-1035 label"},
	},
	{
		name:  "volume name looks like a path",
		files: map[string]string{"apps/mnist/app.cue": testApp + "training: volumes: \"../etc\": mountPath: \"/x\"\n"},
		want:  []string{"ws/apps/mnist/app.cue:13:20: training.volumes.../etc: field not allowed"},
	},
	{
		name:  "zero replicas",
		files: map[string]string{"apps/mnist/app.cue": strings.Replace(testApp, "replicas: 2", "replicas: 0", 1)},
		want:  []string{"ws/apps/mnist/app.cue:5:30: training.replicas.worker.replicas: invalid value 0: must be at least 1"},
	},
	{
		name:  "a billion replicas",
		files: map[string]string{"apps/mnist/app.cue": strings.Replace(testApp, "replicas: 2", "replicas: 1000000000", 1)},
		want:  []string{"ws/apps/mnist/app.cue:5:30: training.replicas.worker.replicas: invalid value 1000000000: must be at most 1000"},
	},
	{
		name:  "override above the environment's limit",
		files: map[string]string{"apps/mnist/app.cue": testApp + "overrides: dev: training: replicas: worker: replicas: 50\n"},
		want:  []string{"ws/apps/mnist/app.cue:13:45: overrides.dev.training.replicas.worker.replicas: 50 replicas exceed the limit of 20 set by environment dev"},
	},
	{
		name:  "unparsable quantity",
		files: map[string]string{"apps/mnist/app.cue": strings.Replace(testApp, `memory: "1Gi"`, `memory: "1 GB"`, 1)},
		want:  []string{"ws/apps/mnist/app.cue:6:35: training.resources.memory: invalid value \"1 GB\": must be a Kubernetes quantity"},
	},
	{
		name:  "limit below request",
		files: map[string]string{"apps/mnist/app.cue": strings.Replace(testApp, `memory: "1Gi"`, `memory: "1Gi", limits: memory: "512Mi"`, 1)},
		want:  []string{"training.resources.limits.memory: memory limit 512Mi is below the request 1Gi"},
	},
	{
		name: "duplicate app names",
		files: map[string]string{
			"apps/copy/app.cue": testApp,
		},
		want: []string{"name: duplicate app name \"mnist\""},
	},
	{
		name:  "enum value",
		files: map[string]string{"apps/mnist/app.cue": testApp + "training: restartPolicy: \"Sometimes\"\n"},
		want:  []string{"ws/apps/mnist/app.cue:13:26: training.restartPolicy: \"Sometimes\" is not one of Always, OnFailure, Never, ExitCode"},
	},
	{
		name:  "image tag policy",
		files: map[string]string{"apps/mnist/app.cue": strings.Replace(testApp, "mnist-serve:1.0", "mnist-serve:latest", 1)},
		want:  []string{"ws/apps/mnist/app.cue:9:2: serving.image: environment prod refuses the tag \"latest\": use a version tag such as :1.4.2 or a digest [image-tag]"},
	},
	{
		name:  "TFJob TTL fights Argo CD's selfHeal",
		files: map[string]string{"apps/mnist/app.cue": testApp + "training: ttlSecondsAfterFinished: 60\n"},
		want:  []string{"ws/apps/mnist/app.cue:13:11: training.ttlSecondsAfterFinished: Argo CD's selfHeal would recreate the TFJob", "[argocd-selfheal]"},
	},
	{
		name:  "TFJob TTL in one environment's override",
		files: map[string]string{"apps/mnist/app.cue": testApp + "overrides: prod: training: ttlSecondsAfterFinished: 0\n"},
		want:  []string{"ws/apps/mnist/app.cue:13:28: overrides.prod.training.ttlSecondsAfterFinished: Argo CD's selfHeal", "[argocd-selfheal]"},
	},
	{
		name:  "canary without stable",
		files: map[string]string{"apps/mnist/app.cue": testApp + "serving: traffic: canaryPercent: 10\n"},
		want:  []string{"serving.traffic.canaryPercent: a canary needs serving.traffic.stable"},
	},
	{
		name:  "both image and model",
		files: map[string]string{"apps/mnist/app.cue": testApp + "serving: model: storageUri: \"pvc://m/x\"\n"},
		want:  []string{"serving.model: set serving.image or serving.model, not both"},
	},
	{
		name: "yaml alias bomb",
		files: map[string]string{
			"apps/mnist/bomb.yaml": "a: &a [1,2,3,4,5,6,7,8,9]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\ni: [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n",
		},
		want: []string{"ws/apps/mnist/bomb.yaml:", "aliases"},
	},
	{
		name:  "namespace of Argo CD",
		files: map[string]string{"overlays/dev.cue": strings.Replace(testDev, `"research-dev"`, `"argocd"`, 1)},
		want:  []string{"ws/overlays/dev.cue:2:14: namespaces.research: namespace \"argocd\" is Argo CD's own"},
	},
	{
		name:  "no platform",
		files: map[string]string{"platform.cue": "<delete>"},
		want:  []string{"ws/platform.cue:1:1: no platform spec"},
	},
	{
		name:  "json spec checked like cue",
		files: map[string]string{"apps/json/app.json": `{"name": "json-app", "team": "research", "training": {"image": "x:1", "replicas": {"worker": {"replicas": -1}}}}`},
		want:  []string{"ws/apps/json/app.json:1:107: training.replicas.worker.replicas: invalid value -1: must be at least 1"},
	},
}

// TestLoadErrors covers the bad input of issue 2: each case gives a clear
// error naming the file (with line and column) and the field.
func TestLoadErrors(t *testing.T) {
	tests := loadErrorCases
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(fsWith(tt.files), "ws", Options{})
			var d diag.List
			if !errors.As(err, &d) {
				t.Fatalf("Load error = %v, want findings", err)
			}
			got := d.Error()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("findings do not contain %q:\n%s", w, got)
				}
			}
			for _, x := range d {
				if !x.Pos.IsValid() {
					t.Errorf("finding without a file: %s", x)
				}
			}
		})
	}
}

// TestLoadReportsEveryError checks that findings in several files and apps
// are all reported, not only the first.
func TestLoadReportsEveryError(t *testing.T) {
	_, err := Load(fsWith(map[string]string{
		"apps/a/app.cue": `name: "a", team: "nobody"` + "\n",
		"apps/b/app.cue": `name: "b", team: "research", training: {image: "x:1", replicas: worker: replicas: 0}` + "\n",
		"apps/c/app.cue": `name: "c", team: "research", bogus: 1` + "\n",
	}), "ws", Options{Workers: 2})
	var d diag.List
	if !errors.As(err, &d) {
		t.Fatalf("want findings, got %v", err)
	}
	for _, w := range []string{"ws/apps/a/app.cue", "ws/apps/b/app.cue", "ws/apps/c/app.cue"} {
		if !strings.Contains(d.Error(), w) {
			t.Errorf("no finding in %s:\n%s", w, d.Error())
		}
	}
}

// TestUnknownFieldsBesideOtherErrors checks that an unknown field is
// reported even in a struct that has another error, which CUE alone would
// leave out until the other error is fixed.
func TestUnknownFieldsBesideOtherErrors(t *testing.T) {
	for _, tt := range []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{
			name:  "app",
			files: map[string]string{"apps/mnist/app.cue": "name: \"mnist\"\nteam: \"research\"\ntraining: {\n\timage: \"x:1\"\n\treplicas: worker: replicas: 0\n\tbogus: 1\n}\n"},
			want: []string{
				"ws/apps/mnist/app.cue:5:30: training.replicas.worker.replicas: invalid value 0",
				"ws/apps/mnist/app.cue:6:2: training.bogus: field not allowed",
			},
		},
		{
			name:  "environment",
			files: map[string]string{"overlays/dev.cue": "order: -1\nnamespaces: {research: \"research-dev\", other: \"other-dev\"}\nspeed: \"fast\"\n"},
			want: []string{
				"ws/overlays/dev.cue:1:8: order: invalid value -1",
				"ws/overlays/dev.cue:3:1: speed: field not allowed",
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(fsWith(tt.files), "ws", Options{})
			var d diag.List
			if !errors.As(err, &d) {
				t.Fatalf("want findings, got %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(d.Error(), w) {
					t.Errorf("findings lack %q:\n%s", w, d.Error())
				}
			}
		})
	}
}

// TestAppNameProblem checks that the API's check of a submitted name words
// its finding as the loader words the same name in a spec file.
func TestAppNameProblem(t *testing.T) {
	for _, name := range []string{"MNIST_v2", "2mnist", strings.Repeat("a", 64)} {
		t.Run(name, func(t *testing.T) {
			fsys := fstest.MapFS{
				"platform.cue":        {Data: []byte(testPlatform)},
				"overlays/dev.cue":    {Data: []byte(testDev)},
				"apps/mnist/app.json": {Data: []byte(`{"name": "` + name + `", "team": "research", "training": {"image": "registry.example.com/t:1", "replicas": {"worker": {"replicas": 1}}}}`)},
			}
			_, err := Load(fsys, "ws", Options{})
			var d diag.List
			if !errors.As(err, &d) {
				t.Fatalf("Load: %v, want findings", err)
			}
			got := schema.AppNameProblem(name)
			for _, f := range d {
				if f.Path == "name" && f.Message == got {
					return
				}
			}
			t.Errorf("AppNameProblem(%q) = %q; the loader says %v", name, got, d)
		})
	}
	if p := schema.AppNameProblem("mnist"); p != "" {
		t.Errorf("AppNameProblem(mnist) = %q, want none", p)
	}
}
