package argocd

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch"
	gomodulesjsonpatch "gomodules.xyz/jsonpatch/v2"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"knative.dev/pkg/apis"
	"knative.dev/pkg/apis/duck"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/generators/inferenceservice"
	"github.com/dmls-project/dmls/generators/kservice"
	"github.com/dmls-project/dmls/internal/admission"
	"github.com/dmls-project/dmls/internal/apis/argocdv1alpha1"
	"github.com/dmls-project/dmls/internal/spec"
)

// admitted returns obj as the API server stores it after Knative's
// defaulting webhook (knative.dev/pkg webhook/resourcesemantics/defaulting)
// admits its creation: the webhook answers with a JSON patch made of a
// round trip through the Go type, SetDefaults, and the user info
// annotations, and the API server applies it to what was sent. This is
// what Argo CD then sees live.
func admitted(t *testing.T, obj generators.Object, user string) *unstructured.Unstructured {
	t.Helper()
	raw, err := json.Marshal(obj.Object)
	if err != nil {
		t.Fatal(err)
	}
	svc := &servingv1.Service{}
	if err := json.Unmarshal(raw, svc); err != nil {
		t.Fatal(err)
	}
	roundTripped, err := json.Marshal(svc)
	if err != nil {
		t.Fatal(err)
	}
	patch, err := gomodulesjsonpatch.CreatePatch(raw, roundTripped)
	if err != nil {
		t.Fatal(err)
	}
	features, err := kservice.Features(obj)
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := admission.WithKnativeFeatures(context.Background(), features)
	if err != nil {
		t.Fatal(err)
	}
	ctx = apis.WithUserInfo(apis.WithinCreate(ctx), &authv1.UserInfo{Username: user})
	before := svc.DeepCopy()
	svc.SetDefaults(ctx)
	defaults, err := duck.CreatePatch(before, svc)
	if err != nil {
		t.Fatal(err)
	}
	if fe := svc.Validate(ctx).Filter(apis.ErrorLevel); fe != nil {
		t.Fatalf("Knative rejects the admitted Service: %v", fe)
	}
	ops, err := json.Marshal(append(patch, defaults...))
	if err != nil {
		t.Fatal(err)
	}
	p, err := jsonpatch.DecodePatch(ops)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := p.Apply(raw)
	if err != nil {
		t.Fatalf("apply the webhook's patch: %v", err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(stored); err != nil {
		t.Fatal(err)
	}
	return u
}

// normalize applies an Application's ignoreDifferences, as the controller
// does before it compares (see ignoreNormalize), and returns the spec and
// annotations as JSON, where numbers compare by value and an empty
// annotation map is none.
func normalize(t *testing.T, ignore []argocdv1alpha1.ResourceIgnoreDifferences, u *unstructured.Unstructured) string {
	t.Helper()
	u = u.DeepCopy()
	if err := ignoreNormalize(ignore, u); err != nil {
		t.Fatal(err)
	}
	v := map[string]any{"spec": u.Object["spec"]}
	if ann := u.GetAnnotations(); len(ann) > 0 {
		v["annotations"] = ann
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func kservices(t *testing.T) []generators.Object {
	t.Helper()
	var out []generators.Object
	for _, a := range fixtureApps(t) {
		for _, o := range a.Objects {
			if o.GroupVersionKind().GroupKind() == kindKService {
				out = append(out, o)
			}
		}
	}
	if len(out) < 3 {
		t.Fatalf("fixture has %d Knative Services, want 3", len(out))
	}
	return out
}

// TestIgnoreDifferencesCoverKnativeDefaults admits each fixture Service
// through Knative's defaulting, as the webhook would, and checks that
// after Argo CD's normalizer applies the Application's ignoreDifferences
// the live Service equals what dmls wrote: no drift, whoever created it.
func TestIgnoreDifferencesCoverKnativeDefaults(t *testing.T) {
	for _, o := range kservices(t) {
		ignore, err := IgnoreDifferences([]generators.Object{o})
		if err != nil {
			t.Fatal(err)
		}
		live := admitted(t, o, "kubernetes-admin")
		if normalize(t, nil, live) == normalize(t, nil, o.Unstructured) {
			t.Fatalf("%s: Knative's defaulting changed nothing; the test would prove nothing", o.ID())
		}
		got, want := normalize(t, ignore, live), normalize(t, ignore, o.Unstructured)
		if got != want {
			t.Errorf("%s: live and git still differ after ignoreDifferences %v:\n live %s\n  git %s", o.ID(), ignore, got, want)
		}
	}
}

// TestIgnoreDifferencesKeepWhatDmlsSets checks that fields dmls sets are
// never ignored, so that changing them in git still syncs: the ranker sets
// its timeout, concurrency and traffic split; the other services set their
// traffic.
func TestIgnoreDifferencesKeepWhatDmlsSets(t *testing.T) {
	for _, o := range kservices(t) {
		ptrs, err := KnativeDefaults(o)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ptrs {
			if strings.HasPrefix(p, "/spec/traffic") {
				t.Errorf("%s: ignores %s, which dmls sets", o.ID(), p)
			}
			if strings.HasPrefix(p, "/metadata/annotations/") && !strings.HasPrefix(p, "/metadata/annotations/serving.knative.dev~1") {
				t.Errorf("%s: ignores annotation %s, which is not Knative's", o.ID(), p)
			}
		}
		if o.GetName() == "ranker" {
			for _, p := range []string{"/spec/template/spec/timeoutSeconds", "/spec/template/spec/containerConcurrency"} {
				if slices.Contains(ptrs, p) {
					t.Errorf("ranker: ignores %s, which dmls sets", p)
				}
			}
		}

		// Changing the traffic split in git must show as a difference.
		ignore, err := IgnoreDifferences([]generators.Object{o})
		if err != nil {
			t.Fatal(err)
		}
		live := admitted(t, o, "kubernetes-admin")
		edited := o.DeepCopy()
		traffic, _, _ := unstructured.NestedSlice(edited.Object, "spec", "traffic")
		traffic[0].(map[string]any)["percent"] = int64(42)
		if err := unstructured.SetNestedSlice(edited.Object, traffic, "spec", "traffic"); err != nil {
			t.Fatal(err)
		}
		if normalize(t, ignore, live) == normalize(t, ignore, edited) {
			t.Errorf("%s: a new traffic percentage in git is ignored", o.ID())
		}
	}
}

// TestKnativeDefaultsList pins what Knative v0.42 fills in on the
// fashion-mnist Service, so that a Knative upgrade that changes it shows
// here.
func TestKnativeDefaultsList(t *testing.T) {
	o := kservices(t)[0]
	got, err := KnativeDefaults(o)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/metadata/annotations/serving.knative.dev~1creator",
		"/metadata/annotations/serving.knative.dev~1lastModifier",
		"/spec/template/spec/containerConcurrency",
		"/spec/template/spec/containers/0/readinessProbe",
		"/spec/template/spec/enableServiceLinks",
		"/spec/template/spec/timeoutSeconds",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Knative defaults of %s:\n got %q\nwant %q", o.ID(), got, want)
	}
}

// jsonDefaultedPointers is defaultedPointers through JSON text, as it was
// written first: the reference TestDefaultedPointersAsJSON holds it to.
func jsonDefaultedPointers[T any](t *testing.T, obj generators.Object, typed *T, setDefaults func(*T)) []string {
	t.Helper()
	raw, err := json.Marshal(obj.Object)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, typed); err != nil {
		t.Fatal(err)
	}
	setDefaults(typed)
	out, err := json.Marshal(typed)
	if err != nil {
		t.Fatal(err)
	}
	var before, after map[string]any
	if err := json.Unmarshal(raw, &before); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &after); err != nil {
		t.Fatal(err)
	}
	return diffPointers(before, after)
}

// TestDefaultedPointersAsJSON checks that the defaulted pointers, found
// through the unstructured converter, are those of the round trip through
// JSON text, for the fixture's Services, for KServe InferenceServices,
// and for objects holding Go types a generator may put in one (int32,
// int, a named string type).
func TestDefaultedPointersAsJSON(t *testing.T) {
	objs := kservices(t)
	odd := generators.Object{Unstructured: objs[0].DeepCopy()}
	podSpec := odd.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
	c := podSpec["containers"].([]any)[0].(map[string]any)
	c["ports"] = []any{map[string]any{"containerPort": int32(8080), "protocol": corev1.ProtocolTCP}}
	c["workingDir"] = "/w"
	podSpec["timeoutSeconds"] = 30
	objs = append(objs, odd)
	for _, o := range objs {
		got, err := KnativeDefaults(o)
		if err != nil {
			t.Fatal(err)
		}
		features, err := kservice.Features(o)
		if err != nil {
			t.Fatal(err)
		}
		ctx, err := admission.WithKnativeFeatures(context.Background(), features)
		if err != nil {
			t.Fatal(err)
		}
		ctx = apis.WithUserInfo(apis.WithinCreate(ctx), &authv1.UserInfo{Username: webhookUser})
		want := jsonDefaultedPointers(t, o, &servingv1.Service{}, func(s *servingv1.Service) { s.SetDefaults(ctx) })
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("%s: %v, through JSON %v", o.ID(), got, want)
		}
	}
	isvc := &spec.AppSpec{Name: "iris", Serving: &spec.ModelService{Runtime: spec.RuntimeKServe,
		Model: &spec.Model{Format: "sklearn", StorageURI: "gs://models/iris"}, Resources: &spec.Resources{CPU: "1", Memory: "2Gi"}}}
	gen, err := inferenceservice.Generate(isvc, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := KServeDefaults(gen[0])
	if err != nil {
		t.Fatal(err)
	}
	if want := jsonDefaultedPointers(t, gen[0], &inferenceservice.InferenceService{}, inferenceservice.Default); len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("iris: %v, through JSON %v", got, want)
	}
}
