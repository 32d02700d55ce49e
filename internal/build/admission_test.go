package build

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	kubeflowv1 "github.com/kubeflow/training-operator/pkg/apis/kubeflow.org/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/generators/argocd"
	"github.com/dmls-project/dmls/generators/kservice"
	"github.com/dmls-project/dmls/generators/kustomize"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/rules"
)

// TestAdmissionFindingsPointAtTheSpec breaks generated objects the way a
// generator bug or a spec the schemas let through would, and checks that
// each refusal the cluster would give lands on the user's own spec line.
func TestAdmissionFindingsPointAtTheSpec(t *testing.T) {
	ws := loadExample(t)
	a := ws.App("fashion-mnist")
	in := a.Instance("dev")
	tests := []struct {
		name     string
		mutate   func(u *unstructured.Unstructured)
		rule     string
		specPath string
		message  string
	}{
		{
			name: "replicas of the wrong type",
			mutate: func(u *unstructured.Unstructured) {
				unstructured.SetNestedField(u.Object, "two", "spec", "tfReplicaSpecs", "Worker", "replicas")
			},
			// dev's override sets the worker count: the finding names the
			// override's own path (issue 8, section 10).
			rule: RuleCRDSchema, specPath: "overrides.dev.training.replicas.worker.replicas", message: "must be of type integer",
		},
		{
			name: "a field the server would prune",
			mutate: func(u *unstructured.Unstructured) {
				unstructured.SetNestedField(u.Object, "high", "spec", "runPolicy", "priority")
			},
			rule: RuleCRDSchema, message: "spec.runPolicy.priority: unknown field",
		},
		{
			name: "no container named tensorflow",
			mutate: func(u *unstructured.Unstructured) {
				cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "tfReplicaSpecs", "Worker", "template", "spec", "containers")
				cs[0].(map[string]any)["name"] = "trainer"
				unstructured.SetNestedSlice(u.Object, cs, "spec", "tfReplicaSpecs", "Worker", "template", "spec", "containers")
			},
			rule: RuleTFJobAdmission, specPath: "overrides.dev.training.replicas.worker", message: "must have at least one container with name tensorflow",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objs, err := generate(ws.Platform, in)
			if err != nil {
				t.Fatal(err)
			}
			features, err := kservice.Features(objs...)
			if err != nil {
				t.Fatal(err)
			}
			if d := check(in, objs, features, nil); len(d) != 0 {
				t.Fatalf("the example must pass: %v", d)
			}
			n := 0
			for _, o := range objs {
				if o.GroupVersionKind() == kubeflowv1.SchemeGroupVersion.WithKind(kubeflowv1.TFJobKind) {
					o.Unstructured = o.Unstructured.DeepCopy()
					tc.mutate(o.Unstructured)
					objs[n] = generators.Object{Unstructured: o.Unstructured, Trace: o.Trace}
				}
				n++
			}
			d := check(in, objs, features, nil)
			if len(d) == 0 {
				t.Fatal("no finding")
			}
			f := d[0]
			if f.Rule != tc.rule || !strings.Contains(f.Message, tc.message) {
				t.Fatalf("got %s, want rule %s and %q", f, tc.rule, tc.message)
			}
			if !strings.HasPrefix(f.Pos.File, "apps/fashion-mnist/") || f.Pos.Line == 0 {
				t.Fatalf("finding %s must point at a line of the app's spec", f)
			}
			if tc.specPath != "" {
				if f.Path != tc.specPath {
					t.Fatalf("finding %s: spec path %q, want %q", f, f.Path, tc.specPath)
				}
				want, _ := in.Prov.Lookup(strings.TrimPrefix(tc.specPath, "overrides.dev."))
				if f.Pos != want {
					t.Fatalf("finding at %s, want %s (where %s is written)", f.Pos, want, tc.specPath)
				}
			}
		})
	}
}

// TestCheckTree checks the platform and Argo CD trees the way the API
// server would, naming the generated file and pointing at the platform.
func TestCheckTree(t *testing.T) {
	ws := loadExample(t)
	res, err := Workspace(ws, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for name, tree := range map[string]generators.Tree{"platform": res.Platform, "argocd": res.ArgoCD, "kubeflow-config": res.Kubeflow, "infra": res.Infra} {
		if len(tree) == 0 {
			t.Errorf("the example has no %s tree", name)
		}
		if d := checkTree(ws, tree, nil); len(d) != 0 {
			t.Fatalf("the example's %s tree must pass: %v", name, d)
		}
	}
	// kops's own CRDs: a group whose size is not an integer, and a field
	// kops does not have, are refused, at the cluster in platform.cue.
	ig := []byte(strings.Replace(strings.Replace(string(res.Infra["kops/mycluster/instancegroups/nodes.yaml"]),
		"maxSize: 5", `maxSize: "five"`, 1), "spec:\n", "spec:\n  spotPrice: 0.1\n", 1))
	kd := checkTree(ws, generators.Tree{"kops/mycluster/instancegroups/nodes.yaml": ig}, nil)
	if len(kd) != 2 || !strings.Contains(fmt.Sprint(kd), "spec.maxSize: Invalid value") || !strings.Contains(fmt.Sprint(kd), "spec.spotPrice: unknown field") ||
		kd[0].Rule != RuleCRDSchema || kd[0].Pos.File != "platform.cue" || kd[0].Pos.Line <= 1 {
		t.Errorf("a broken InstanceGroup: %v", kd)
	}
	tree := generators.Tree{
		"argocd/dev/application-a.yaml": []byte(`apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: a, namespace: argocd}
spec:
  project: p
  source: {repoURL: "https://git.example.com/k.git", path: p}
  destination: {server: "https://kubernetes.default.svc", namespace: ns}
  syncPolicy: {automated: {prune: true, syncOptions: [CreateNamespace=true]}}
`),
		"platform/dev/namespace.yaml": []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: Bad_Name}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: fine}\n"),
	}
	d := checkTree(ws, tree, nil)
	if len(d) != 2 {
		t.Fatalf("want 2 findings, got %v", d)
	}
	for i, want := range []string{
		"argoproj.io/Application/a (generated argocd/dev/application-a.yaml): spec.syncPolicy.automated.syncOptions: unknown field",
		"Namespace/Bad_Name (generated platform/dev/namespace.yaml): metadata.name: Invalid value",
	} {
		if !strings.Contains(d[i].Message, want) || d[i].Pos.File != "platform.cue" {
			t.Errorf("finding %d = %s, want %q at platform.cue", i, d[i], want)
		}
	}
}

// TestCheckTreeFromSources checks that the trees' files written from one
// object are recorded with that object (the file decodes to the object's
// very value), and that checking from the objects finds what parsing the
// files finds, for the example's trees and for broken objects.
func TestCheckTreeFromSources(t *testing.T) {
	ws := loadExample(t)
	src := generators.Sources{}
	argoSrc := generators.Sources{}
	res, err := Workspace(ws, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// the trees again, recording their sources
	var uses []rules.QuotaUse
	for _, a := range ws.Apps {
		uses = append(uses, rules.QuotaUses(a)...)
	}
	platformTree, _, err := platformTree(ws, uses, func(env string) (map[string][]string, map[string][]string) { return jobs(ws, env) }, nil, src)
	if err != nil {
		t.Fatal(err)
	}
	sameTree(t, "platform", platformTree, res.Platform)
	var apps []argocd.App
	for _, a := range ws.Apps {
		for _, in := range a.Envs {
			apps = append(apps, argocd.App{Name: a.Name, Team: a.Team, Env: in.Env.Name, Ignore: res.Apps[0].Ignore[""]})
		}
	}
	argoTree, err := argocd.Tree(argocd.Input{Platform: ws.Platform, Envs: ws.Envs, Apps: apps, PlatformDir: layout.PlatformDir, Sources: argoSrc})
	if err != nil {
		t.Fatal(err)
	}
	if len(src) < 10 || len(argoSrc) < 5 {
		t.Fatalf("%d platform and %d Argo CD sources: too few", len(src), len(argoSrc))
	}
	all := generators.Tree{}
	all.Add("", platformTree)
	all.Add("", argoTree)
	maps.Copy(src, argoSrc)
	for name, o := range src {
		file, ok := all[name]
		if !ok {
			t.Fatalf("source %s is no file of the tree", name)
		}
		var got map[string]any
		if err := yaml.Unmarshal(file, &got); err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		if g, _ := json.Marshal(got); string(g) != string(want) {
			t.Errorf("%s holds %s, its source is %s", name, g, want)
		}
	}
	if d := checkTreeFrom(ws, all, src, nil); len(d) != 0 {
		t.Fatalf("the example's platform and Argo CD trees from their sources: %v", d)
	}
	// Broken objects: what the files' checks find, the objects' find.
	var broken []generators.Object
	for _, name := range slices.Sorted(maps.Keys(src))[:6] {
		o := generators.Object{Unstructured: src[name].DeepCopy()}
		o.SetName("Bad_" + o.GetName())
		o.Object["spec"] = map[string]any{"dmlsUnknown": int64(1), "podSelector": "all"}
		broken = append(broken, o)
	}
	tree, err := kustomize.Plain(broken)
	if err != nil {
		t.Fatal(err)
	}
	want := checkTree(ws, tree, nil)
	if len(want) < len(broken) {
		t.Fatalf("the broken files: %d findings, want at least %d", len(want), len(broken))
	}
	if got := checkTreeFrom(ws, tree, kustomize.PlainSources(broken), nil); !reflect.DeepEqual(got, want) {
		t.Errorf("from the objects:\n%v\nfrom the files:\n%v", got, want)
	}
}
