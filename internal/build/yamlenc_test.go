package build

import (
	"bytes"
	"maps"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/generators/kustomize"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/yamlenc"
)

// TestYAMLEncoderOnGeneratedObjects holds internal/yamlenc, which writes
// every generated file, to sigs.k8s.io/yaml.Marshal byte for byte on what
// dmls generates: every object of every app in the base and each
// environment (as generated and as rendered, with the overlay's namespace,
// label and annotation), the JSON 6902 patches between them, every
// kustomization, and every document of the platform, Argo CD, Kubeflow
// and kops trees, for the example workspace, one that uses every spec
// feature, and a synthetic one.
func TestYAMLEncoderOnGeneratedObjects(t *testing.T) {
	for name, load := range testWorkspaces(40) {
		t.Run(name, func(t *testing.T) {
			ws := load(t)
			res, err := Workspace(ws, Options{})
			if err != nil {
				t.Fatal(err)
			}
			n, slow := 0, 0
			check := func(what string, v any) {
				t.Helper()
				want, werr := yaml.Marshal(v)
				got, gerr := yamlenc.Marshal(v)
				if werr != nil || gerr != nil {
					t.Fatalf("%s: yamlenc error %v, upstream error %v", what, gerr, werr)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("%s: yamlenc differs from sigs.k8s.io/yaml\n--- upstream\n%s\n--- yamlenc\n%s", what, want, got)
				}
				n++
				if !yamlenc.Fast(v) {
					slow++
				}
			}
			for _, a := range res.Apps {
				base, err := Generate(ws.Platform, a.App.Base)
				if err != nil {
					t.Fatal(err)
				}
				baseByID := map[string]generators.Object{}
				for _, o := range base {
					check(a.App.Name+" base "+o.ID(), o.Object)
					baseByID[o.ID()] = o
				}
				for _, in := range a.App.Envs {
					env := in.Env.Name
					for _, o := range a.Objects[env] {
						check(a.App.Name+" "+env+" "+o.ID(), o.Object)
						if b, ok := baseByID[o.ID()]; ok {
							check(a.App.Name+" "+env+" patch "+o.ID(), kustomize.Diff(b.Object, o.Object))
						}
					}
					out, ok, err := a.Render(env)
					if err != nil || !ok {
						t.Fatalf("render %s in %s: %v %v", a.App.Name, env, ok, err)
					}
					checkDocs(t, check, a.App.Name+" rendered "+env, out)
				}
				checkTreeDocs(t, check, a.Tree)
			}
			for _, tree := range []generators.Tree{res.Platform, res.ArgoCD, res.Kubeflow, res.Infra} {
				checkTreeDocs(t, check, tree)
			}
			if n < 50 {
				t.Fatalf("compared only %d values", n)
			}
			if slow > 0 {
				t.Errorf("%d of %d values took the upstream encoder; generated objects should all take the fast path", slow, n)
			}
		})
	}
}

// checkTreeDocs checks every document of tree's files, decoded as
// sigs.k8s.io/yaml decodes them, and each kustomization as its Go type.
func checkTreeDocs(t *testing.T, check func(string, any), tree generators.Tree) {
	t.Helper()
	for _, name := range slices.Sorted(maps.Keys(tree)) {
		if strings.HasSuffix(name, "/"+layout.KustomizationFile) || name == layout.KustomizationFile {
			var k types.Kustomization
			if err := yaml.Unmarshal(tree[name], &k); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			check(name, &k)
			continue
		}
		checkDocs(t, check, name, tree[name])
	}
}

func checkDocs(t *testing.T, check func(string, any), name string, file []byte) {
	t.Helper()
	for _, doc := range bytes.Split(file, []byte("\n---\n")) {
		var v any
		if err := yaml.Unmarshal(doc, &v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if v != nil {
			check(name, v)
		}
	}
}
