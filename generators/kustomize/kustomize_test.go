package kustomize

import (
	"testing"

	"sigs.k8s.io/yaml"
)

// TestMarshalMatchesSigsYAML checks that the direct encoding of objects
// gives the same bytes as sigs.k8s.io/yaml, for values that YAML quotes or
// formats in special ways.
func TestMarshalMatchesSigsYAML(t *testing.T) {
	obj := map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "x", "annotations": map[string]any{"a/b": "true", "n": "8", "e": "1e3", "empty": "", "null": "null", "colon": "a: b", "tilde": "~"}},
		"data": map[string]any{
			"multi":   "line one\nline two\n",
			"lua":     "if x then\n  return y\nend",
			"quote":   `say "hi"`,
			"hash":    "# not a comment",
			"star":    "*",
			"spaces":  " padded ",
			"yes":     "yes",
			"octal":   "0755",
			"unicode": "héllo",
		},
		"spec": map[string]any{
			"int": int64(8), "big": int64(9007199254740993), "neg": int64(-1), "float": 0.1, "whole": 2.0,
			"bool": true, "list": []any{"a", int64(1), map[string]any{"k": "v"}, []any{}}, "emptyMap": map[string]any{}, "nil": nil,
		},
	}
	got, err := Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	want, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("Marshal differs from sigs.k8s.io/yaml\n--- got\n%s\n--- want\n%s", got, want)
	}
}
