package argocd

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	authv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"knative.dev/pkg/apis"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/generators/inferenceservice"
	"github.com/dmls-project/dmls/generators/kservice"
	"github.com/dmls-project/dmls/generators/trainjob"
	"github.com/dmls-project/dmls/internal/admission"
	"github.com/dmls-project/dmls/internal/apis/argocdv1alpha1"
	"github.com/dmls-project/dmls/internal/spec"
)

var (
	kindTFJob    = schema.GroupKind{Group: "kubeflow.org", Kind: "TFJob"}
	kindTrainJob = trainjob.GVK.GroupKind()
	kindKService = schema.GroupKind{Group: servingv1.SchemeGroupVersion.Group, Kind: "Service"}
	kindISVC     = schema.GroupKind{Group: inferenceservice.GroupVersion.Group, Kind: inferenceservice.Kind}
)

// webhookUser stands for whoever creates the Service; Knative records it
// in the creator and lastModifier annotations.
const webhookUser = "system:serviceaccount:argocd:argocd-application-controller"

// IgnoreDifferences returns what an Application must not compare on the
// Knative Services and KServe InferenceServices among objs, one entry per
// object in kind, then name order. For an InferenceService these are the
// fields KServe's webhook defaults, found with KServe's own defaulting
// (inferenceservice.Default). For a Knative Service they are the
// fields Knative's admission webhook adds or changes when the Service is
// created, found by running Knative's own defaulting (SetDefaults) with
// its built-in config-defaults and the features the Service uses
// (kservice.Features). Fields dmls sets to the value Knative would give
// them are not ignored, so changes to them still sync.
//
// A cluster whose config-defaults adds more (say, revision-cpu-request)
// defaults more fields than these.
func IgnoreDifferences(objs []generators.Object) ([]argocdv1alpha1.ResourceIgnoreDifferences, error) {
	return IgnoreDifferencesTyped(objs, nil)
}

// IgnoreDifferencesTyped is IgnoreDifferences, taking each Knative Service
// from typed (a copy) when typed has it rather than reading it again.
func IgnoreDifferencesTyped(objs []generators.Object, typed kservice.Typed) ([]argocdv1alpha1.ResourceIgnoreDifferences, error) {
	var out []argocdv1alpha1.ResourceIgnoreDifferences
	for _, o := range objs {
		if o.Unstructured == nil {
			continue
		}
		var ptrs []string
		var err error
		gk := o.GroupVersionKind().GroupKind()
		if q := KueueIgnore(o); q != nil {
			if !slices.ContainsFunc(out, func(r argocdv1alpha1.ResourceIgnoreDifferences) bool { return r.Group == q.Group && r.Kind == q.Kind }) {
				out = append(out, *q)
			}
			continue
		}
		switch gk {
		case kindKService:
			if svc, ok := typed.Of(o); ok {
				ptrs, err = knativeDefaults(o, svc)
			} else {
				ptrs, err = KnativeDefaults(o)
			}
		case kindISVC:
			ptrs, err = KServeDefaults(o)
		default:
			continue
		}
		if err != nil {
			return nil, err
		}
		if len(ptrs) == 0 {
			continue
		}
		out = append(out, argocdv1alpha1.ResourceIgnoreDifferences{
			Group: gk.Group, Kind: gk.Kind, Name: o.GetName(),
			JSONPointers: ptrs,
		})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind > out[j].Kind // TrainJob, TFJob, Service, InferenceService
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// KnativeDefaults returns the JSON pointers (RFC 6901) of the fields of a
// Knative Service that Knative's webhook adds or changes on create, in
// order. Like the webhook (knative.dev/pkg defaulting), it reads the
// object into Knative's Go type and writes it back, which adds the empty
// fields the type does not omit, then runs SetDefaults and records the
// creator. A map the webhook adds is one pointer, except annotations and
// labels, whose new keys are one pointer each.
func KnativeDefaults(obj generators.Object) ([]string, error) {
	svc := &servingv1.Service{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, svc); err != nil {
		return nil, fmt.Errorf("knative service %s: %w", obj.GetName(), err)
	}
	return knativeDefaults(obj, svc)
}

// knativeDefaults is KnativeDefaults of obj read into svc, which it
// changes.
func knativeDefaults(obj generators.Object, svc *servingv1.Service) ([]string, error) {
	features, err := kservice.Typed{obj.Unstructured: svc}.Features(obj)
	if err != nil {
		return nil, err
	}
	ctx, err := admission.WithKnativeFeatures(context.Background(), features)
	if err != nil {
		return nil, err
	}
	ctx = apis.WithinCreate(ctx)
	ctx = apis.WithUserInfo(ctx, &authv1.UserInfo{Username: webhookUser})
	return defaulted(obj, "knative service", svc, func(svc *servingv1.Service) { svc.SetDefaults(ctx) })
}

// KServeDefaults returns the JSON pointers (RFC 6901) of the fields of a
// KServe InferenceService that KServe's webhook adds or changes on create,
// in order: the object goes through KServe's Go type and its defaulting,
// as in KServe's mutating webhook.
func KServeDefaults(obj generators.Object) ([]string, error) {
	return defaultedPointers(obj, "inferenceservice", &inferenceservice.InferenceService{}, inferenceservice.Default)
}

// defaultedPointers returns the pointers of what an admission webhook
// adds to or changes in obj: obj is read into the upstream Go type typed
// (as the webhook decodes it), defaulted with setDefaults, written back,
// and compared with obj. what names the kind in errors.
//
// The object goes into and out of the Go type through apimachinery's
// unstructured converter, which honours the JSON tags and the types' own
// JSON encodings as encoding/json does, without encoding the object as
// JSON text and parsing it three times (most of what ignoring the
// defaults of 3,000 Knative Services cost); both sides then hold numbers
// as JSON decodes them (float64), so that the comparison is the one a
// round trip through JSON gives (TestDefaultedPointersAsJSON).
func defaultedPointers[T any](obj generators.Object, what string, typed *T, setDefaults func(*T)) ([]string, error) {
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, typed); err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, obj.GetName(), err)
	}
	return defaulted(obj, what, typed, setDefaults)
}

// defaulted is defaultedPointers of obj already read into typed.
func defaulted[T any](obj generators.Object, what string, typed *T, setDefaults func(*T)) ([]string, error) {
	setDefaults(typed)
	admitted, err := runtime.DefaultUnstructuredConverter.ToUnstructured(typed)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, obj.GetName(), err)
	}
	before, ok := asJSON(obj.Object).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s %s: not a JSON object", what, obj.GetName())
	}
	after, _ := asJSON(admitted).(map[string]any)
	return diffPointers(before, after), nil
}

// asJSON returns a copy of the JSON value v with every number a float64,
// as encoding/json decodes it into an interface value.
func asJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = asJSON(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = asJSON(e)
		}
		return l
	case int64:
		return float64(x)
	case int:
		return float64(x)
	case int32:
		return float64(x)
	case float32:
		return float64(x)
	case nil, string, bool, float64:
		return v
	}
	// a Go value of another numeric or string type, as generators may
	// put in an object (an int32 field, a corev1.Protocol)
	switch r := reflect.ValueOf(v); r.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(r.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(r.Uint())
	case reflect.Float32, reflect.Float64:
		return r.Float()
	case reflect.String:
		return r.String()
	case reflect.Bool:
		return r.Bool()
	}
	return v
}

// diffPointers returns the pointers of what after adds to or changes in
// before, leaving out what the API server owns: status and the object's
// creation time.
func diffPointers(before, after map[string]any) []string {
	delete(before, "status")
	delete(after, "status")
	for _, m := range []map[string]any{before, after} {
		if meta, ok := m["metadata"].(map[string]any); ok {
			delete(meta, "creationTimestamp")
		}
	}
	var ptrs []string
	changed("", before, after, &ptrs)
	return ptrs
}

// changed appends the pointers under at where after adds to or differs
// from before. Lists of the same length are compared item by item, so a
// field the webhook adds to one container is one pointer.
func changed(at string, before, after any, out *[]string) {
	switch a := after.(type) {
	case map[string]any:
		b, ok := before.(map[string]any)
		if !ok {
			if before != nil || !isKeyMap(at) {
				*out = append(*out, at)
				return
			}
			b = map[string]any{}
		}
		for _, k := range slices.Sorted(maps.Keys(a)) {
			p := at + "/" + escapePointer(k)
			bv, has := b[k]
			if !has && !isKeyMap(p) {
				*out = append(*out, p)
				continue
			}
			changed(p, bv, a[k], out)
		}
	case []any:
		b, ok := before.([]any)
		if !ok || len(b) != len(a) {
			*out = append(*out, at)
			return
		}
		for i := range a {
			changed(at+"/"+strconv.Itoa(i), b[i], a[i], out)
		}
	default:
		if !reflect.DeepEqual(before, after) {
			*out = append(*out, at)
		}
	}
}

// isKeyMap reports whether the map at pointer p holds independent keys
// (annotations, labels): each key the webhook adds is ignored on its own,
// so that dmls's keys are still compared.
func isKeyMap(p string) bool {
	return strings.HasSuffix(p, "/metadata/annotations") || strings.HasSuffix(p, "/metadata/labels")
}

// escapePointer escapes a JSON pointer token (RFC 6901).
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// SyncOptionRespectIgnoreDifferences makes a sync keep the live values of
// ignored fields instead of applying git's.
const SyncOptionRespectIgnoreDifferences = "RespectIgnoreDifferences=true"

// kueueRuntimePatch selects the runtime patch that Kueue's webhook adds to
// a TrainJob (Trainer stamps a time on it).
const kueueRuntimePatch = `.spec.runtimePatches[] | select(.manager == "` + trainjob.KueueManager + `")`

// KueueIgnore returns what an Application must not compare on the training
// jobs of a kind, given one that queues through Kueue (it carries the
// queue-name label), or nil. The entry names no job, so that a re-training
// leaves the Application as it is:
// the suspend flag that Kueue sets and clears (a TrainJob's spec.suspend,
// a TFJob's spec.runPolicy.suspend), and on a TrainJob the runtime patch
// that Kueue's webhook adds. Without this, an admission would read as
// OutOfSync and selfHeal would undo Kueue's placement.
func KueueIgnore(o generators.Object) *argocdv1alpha1.ResourceIgnoreDifferences {
	if _, queued := o.GetLabels()[spec.KueueQueueLabel]; !queued {
		return nil
	}
	gk := o.GroupVersionKind().GroupKind()
	switch gk {
	case kindTrainJob:
		return &argocdv1alpha1.ResourceIgnoreDifferences{Group: gk.Group, Kind: gk.Kind,
			JSONPointers: []string{"/spec/suspend"}, JQPathExpressions: []string{kueueRuntimePatch}}
	case kindTFJob:
		return &argocdv1alpha1.ResourceIgnoreDifferences{Group: gk.Group, Kind: gk.Kind,
			JSONPointers: []string{"/spec/runPolicy/suspend"}}
	}
	return nil
}

// respectIgnore reports whether an Application syncs with
// RespectIgnoreDifferences: when it ignores what Kueue owns on a training
// job, and nothing of a Knative Service or InferenceService. For those,
// Argo CD would copy whole lists from live (see the package doc), and a
// new image would never apply; an app that queues a job and serves a
// model relies on server-side apply instead, which leaves the fields
// Kueue owns alone.
func respectIgnore(ignore []argocdv1alpha1.ResourceIgnoreDifferences) bool {
	kueue := false
	for _, r := range ignore {
		switch (schema.GroupKind{Group: r.Group, Kind: r.Kind}) {
		case kindTrainJob, kindTFJob:
			kueue = true
		default:
			return false
		}
	}
	return kueue
}
