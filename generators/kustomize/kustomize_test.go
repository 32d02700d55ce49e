package kustomize

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/dmls-project/dmls/generators"
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

// TestBuildLeavesObjectsAlone checks that Build and Layout, which copy only
// the top level and metadata of each object, change nothing of the
// generated objects they are given.
func TestBuildLeavesObjectsAlone(t *testing.T) {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "serving.knative.dev/v1", "kind": "Service",
		"metadata": map[string]any{"name": "s", "labels": map[string]any{"a": "b"}, "annotations": map[string]any{"x": "y"}},
		"spec":     map[string]any{"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{"a": "b"}}}},
	}}
	before := u.DeepCopy()
	objs := []generators.Object{{Unstructured: u}}
	a := App{Name: "s", Source: "apps/s", Base: objs, Overlays: []Overlay{{Env: "dev", Namespace: "t-dev", Objects: objs}}}
	first, err := Build(a, a.Overlays[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Layout(a); err != nil {
		t.Fatal(err)
	}
	again, err := Build(a, a.Overlays[0])
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(u.Object, before.Object) {
		t.Errorf("the object changed:\n%v\nwant\n%v", u.Object, before.Object)
	}
	if string(first) != string(again) {
		t.Errorf("a second Build differs:\n%s\n%s", first, again)
	}
	for _, want := range []string{"namespace: t-dev", "dmls.dev/env: dev", "dmls.dev/source: apps/s", `x: "y"`} {
		if !strings.Contains(string(first), want) {
			t.Errorf("Build's output lacks %q:\n%s", want, first)
		}
	}
}

// TestLayoutWithoutBase: an app with no object in common to its
// environments has no base, whose kustomization kustomize would refuse as
// empty, and its overlays do not refer to one.
func TestLayoutWithoutBase(t *testing.T) {
	cm := generators.Object{Unstructured: &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "only-dev"},
	}}}
	tree, err := Layout(App{Name: "a", Overlays: []Overlay{{Env: "dev", Namespace: "ns-dev", Objects: []generators.Object{cm}}, {Env: "prod", Namespace: "ns-prod"}}})
	if err != nil {
		t.Fatal(err)
	}
	for p, b := range tree {
		if strings.Contains(p, "/base/") || strings.Contains(string(b), "../../base") {
			t.Errorf("%s refers to a base:\n%s", p, b)
		}
	}
	if !strings.Contains(string(tree["apps/a/overlays/dev/kustomization.yaml"]), "configmap-only-dev.yaml") {
		t.Errorf("dev's kustomization:\n%s", tree["apps/a/overlays/dev/kustomization.yaml"])
	}
}

// TestPlainKustomizationLines holds PlainKustomization, which writes a
// kept line per resource after a kept head, to the encoder's output for
// the whole list, with names the encoder quotes or escapes.
func TestPlainKustomizationLines(t *testing.T) {
	if kustomizationHead() == nil {
		t.Fatal("no head: every list is encoded whole")
	}
	names := []string{"a.yaml", "networkpolicy-job-1.yaml", "true", "1.5", "x: y", "# no", "- dash", "'quote'", `"dq"`,
		"ünïcode.yaml", "", " lead", "trail ", "tab\tin", "new\nline", strings.Repeat("long-", 40) + ".yaml", "null", "~", "a.yaml"}
	for n := 1; n <= len(names); n++ {
		list := names[len(names)-n:]
		want, err := plainKustomization(list)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // the lines computed, then the lines kept
			got, err := PlainKustomization(list)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("PlainKustomization(%q):\n%s\nwant the encoder's\n%s", list, got, want)
			}
		}
	}
}
