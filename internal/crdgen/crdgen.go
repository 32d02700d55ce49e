// Package crdgen generates Go types for a custom resource from its
// upstream CRD, for the APIs whose own Go packages cannot be imported on
// dmls's Kubernetes module line (KServe's InferenceService, Trainer's
// TrainJob). It prunes the CRD's openAPIV3Schema to the fields a
// Config keeps, maps Kubernetes types to their k8s.io Go types, and runs
// the pinned go-jsonschema on the result: no type is written by hand.
package crdgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/format"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Generator is the pinned code generator, run with `go run`.
const Generator = "github.com/atombender/go-jsonschema@v0.24.1"

// Config says what to generate from one CRD. Paths are dotted field paths
// of the object (spec.predictor.model); a path names an array's items too.
type Config struct {
	// Module is the upstream module and version holding the CRD
	// (github.com/kserve/kserve@v0.20.0), File the CRD's path in it.
	Module string `json:"module"`
	File   string `json:"file"`
	// Version is the served API version to generate.
	Version string `json:"version"`
	// Package is the Go package name, Root the root type's name.
	Package string `json:"package"`
	Root    string `json:"root"`
	// Keep lists the fields to generate; each keeps its whole subtree,
	// and the objects on its way.
	Keep []string `json:"keep"`
	// Types maps a field (or array field's items) to a Kubernetes Go type
	// named in KnownTypes.
	Types map[string]string `json:"types"`
	// Inline embeds a Kubernetes Go type into the object at a field: its
	// fields leave the schema and the Go type is embedded, as upstream's Go
	// types embed corev1.Container in a predictor's model.
	Inline map[string]string `json:"inline"`
}

// knownType is a Go type the generated code may use, with its import.
type knownType struct {
	typ     reflect.Type
	alias   string
	import_ string
}

// KnownTypes are the Kubernetes Go types a Config may name.
var KnownTypes = map[string]knownType{
	"metav1.ObjectMeta":           {reflect.TypeOf(metav1.ObjectMeta{}), "metav1", "k8s.io/apimachinery/pkg/apis/meta/v1"},
	"corev1.Container":            {reflect.TypeOf(corev1.Container{}), "corev1", "k8s.io/api/core/v1"},
	"corev1.Toleration":           {reflect.TypeOf(corev1.Toleration{}), "corev1", "k8s.io/api/core/v1"},
	"corev1.EnvVar":               {reflect.TypeOf(corev1.EnvVar{}), "corev1", "k8s.io/api/core/v1"},
	"corev1.Volume":               {reflect.TypeOf(corev1.Volume{}), "corev1", "k8s.io/api/core/v1"},
	"corev1.PodSpec":              {reflect.TypeOf(corev1.PodSpec{}), "corev1", "k8s.io/api/core/v1"},
	"corev1.Affinity":             {reflect.TypeOf(corev1.Affinity{}), "corev1", "k8s.io/api/core/v1"},
	"corev1.ResourceRequirements": {reflect.TypeOf(corev1.ResourceRequirements{}), "corev1", "k8s.io/api/core/v1"},
	"corev1.SecurityContext":      {reflect.TypeOf(corev1.SecurityContext{}), "corev1", "k8s.io/api/core/v1"},
	"corev1.PodSecurityContext":   {reflect.TypeOf(corev1.PodSecurityContext{}), "corev1", "k8s.io/api/core/v1"},
	"corev1.VolumeMount":          {reflect.TypeOf(corev1.VolumeMount{}), "corev1", "k8s.io/api/core/v1"},
	"corev1.LocalObjectReference": {reflect.TypeOf(corev1.LocalObjectReference{}), "corev1", "k8s.io/api/core/v1"},
}

// LoadConfig reads a Config from a YAML file.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c Config
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for p, t := range c.Types {
		if _, ok := KnownTypes[t]; !ok {
			return nil, fmt.Errorf("%s: types.%s: unknown Go type %q; known: %s", path, p, t, known())
		}
	}
	for p, t := range c.Inline {
		if _, ok := KnownTypes[t]; !ok {
			return nil, fmt.Errorf("%s: inline.%s: unknown Go type %q; known: %s", path, p, t, known())
		}
	}
	return &c, nil
}

func known() string {
	var ks []string
	for k := range KnownTypes {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

// Schema returns the pruned JSON Schema of c's CRD, as go-jsonschema
// reads it, and the Go type each inlined field's struct gets embedded.
func Schema(c *Config, crd []byte) (map[string]any, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(crd, &doc); err != nil {
		return nil, fmt.Errorf("crd %s: %w", c.File, err)
	}
	versions, _ := dig(doc, "spec", "versions").([]any)
	var schema map[string]any
	for _, v := range versions {
		vm, _ := v.(map[string]any)
		if vm["name"] == c.Version {
			schema, _ = dig(vm, "schema", "openAPIV3Schema").(map[string]any)
		}
	}
	if schema == nil {
		return nil, fmt.Errorf("crd %s: no version %q with an openAPIV3Schema", c.File, c.Version)
	}
	keep := map[string]bool{}
	for _, k := range c.Keep {
		keep[k] = true
	}
	for k := range c.Types {
		keep[k] = true
	}
	for k := range c.Inline {
		keep[k] = true
	}
	for k := range keep {
		if resolve(schema, k) == nil {
			return nil, fmt.Errorf("crd %s: version %s has no field %s", c.File, c.Version, k)
		}
	}
	out := prune(schema, "", keep, c)
	out["$schema"] = "http://json-schema.org/draft-07/schema#"
	out["$id"] = "https://" + c.Module + "/" + c.File
	return out, nil
}

// dig is the value at keys in m, or nil where the path leads nowhere.
func dig(m map[string]any, keys ...string) any {
	v, _, _ := unstructured.NestedFieldNoCopy(m, keys...)
	return v
}

// resolve finds the schema of a dotted path, stepping into array items.
func resolve(s map[string]any, path string) map[string]any {
	for _, k := range strings.Split(path, ".") {
		if it, ok := s["items"].(map[string]any); ok {
			s = it
		}
		props, _ := s["properties"].(map[string]any)
		next, ok := props[k].(map[string]any)
		if !ok {
			return nil
		}
		s = next
	}
	return s
}

func under(keep map[string]bool, path string) (exact, onWay bool) {
	if keep[path] {
		return true, true
	}
	for k := range keep {
		if strings.HasPrefix(k, path+".") {
			onWay = true
		}
	}
	return false, onWay
}

// prune copies s keeping only what keep asks for below path; every kept
// subtree is copied whole, less what go-jsonschema does not read.
func prune(s map[string]any, path string, keep map[string]bool, c *Config) map[string]any {
	if t, ok := c.Types[path]; ok {
		kt := KnownTypes[t]
		ext := map[string]any{"type": t, "imports": []any{kt.import_}}
		if it, ok := s["items"].(map[string]any); ok && s["type"] == "array" {
			_ = it
			return map[string]any{"type": "array", "items": map[string]any{"type": "object", "goJSONSchema": ext}}
		}
		return map[string]any{"type": "object", "goJSONSchema": ext}
	}
	exact := path != "" && keep[path]
	out := map[string]any{}
	for k, v := range s {
		switch {
		case strings.HasPrefix(k, "x-kubernetes-"), k == "default", k == "description":
			continue
		case k == "properties":
			continue
		case k == "items":
			if m, ok := v.(map[string]any); ok {
				out[k] = prune(m, path, keep, c)
			}
			continue
		case k == "additionalProperties":
			if m, ok := v.(map[string]any); ok {
				out[k] = prune(m, path, keep, c)
				continue
			}
		}
		out[k] = v
	}
	props, _ := s["properties"].(map[string]any)
	if props == nil {
		return out
	}
	var drop map[string]bool
	if t, ok := c.Inline[path]; ok {
		drop = jsonFields(KnownTypes[t].typ)
	}
	np := map[string]any{}
	for name, ps := range props {
		child := name
		if path != "" {
			child = path + "." + name
		}
		if drop[name] {
			continue
		}
		if _, typed := c.Types[child]; !exact && !typed {
			if _, onWay := under(keep, child); !onWay {
				continue
			}
		}
		m, _ := ps.(map[string]any)
		np[name] = prune(m, child, keepBelow(keep, child, exact), c)
	}
	out["properties"] = np
	if req, ok := s["required"].([]any); ok {
		var nr []any
		for _, r := range req {
			if _, ok := np[r.(string)]; ok {
				nr = append(nr, r)
			}
		}
		if len(nr) > 0 {
			out["required"] = nr
		} else {
			delete(out, "required")
		}
	}
	return out
}

// keepBelow marks child kept when its parent was kept whole.
func keepBelow(keep map[string]bool, child string, parentKept bool) map[string]bool {
	if !parentKept || keep[child] {
		return keep
	}
	k := make(map[string]bool, len(keep)+1)
	for p := range keep {
		k[p] = true
	}
	k[child] = true
	return k
}

// jsonFields are the JSON names of t's fields.
func jsonFields(t reflect.Type) map[string]bool {
	out := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out[name] = true
		}
	}
	return out
}

// Generate returns the Go source of c's types. The CRD is read from the
// module cache (`go mod download`), and go-jsonschema runs with `go run`.
func Generate(c *Config) ([]byte, error) {
	dir, err := ModuleDir(c.Module)
	if err != nil {
		return nil, err
	}
	crd, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(c.File)))
	if err != nil {
		return nil, err
	}
	schema, err := Schema(c, crd)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "crdgen")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	js, err := json.MarshalIndent(schema, "", " ")
	if err != nil {
		return nil, err
	}
	in := filepath.Join(tmp, "schema.json")
	if err := os.WriteFile(in, js, 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command("go", "run", Generator, "--only-models", "--tags", "json",
		"--disable-custom-types-for-maps", "-p", c.Package,
		"--schema-root-type", schema["$id"].(string)+"="+c.Root, in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	src, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", Generator, err, stderr.String())
	}
	return postprocess(c, src)
}

// ModuleDir downloads mod ("path@version") into the module cache, if it is
// not there yet, and returns its folder.
func ModuleDir(mod string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", mod)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s: %w\n%s", mod, err, stderr.String())
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil {
		return "", err
	}
	if info.Error != "" {
		return "", fmt.Errorf("go mod download %s: %s", mod, info.Error)
	}
	return info.Dir, nil
}

// postprocess names the imports (go-jsonschema writes them bare, and
// k8s.io's packages are all "v1"), embeds the inlined types, records the
// source and formats the file.
func postprocess(c *Config, src []byte) ([]byte, error) {
	for _, kt := range KnownTypes {
		src = bytes.ReplaceAll(src, []byte("import \""+kt.import_+"\""), []byte("import "+kt.alias+" \""+kt.import_+"\""))
	}
	src = bytes.Replace(src, []byte("// Code generated by github.com/atombender/go-jsonschema, DO NOT EDIT."),
		[]byte(fmt.Sprintf("// Code generated by internal/crdgen with %s from %s (%s, %s); DO NOT EDIT.", Generator, c.File, c.Module, c.Version)), 1)
	// The struct of each inlined path, by go-jsonschema's naming: the root
	// type's name, then each path element capitalised.
	paths := make([]string, 0, len(c.Inline))
	for p := range c.Inline {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, path := range paths {
		name := c.Root
		for _, p := range strings.Split(path, ".") {
			name += strings.ToUpper(p[:1]) + p[1:]
		}
		decl := []byte("\ntype " + name + " struct {\n")
		if bytes.Count(src, decl) != 1 {
			return nil, fmt.Errorf("inline %s: no generated struct %s", path, name)
		}
		src = bytes.Replace(src, decl, append(decl, []byte(c.Inline[path]+" `json:\",inline\"`\n\n")...), 1)
		kt := KnownTypes[c.Inline[path]]
		if imp := []byte("import " + kt.alias + " \"" + kt.import_ + "\"\n"); !bytes.Contains(src, imp) {
			src = bytes.Replace(src, []byte("\npackage "+c.Package+"\n"), append([]byte("\npackage "+c.Package+"\n\n"), imp...), 1)
		}
	}
	out, err := format.Source(src)
	if err != nil {
		return nil, fmt.Errorf("generated code: %w\n%s", err, src)
	}
	return out, nil
}

// OutputFile is the generated file's name, next to its crdgen.yaml.
const OutputFile = "zz_generated.types.go"

// WriteFile writes src to path through a temporary file, so that a failed
// run leaves the old file.
func WriteFile(path string, src []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, src, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
