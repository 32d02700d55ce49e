package importer

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/golden"
	"github.com/dmls-project/dmls/internal/workspace"
)

// testWorkspace makes a workspace with the example's platform and one
// environment that accepts any image tag (the upstream examples use
// :latest).
func testWorkspace(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join("..", "..", "platform.cue"))
	if err != nil {
		t.Fatal(err)
	}
	// The imported jobs are larger than the example team's quota, which
	// the quota cross-check refuses; give the team room.
	b = bytes.Replace(b, []byte(`quota: {cpu: "16", memory: "64Gi"`), []byte(`quota: {cpu: "1000", memory: "4Ti"`), 1)
	must(t, os.WriteFile(filepath.Join(dir, "platform.cue"), b, 0o644))
	// The example's platform renders a chart of the workspace.
	must(t, os.CopyFS(filepath.Join(dir, "charts"), os.DirFS(filepath.Join("..", "..", "charts"))))
	must(t, os.MkdirAll(filepath.Join(dir, "overlays"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "overlays", "dev.cue"), []byte(`order: 0
namespaces: {"ml-research": "ml-research-dev", "ml-serving": "ml-serving-dev"}
// The upstream examples request more than the default container limit.
limits: default: {cpu: "16", memory: "64Gi"}
`), 0o644))
	return dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func parseFile(t *testing.T, name string) []Doc {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := Parse(filepath.Base(name), b)
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

// wantLossy are the fields each lossy corpus file must name.
var wantLossy = map[string][]string{
	"seed-isvc-prod.lossy.yaml":    {"spec.predictor.tensorflow.autoscaling"},
	"seed-isvc-ab-test.lossy.yaml": {"spec.predictor.components"},
}

// TestGoldenRoundTrip imports every manifest of the corpus, writes the
// spec, loads the written workspace as the CLI does, renders it, and
// checks that the render equals the input after upstream defaulting. The
// generated CUE is a golden file.
func TestGoldenRoundTrip(t *testing.T) {
	files, err := filepath.Glob("testdata/corpus/*.yaml")
	if err != nil || len(files) < 10 {
		t.Fatalf("corpus: %v files, %v", len(files), err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			ws := testWorkspace(t)
			docs := parseFile(t, f)
			opts := Options{Team: "ml-research"}
			res, err := Plan(os.DirFS(ws), ws, docs, opts)
			if want, lossy := wantLossy[name]; lossy {
				var ie *Error
				if !errors.As(err, &ie) || !ie.Lossy {
					t.Fatalf("import of %s: %v, want a lossy failure", name, err)
				}
				for _, w := range want {
					if !strings.Contains(ie.Error(), w) {
						t.Errorf("the failure does not name %s:\n%s", w, ie)
					}
				}
				opts.AllowLossy = true
				res, err = Plan(os.DirFS(ws), ws, docs, opts)
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Warnings) == 0 {
					t.Error("--allow-lossy gave no warnings")
				}
			} else if err != nil {
				t.Fatal(err)
			}
			must(t, Write(ws, res))
			var out bytes.Buffer
			for _, n := range slices.Sorted(maps.Keys(res.Files)) {
				b, err := os.ReadFile(filepath.Join(ws, res.Dir, n))
				if err != nil {
					t.Fatal(err)
				}
				out.WriteString("--- " + n + "\n")
				out.Write(b)
			}
			golden.Check(t, "testdata/golden/"+strings.TrimSuffix(name, ".yaml")+".cue.txt", out.Bytes())
			if _, lossy := wantLossy[name]; lossy {
				return
			}
			roundTrip(t, ws, res.App, docs)
		})
	}
}

// roundTrip loads the workspace from disk, renders the app's base and
// compares each input object with its render.
func roundTrip(t *testing.T, ws, app string, docs []Doc) {
	t.Helper()
	w, err := workspace.Load(os.DirFS(ws), ws, workspace.Options{})
	if err != nil {
		t.Fatalf("the written workspace does not load: %v", err)
	}
	a := w.App(app)
	if a == nil {
		t.Fatalf("no app %s", app)
	}
	objs, err := build.Generate(w.Platform, a.Base)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		o, ok := matchObj(objs, d.Obj)
		out := o.Object
		if !ok {
			if kindOf(d.Obj) == kindPVC {
				continue // a claim the job only mounts
			}
			t.Errorf("%s: not rendered", d)
			continue
		}
		diffs, err := compare(d.Obj, out)
		if err != nil {
			t.Fatal(err)
		}
		for _, df := range diffs {
			if _, ok := normalization(kindOf(d.Obj), df); !ok {
				t.Errorf("%s: %s: %s", d, df.path, df.message())
			}
		}
	}
}

// TestCompareCatches shows the comparison can fail: a field the spec has
// no place for is named with its document and path.
func TestCompareCatches(t *testing.T) {
	ws := testWorkspace(t)
	docs := parseFile(t, "testdata/corpus/seed-tfjob.yaml")
	pod := nested(docs[0].Obj, "spec", "tfReplicaSpecs", "Worker", "template", "spec").(map[string]any)
	pod["hostNetwork"] = true
	pod["containers"].([]any)[0].(map[string]any)["env"] = []any{
		map[string]any{"name": "TOKEN", "valueFrom": map[string]any{"secretKeyRef": map[string]any{"name": "s", "key": "k"}}},
	}
	_, err := Plan(os.DirFS(ws), ws, docs, Options{Team: "ml-research"})
	var ie *Error
	if !errors.As(err, &ie) || !ie.Lossy {
		t.Fatalf("got %v, want a lossy failure", err)
	}
	for _, w := range []string{
		"seed-tfjob.yaml: document 1 (TFJob multi-worker-training): spec.tfReplicaSpecs.Worker.template.spec.hostNetwork",
		"spec.tfReplicaSpecs.Worker.template.spec.containers[0].env",
	} {
		if !strings.Contains(ie.Error(), w) {
			t.Errorf("the failure does not name %s:\n%s", w, ie)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(ws, "apps")); len(entries) != 0 {
		t.Errorf("a failed import wrote %v", entries)
	}
}

func TestParseRejects(t *testing.T) {
	for _, tt := range []struct {
		name string
		data string
		want string
	}{
		{"oversize", "a: " + strings.Repeat("x", MaxFileBytes), "import reads at most"},
		{"alias", "a: &x [1]\nb: *x\n", "anchors and aliases are not accepted"},
		// Issue 18, section 3: a merge key without an alias merged silently.
		{"merge key", "a: 1\n<<: {b: 2}\n", "line 2: YAML merge keys (<<) are not accepted"},
		{"merge key tagged", "a: 1\n!!merge <<: {b: 2}\n", "merge keys (<<) are not accepted"},
		{"malformed", "a: [\n", "malformed YAML"},
		{"not an object", "- 1\n- 2\n", "not an object"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("in.yaml", []byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
	docs, err := Parse("in.yaml", []byte("---\n# only a comment\n---\napiVersion: v1\nkind: ConfigMap\n"))
	if err != nil || len(docs) != 1 || docs[0].Index != 2 {
		t.Errorf("empty documents: %v %+v", err, docs)
	}
}
