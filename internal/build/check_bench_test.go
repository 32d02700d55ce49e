package build

import (
	"testing"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/internal/admission"
	"github.com/dmls-project/dmls/internal/spec"
	"github.com/dmls-project/dmls/internal/workspace"
)

// benchApps loads and generates n synthetic apps for the check benchmarks.
func benchApps(b *testing.B, n int) (*spec.Workspace, *Result) {
	b.Helper()
	ws, err := workspace.Load(manyApps(n), "ws", workspace.Options{})
	if err != nil {
		b.Fatal(err)
	}
	res, err := Workspace(ws, Options{})
	if err != nil {
		b.Fatal(err)
	}
	return ws, res
}

// BenchmarkCheck100Apps runs the admission checks of the generated objects
// (check) of 100 apps in their 3 environments.
func BenchmarkCheck100Apps(b *testing.B) {
	ws, res := benchApps(b, 100)
	for b.Loop() {
		for _, a := range res.Apps {
			for _, in := range a.App.Envs {
				if d := check(in, a.Objects[in.Env.Name], a.Features, nil); d.Err() != nil {
					b.Fatal(d)
				}
			}
		}
	}
	_ = ws
}

// BenchmarkCheckTree100Apps checks the platform and Argo CD trees of 100
// apps (checkTree, without a memo).
func BenchmarkCheckTree100Apps(b *testing.B) {
	ws, res := benchApps(b, 100)
	for b.Loop() {
		for _, t := range []generators.Tree{res.Platform, res.ArgoCD} {
			if d := checkTree(ws, t, nil); d.Err() != nil {
				b.Fatal(d)
			}
		}
	}
}

// BenchmarkValidateByKind validates one generated object of each kind
// that has a CRD schema, to tell where the checks' cost goes.
func BenchmarkValidateByKind(b *testing.B) {
	_, res := benchApps(b, 12)
	schemas, err := admission.Default()
	if err != nil {
		b.Fatal(err)
	}
	seen := map[string]bool{}
	for _, a := range res.Apps {
		for _, objs := range a.Objects {
			for _, o := range objs {
				kind := o.GetKind() + "." + o.GroupVersionKind().Group
				if seen[kind] {
					continue
				}
				seen[kind] = true
				b.Run(kind, func(b *testing.B) {
					for b.Loop() {
						schemas.Check(o.Unstructured)
					}
				})
			}
		}
	}
}
