package crdgen

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedTypesAreCurrent regenerates every package's types from its
// crdgen.yaml (into memory) and compares them with the committed file:
// run `make generate-types` after changing a config or a version.
func TestGeneratedTypesAreCurrent(t *testing.T) {
	configs, err := filepath.Glob("../apis/*/crdgen.yaml")
	if err != nil || len(configs) == 0 {
		t.Fatalf("no crdgen.yaml under internal/apis: %v", err)
	}
	for _, path := range configs {
		t.Run(filepath.Base(filepath.Dir(path)), func(t *testing.T) {
			c, err := LoadConfig(path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Generate(c)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join(filepath.Dir(path), OutputFile))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s is stale: run make generate-types", filepath.Join(filepath.Dir(path), OutputFile))
			}
		})
	}
}

// TestSchemaKeepsOnlyWhatIsAsked prunes a small CRD: a kept field keeps
// its subtree, others go, a typed field becomes the Go type, an inlined
// type's fields leave the object, and an unknown field is an error.
func TestSchemaKeepsOnlyWhatIsAsked(t *testing.T) {
	crd := []byte(`
spec:
  versions:
  - name: v1
    schema:
      openAPIV3Schema:
        type: object
        properties:
          metadata: {type: object}
          spec:
            type: object
            required: [a, b]
            properties:
              a: {type: object, properties: {x: {type: string}, z: {type: integer}}}
              b: {type: string}
              c: {type: object, properties: {image: {type: string}, own: {type: string}}}
`)
	c := &Config{Module: "example.com/m@v1.0.0", File: "crd.yaml", Version: "v1", Package: "p", Root: "R",
		Keep: []string{"spec.a"}, Types: map[string]string{"metadata": "metav1.ObjectMeta"}, Inline: map[string]string{"spec.c": "corev1.Container"}}
	s, err := Schema(c, crd)
	if err != nil {
		t.Fatal(err)
	}
	spec := s["properties"].(map[string]any)["spec"].(map[string]any)
	props := spec["properties"].(map[string]any)
	if _, ok := props["b"]; ok {
		t.Error("spec.b was not asked for but is kept")
	}
	if a := props["a"].(map[string]any)["properties"].(map[string]any); a["x"] == nil || a["z"] == nil {
		t.Errorf("spec.a lost its subtree: %v", a)
	}
	if req := spec["required"]; len(req.([]any)) != 1 {
		t.Errorf("required %v, want only a", req)
	}
	cp := props["c"].(map[string]any)["properties"].(map[string]any)
	if cp["image"] != nil || cp["own"] == nil {
		t.Errorf("inlined corev1.Container: properties %v, want own only", cp)
	}
	if ext := s["properties"].(map[string]any)["metadata"].(map[string]any)["goJSONSchema"]; ext == nil {
		t.Error("metadata is not mapped to metav1.ObjectMeta")
	}
	c.Keep = []string{"spec.nope"}
	if _, err := Schema(c, crd); err == nil || !strings.Contains(err.Error(), "no field spec.nope") {
		t.Errorf("an unknown field: %v", err)
	}
}

// TestKnownTypesNameTheirGoType holds each KnownTypes key to the Go type
// it maps to: the key is what the generated code writes.
func TestKnownTypesNameTheirGoType(t *testing.T) {
	for name, kt := range KnownTypes {
		if want := kt.alias + "." + kt.typ.Name(); name != want {
			t.Errorf("KnownTypes[%q] is %s: the generated code would not compile", name, want)
		}
	}
}
