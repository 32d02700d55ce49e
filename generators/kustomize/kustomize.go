// Package kustomize lays out generated objects as a kustomize base per app
// and an overlay per environment, whose patches hold only what differs.
package kustomize

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/types"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/memo"
	"github.com/dmls-project/dmls/internal/yamlenc"
)

// Overlay is the objects of an app in one environment.
type Overlay struct {
	Env       string
	Namespace string
	Objects   []generators.Object
}

// App is what the layout needs of one app.
type App struct {
	Name string
	// Source is the spec folder, recorded on every object.
	Source   string
	Base     []generators.Object
	Overlays []Overlay
}

// Layout returns the kustomize tree of one app: apps/<app>/base and
// apps/<app>/overlays/<env>. Each overlay sets the namespace and the env
// label, and patches what differs from the base with JSON 6902 patches.
// Objects only in an environment are added as resources; objects missing
// there are deleted with a strategic-merge delete patch. An app without
// objects in common has no base.
func Layout(a App) (generators.Tree, error) {
	tree := generators.Tree{}
	base := layout.BaseDir(a.Name)
	k := newKustomization()
	baseByID := map[string]*unstructured.Unstructured{}
	for _, o := range a.Base {
		u := annotate(o.Unstructured, a.Source)
		file := FileName(u)
		if err := put(tree, base+"/"+file, u.Object); err != nil {
			return nil, err
		}
		k.Resources = append(k.Resources, file)
		baseByID[o.ID()] = u
	}
	// kustomize refuses a kustomization without resources ("is empty"):
	// an app with nothing in common to its environments (a release whose
	// environments serve different runs and train in one) has no base.
	if len(a.Base) > 0 {
		if err := put(tree, base+"/"+layout.KustomizationFile, k); err != nil {
			return nil, err
		}
	}
	for _, ov := range a.Overlays {
		dir := layout.OverlayDir(a.Name, ov.Env)
		k := newKustomization()
		k.Namespace = ov.Namespace
		if len(a.Base) > 0 {
			k.Resources = []string{"../../base"}
		}
		k.Labels = []types.Label{{Pairs: map[string]string{generators.LabelEnv: ov.Env}}}
		seen := map[string]bool{}
		for _, o := range ov.Objects {
			u := annotate(o.Unstructured, a.Source)
			id := o.ID()
			seen[id] = true
			b, ok := baseByID[id]
			if !ok {
				file := FileName(u)
				if err := put(tree, dir+"/"+file, u.Object); err != nil {
					return nil, err
				}
				k.Resources = append(k.Resources, file)
				continue
			}
			ops := Diff(b.Object, u.Object)
			if len(ops) == 0 {
				continue
			}
			file := "patch-" + FileName(u)
			if err := put(tree, dir+"/"+file, ops); err != nil {
				return nil, err
			}
			k.Patches = append(k.Patches, types.Patch{Path: file, Target: target(u)})
		}
		for _, o := range a.Base {
			if seen[o.ID()] {
				continue
			}
			del := map[string]any{
				"apiVersion": o.GetAPIVersion(), "kind": o.GetKind(),
				"metadata": map[string]any{"name": o.GetName()},
				"$patch":   "delete",
			}
			file := "delete-" + FileName(o.Unstructured)
			if err := put(tree, dir+"/"+file, del); err != nil {
				return nil, err
			}
			k.Patches = append(k.Patches, types.Patch{Path: file})
		}
		if err := put(tree, dir+"/"+layout.KustomizationFile, k); err != nil {
			return nil, err
		}
	}
	return tree, nil
}

func newKustomization() *types.Kustomization {
	k := &types.Kustomization{}
	k.APIVersion = types.KustomizationVersion
	k.Kind = types.KustomizationKind
	return k
}

// annotate returns a copy of u that names its spec folder. The copy
// shares all but its top level and metadata with u: callers change
// nothing below metadata's own fields (annotations, labels, namespace,
// which the Set methods replace whole), and a deep copy of every object
// was a large part of rendering thousands of apps.
func annotate(u *unstructured.Unstructured, source string) *unstructured.Unstructured {
	obj := make(map[string]any, len(u.Object))
	for k, v := range u.Object {
		obj[k] = v
	}
	if md, ok := obj["metadata"].(map[string]any); ok {
		c := make(map[string]any, len(md)+1)
		for k, v := range md {
			c[k] = v
		}
		obj["metadata"] = c
	}
	u = &unstructured.Unstructured{Object: obj}
	if source != "" {
		ann := u.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		ann[generators.AnnotationSource] = source
		u.SetAnnotations(ann)
	}
	return u
}

func target(u *unstructured.Unstructured) *types.Selector {
	gvk := u.GroupVersionKind()
	s := &types.Selector{}
	s.Group, s.Version, s.Kind, s.Name = gvk.Group, gvk.Version, gvk.Kind, u.GetName()
	return s
}

// FileName names an object's file: kind-name.yaml, with Knative Services
// as kservice to tell them from core Services.
func FileName(u *unstructured.Unstructured) string {
	kind := strings.ToLower(u.GetKind())
	if u.GroupVersionKind().Group == "serving.knative.dev" && u.GetKind() == "Service" {
		kind = "kservice"
	}
	return kind + "-" + u.GetName() + ".yaml"
}

// Marshal serialises v as sigs.k8s.io/yaml.Marshal does, byte for byte,
// with internal/yamlenc: without its JSON round trip and yaml.v2's
// reflection, the largest cost of laying out thousands of apps.
func Marshal(v any) ([]byte, error) {
	return yamlenc.Marshal(v)
}

func put(tree generators.Tree, path string, v any) error {
	b, err := Marshal(v)
	if err != nil {
		return fmt.Errorf("marshal %s: %w", path, err)
	}
	tree[path] = b
	return nil
}

// Op is one JSON 6902 patch operation.
type Op struct {
	Op    string
	Path  string
	Value any
}

// MarshalJSON writes value for add and replace, even when it is false, 0
// or null, and never for remove.
func (o Op) MarshalJSON() ([]byte, error) {
	if o.Op == "remove" {
		return json.Marshal(struct {
			Op   string `json:"op"`
			Path string `json:"path"`
		}{o.Op, o.Path})
	}
	return json.Marshal(struct {
		Op    string `json:"op"`
		Path  string `json:"path"`
		Value any    `json:"value"`
	}{o.Op, o.Path, o.Value})
}

// Diff returns the JSON 6902 operations that turn a into b. Maps are
// compared key by key, in key order; lists and scalars that differ are
// replaced whole, so every operation is independent of the others and the
// result is deterministic.
func Diff(a, b map[string]any) []Op {
	var ops []Op
	diff("", a, b, &ops)
	return ops
}

func diff(at string, a, b map[string]any, ops *[]Op) {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		p := at + "/" + escape(k)
		av, inA := a[k]
		bv, inB := b[k]
		switch {
		case !inB:
			*ops = append(*ops, Op{Op: "remove", Path: p})
		case !inA:
			*ops = append(*ops, Op{Op: "add", Path: p, Value: bv})
		default:
			am, aok := av.(map[string]any)
			bm, bok := bv.(map[string]any)
			if aok && bok {
				diff(p, am, bm, ops)
			} else if !equal(av, bv) {
				*ops = append(*ops, Op{Op: "replace", Path: p, Value: bv})
			}
		}
	}
}

// equal compares JSON values, numbers by value whatever their Go type.
func equal(a, b any) bool {
	if reflect.DeepEqual(a, b) {
		return true
	}
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

// escape escapes a JSON pointer token (RFC 6901).
func escape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// Plain returns a kustomization that lists objs as they are, one file each.
func Plain(objs []generators.Object) (generators.Tree, error) {
	tree := generators.Tree{}
	k := newKustomization()
	for _, o := range objs {
		file := PlainFile(o)
		if err := put(tree, file, o.Object); err != nil {
			return nil, err
		}
		k.Resources = append(k.Resources, file)
	}
	if err := put(tree, layout.KustomizationFile, k); err != nil {
		return nil, err
	}
	return tree, nil
}

// PlainFile is the file Plain writes o to.
func PlainFile(o generators.Object) string {
	file := FileName(o.Unstructured)
	if ns := o.GetNamespace(); ns != "" {
		file = strings.TrimSuffix(file, ".yaml") + "." + ns + ".yaml"
	}
	return file
}

// PlainSources are the files Plain writes objs to, each with its object.
// Of two objects with one file name, Plain writes the last.
func PlainSources(objs []generators.Object) generators.Sources {
	s := make(generators.Sources, len(objs))
	for _, o := range objs {
		s[PlainFile(o)] = o
	}
	return s
}

// PlainKustomization returns the kustomization.yaml of Plain for the
// object files resources, in order: what Plain writes for the objects of
// those files, for callers that keep the files of earlier calls.
//
// The file is the same header and one line per resource, so it is written
// from the header and each resource's line as the encoder writes them,
// each encoded once for the process: a server's platform and Argo CD
// folders list a file per job and per Application, and encoding the
// whole list again on every batch was a tenth of a batch's build at
// 1,000 apps.
func PlainKustomization(resources []string) ([]byte, error) {
	head := kustomizationHead()
	if head == nil || len(resources) == 0 {
		return plainKustomization(resources)
	}
	n := len(head)
	for _, r := range resources {
		n += len(r) + 3
	}
	b := make([]byte, 0, n)
	b = append(b, head...)
	for _, r := range resources {
		item, ok := kustomizationItems.Get(r)
		if !ok {
			one, err := plainKustomization([]string{r})
			if err != nil {
				return nil, err
			}
			if !bytes.HasPrefix(one, head) {
				return plainKustomization(resources)
			}
			item = one[len(head):]
			kustomizationItems.Put(r, item)
		}
		b = append(b, item...)
	}
	return b, nil
}

// kustomizationItems keeps the line of each resource PlainKustomization
// listed, by resource.
var kustomizationItems = memo.New[[]byte](1 << 15)

// kustomizationHead is what PlainKustomization writes before its
// resources' lines, or nil if the encoder does not write a list of one
// resource as that head and the resource's line.
var kustomizationHead = sync.OnceValue(func() []byte {
	const probe = "probe.yaml"
	one, err := plainKustomization([]string{probe})
	if err != nil {
		return nil
	}
	head, ok := bytes.CutSuffix(one, []byte("- "+probe+"\n"))
	if !ok {
		return nil
	}
	return head
})

func plainKustomization(resources []string) ([]byte, error) {
	k := newKustomization()
	k.Resources = resources
	b, err := Marshal(k)
	if err != nil {
		return nil, fmt.Errorf("marshal %s: %w", layout.KustomizationFile, err)
	}
	return b, nil
}
