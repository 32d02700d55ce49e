package docgen

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSpecReferenceDocIsCurrent fails when docs/spec-reference.md is not
// what the CUE schemas give now; `make docs` rewrites it.
func TestSpecReferenceDocIsCurrent(t *testing.T) {
	got, err := SpecReference()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(repoRoot, SpecReferencePath))
	if err != nil {
		t.Fatalf("%v; run make docs", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s is not what the schemas give now; run make docs", SpecReferencePath)
	}
}
