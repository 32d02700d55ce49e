//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// seedABTest is the seed's KServe A/B test, as the importer's corpus keeps it.
var seedABTest = filepath.Join("..", "..", "internal", "importer", "testdata", "corpus", "seed-isvc-ab-test.lossy.yaml")

// TestDryRunImportedInferenceService imports the seed's A/B test (its
// fields KServe does not have listed and left out) and a valid KServe
// manifest with dmls import, renders them, and server-side dry-runs the
// imported InferenceServices and the generated one of the example
// against the API server with KServe's CRD (issue 10).
func TestDryRunImportedInferenceService(t *testing.T) {
	c := connect(t)
	ws := copyExample(t)
	dmls(t, "import", "-w", ws, "--app", "seed-ab", "--team", "ml-serving", "--allow-lossy",
		seedABTest)
	dmls(t, "import", "-w", ws, "--team", "ml-research",
		filepath.Join("..", "..", "internal", "importer", "testdata", "corpus", "isvc-sklearn-canary.yaml"))
	out := t.TempDir()
	dmls(t, "render", "-w", ws, "--env", "dev", "--out", filepath.Join(out, "r"))
	var objs []*unstructured.Unstructured
	for _, app := range []string{"seed-ab", "iris", "tensorflow-serving"} {
		b, err := os.ReadFile(filepath.Join(out, "r", "dev", app+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range strings.Split(string(b), "\n---\n") {
			var m map[string]any
			if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
				t.Fatal(err)
			}
			if m["kind"] == "InferenceService" {
				objs = append(objs, &unstructured.Unstructured{Object: m})
			}
		}
	}
	if len(objs) != 3 {
		t.Fatalf("rendered %d InferenceServices, want 3", len(objs))
	}
	if err := c.DryRunAll(context.Background(), objs); err != nil {
		t.Fatalf("the API server rejects the InferenceServices:\n%v", err)
	}
	// The dry run can fail: the seed as it was is not valid KServe, and the
	// API server refuses its unknown field (strict field validation).
	b, err := os.ReadFile(seedABTest)
	if err != nil {
		t.Fatal(err)
	}
	seed := mustObj(t, string(b))
	seed.SetNamespace("ml-serving-dev")
	if err := c.DryRunAll(context.Background(), []*unstructured.Unstructured{seed}); err == nil || !strings.Contains(err.Error(), "components") {
		t.Errorf("the seed's InferenceService passed the dry run: %v", err)
	}
}
