package build

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/dmls-project/dmls/generators/argocd"
	"github.com/dmls-project/dmls/generators/kservice"
	"github.com/dmls-project/dmls/internal/workspace"
)

// TestKnativeServicesReadOnce holds what buildApp gets from each Knative
// Service read once (kservice.Typed) to what reading it for each use
// gives: the features, the admission check's findings and the defaults
// Argo CD ignores, for every environment of every app of the
// every-feature workspace, as generated and with Services that Knative
// refuses.
func TestKnativeServicesReadOnce(t *testing.T) {
	ws, err := workspace.Load(everyFeature(), "ws", workspace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	breaks := map[string]func(u *unstructured.Unstructured){
		"as generated": func(*unstructured.Unstructured) {},
		"concurrency below 0": func(u *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(u.Object, int64(-1), "spec", "template", "spec", "containerConcurrency")
		},
		"a bad annotation": func(u *unstructured.Unstructured) {
			ann := u.GetAnnotations()
			if ann == nil {
				ann = map[string]string{}
			}
			ann["autoscaling.knative.dev/min-scale"] = "many"
			u.SetAnnotations(ann)
		},
		"no image": func(u *unstructured.Unstructured) {
			cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
			delete(cs[0].(map[string]any), "image")
			_ = unstructured.SetNestedSlice(u.Object, cs, "spec", "template", "spec", "containers")
		},
	}
	services, refused := 0, 0
	for name, mutate := range breaks {
		for _, a := range ws.Apps {
			for _, in := range a.Envs {
				objs, err := generate(ws.Platform, in)
				if err != nil {
					t.Fatal(err)
				}
				argocd.Annotate(objs)
				for _, o := range objs {
					if kservice.IsService(o) {
						mutate(o.Unstructured)
						services++
					}
				}
				typed, err := kservice.Parse(objs...)
				if err != nil {
					t.Fatal(err)
				}
				fromTyped, err := typed.Features(objs...)
				if err != nil {
					t.Fatal(err)
				}
				features, err := kservice.Features(objs...)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(fromTyped, features) {
					t.Errorf("%s, %s in %s: features %v, read for each use %v", name, a.Name, in.Env.Name, fromTyped, features)
				}
				once, each := check(in, objs, features, typed), check(in, objs, features, nil)
				if !reflect.DeepEqual(once, each) {
					t.Errorf("%s, %s in %s: findings\n%v\nread for each use\n%v", name, a.Name, in.Env.Name, once, each)
				}
				if name != "as generated" && len(each) > 0 {
					refused++
				}
				ignoreOnce, err1 := argocd.IgnoreDifferencesTyped(objs, typed)
				ignoreEach, err2 := argocd.IgnoreDifferences(objs)
				if (err1 == nil) != (err2 == nil) || !reflect.DeepEqual(ignoreOnce, ignoreEach) {
					t.Errorf("%s, %s in %s: ignoreDifferences %v (%v), read for each use %v (%v)", name, a.Name, in.Env.Name, ignoreOnce, err1, ignoreEach, err2)
				}
				// The copies handed out leave the Services read alone.
				for _, o := range objs {
					if svc, ok := typed.Of(o); ok {
						svc.Namespace = "changed"
						if again, _ := typed.Of(o); again.Namespace == "changed" {
							t.Fatalf("Of handed out the Service it keeps")
						}
					}
				}
			}
		}
	}
	if services == 0 || refused == 0 {
		t.Fatalf("%d Knative Services checked, %d refused: the test shows nothing", services, refused)
	}
}
