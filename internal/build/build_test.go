package build

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/kbuild"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/spec"
	"github.com/dmls-project/dmls/internal/workspace"
)

func loadExample(t testing.TB) *spec.Workspace {
	t.Helper()
	ws, err := workspace.Load(os.DirFS("../.."), ".", workspace.Options{})
	if err != nil {
		t.Fatalf("load example workspace: %v", err)
	}
	return ws
}

// TestOverlaysRenderWhatTheGeneratorsMake is the contract of the layout:
// for every app and environment, kustomize building the overlay (base plus
// patches) gives exactly the objects the generators make for that
// environment, plus the namespace, env label and source annotation.
func TestOverlaysRenderWhatTheGeneratorsMake(t *testing.T) {
	ws := loadExample(t)
	res, err := Workspace(ws, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range res.Apps {
		for _, in := range a.App.Envs {
			env := in.Env.Name
			t.Run(a.App.Name+"/"+env, func(t *testing.T) {
				y, err := kbuild.Build(a.Tree, layout.OverlayDir(a.App.Name, env))
				if err != nil {
					t.Fatal(err)
				}
				got := map[string]map[string]any{}
				for _, doc := range strings.Split(string(y), "\n---\n") {
					var m map[string]any
					if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
						t.Fatal(err)
					}
					u := unstructured.Unstructured{Object: m}
					got[generators.ID(u.GroupVersionKind(), u.GetName())] = m
				}
				objs := a.Objects[env]
				if len(got) != len(objs) {
					t.Fatalf("rendered %d objects, generated %d", len(got), len(objs))
				}
				for _, o := range objs {
					want := o.DeepCopy()
					want.SetNamespace(in.Namespace)
					l := want.GetLabels()
					l[generators.LabelEnv] = env
					want.SetLabels(l)
					ann := want.GetAnnotations()
					if ann == nil {
						ann = map[string]string{}
					}
					ann[generators.AnnotationSource] = "apps/" + a.App.Dir
					want.SetAnnotations(ann)
					wb, _ := yaml.Marshal(want.Object)
					var wm map[string]any
					_ = yaml.Unmarshal(wb, &wm)
					if !reflect.DeepEqual(got[o.ID()], wm) {
						gb, _ := yaml.Marshal(got[o.ID()])
						t.Errorf("%s: rendered overlay differs from generated object\n--- rendered\n%s\n--- generated\n%s", o.ID(), gb, wb)
					}
				}
			})
		}
	}
}

// buildFindings builds a one-app workspace and returns its findings.
func buildFindings(t *testing.T, app string) string {
	t.Helper()
	fsys := fstest.MapFS{
		"platform.cue":     {Data: []byte("name: \"p\"\nteams: t: {}\nrepos: \"k8s-config\": url: \"https://git.example.com/k.git\"\n")},
		"overlays/dev.cue": {Data: []byte("order: 0\nnamespaces: t: \"t-dev\"\n")},
		"apps/a/app.cue":   {Data: []byte(app)},
	}
	ws, err := workspace.Load(fsys, "ws", workspace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Workspace(ws, Options{})
	var d diag.List
	if !errors.As(err, &d) {
		t.Fatalf("want findings, got %v", err)
	}
	return d.Error()
}

// TestKnativeFindingsPointAtSpec checks that Knative's own validation runs
// on generated Services and that its findings point at the spec line that
// set the field: K_SERVICE is reserved by Knative, and no CUE rule knows it.
func TestKnativeFindingsPointAtSpec(t *testing.T) {
	got := buildFindings(t, "name: \"svc\"\nteam: \"t\"\nserving: {\n\timage: \"registry.example.com/svc:1\"\n\tenv: K_SERVICE: \"mine\"\n}\n")
	if !strings.Contains(got, "ws/apps/a/app.cue:5:7: serving.env.K_SERVICE: Knative rejects") {
		t.Errorf("finding not placed on the spec line:\n%s", got)
	}
}

// BenchmarkWorkspace measures generating and laying out the example app.
func BenchmarkWorkspace(b *testing.B) {
	ws := loadExample(b)
	for b.Loop() {
		if _, err := Workspace(ws, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
