package argocd

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
	"sigs.k8s.io/yaml"
)

// crd is the v1alpha1 schema of one of Argo CD's CRDs, as the API server
// uses it: to validate, and to prune fields the schema does not know.
type crd struct {
	validator  *validate.SchemaValidator
	structural *structuralschema.Structural
}

// argoCDCRDs reads Argo CD's CRDs from the module that provides its Go
// types, so the schemas match the types.
func argoCDCRDs(t *testing.T) map[string]crd {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/argoproj/argo-cd/v3").Output()
	if err != nil {
		t.Fatalf("locate the Argo CD module: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "manifests", "crds")
	crds := map[string]crd{}
	for kind, file := range map[string]string{"Application": "application-crd.yaml", "AppProject": "appproject-crd.yaml"} {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		var c apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(b, &c); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, v := range c.Spec.Versions {
			if v.Name != "v1alpha1" {
				continue
			}
			var internal apiextensions.JSONSchemaProps
			if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, &internal, nil); err != nil {
				t.Fatal(err)
			}
			structural, err := structuralschema.NewStructural(&internal)
			if err != nil {
				t.Fatal(err)
			}
			// The OpenAPI schema as the API server's validator reads it
			// (types, enums, required fields).
			b, err := json.Marshal(v.Schema.OpenAPIV3Schema)
			if err != nil {
				t.Fatal(err)
			}
			var openAPI spec.Schema
			if err := json.Unmarshal(b, &openAPI); err != nil {
				t.Fatal(err)
			}
			crds[kind] = crd{validate.NewSchemaValidator(&openAPI, nil, "", strfmt.Default), structural}
		}
	}
	if len(crds) != 2 {
		t.Fatalf("found %d CRD schemas, want 2", len(crds))
	}
	return crds
}

// problems returns what the API server would reject in obj, and the
// fields it would silently drop.
func (c crd) problems(obj map[string]any) (errs []string, dropped []string) {
	for _, e := range c.validator.Validate(obj).Errors {
		errs = append(errs, e.Error())
	}
	cp := runtime.DeepCopyJSON(obj)
	dropped = pruning.PruneWithOptions(cp, c.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	return errs, dropped
}

// TestObjectsMatchCRDs checks every Application and AppProject in the tree
// against Argo CD's CRD schemas: nothing invalid, and no field the API
// server would drop (such as syncOptions under automated).
func TestObjectsMatchCRDs(t *testing.T) {
	crds := argoCDCRDs(t)
	tree, err := Tree(fixtureInput(t))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for file, obj := range treeObjects(t, tree) {
		c, ok := crds[obj["kind"].(string)]
		if !ok {
			continue
		}
		n++
		errs, dropped := c.problems(obj)
		if len(errs) > 0 {
			t.Errorf("%s: invalid: %v", file, errs)
		}
		if len(dropped) > 0 {
			t.Errorf("%s: fields the API server would drop: %v", file, dropped)
		}
	}
	if n != 12 {
		t.Errorf("checked %d objects, want 12 (8 Applications, 3 AppProjects and the bootstrap's copy of one)", n)
	}

	// The check can fail: the original system's mistake is caught.
	obj := treeObjects(t, tree)["argocd/dev/application-fashion-mnist-dev.argocd.yaml"]
	sp := get(obj, "spec", "syncPolicy").(map[string]any)
	sp["automated"].(map[string]any)["syncOptions"] = sp["syncOptions"]
	delete(sp, "syncOptions")
	if _, dropped := crds["Application"].problems(obj); len(dropped) != 1 || dropped[0] != "spec.syncPolicy.automated.syncOptions" {
		t.Errorf("syncOptions under automated: dropped %v, want [spec.syncPolicy.automated.syncOptions]", dropped)
	}
	// And a wrong type or a missing required field is invalid.
	sp["retry"].(map[string]any)["limit"] = "five"
	delete(get(obj, "spec").(map[string]any), "destination")
	if errs, _ := crds["Application"].problems(obj); len(errs) != 2 {
		t.Errorf("retry.limit a string and no destination: errors %v, want 2", errs)
	}
}
