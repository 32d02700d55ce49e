package importer

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"

	kubeflowv1 "github.com/kubeflow/training-operator/pkg/apis/kubeflow.org/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"knative.dev/pkg/apis"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/generators/inferenceservice"
	"github.com/dmls-project/dmls/internal/admission"
)

func fromUnstructured(m map[string]any, into any) error {
	return runtime.DefaultUnstructuredConverter.FromUnstructured(m, into)
}

// Kinds dmls imports.
const (
	kindTFJob    = "kubeflow.org/v1/TFJob"
	kindKService = "serving.knative.dev/v1/Service"
	kindISVC     = "serving.kserve.io/v1beta1/InferenceService"
	kindPVC      = "v1/PersistentVolumeClaim"
	kindCM       = "v1/ConfigMap"
	kindSecret   = "v1/Secret"
)

func kindOf(obj map[string]any) string {
	av, _ := obj["apiVersion"].(string)
	k, _ := obj["kind"].(string)
	return av + "/" + k
}

// Canonical returns obj as it is after the upstream type's defaulting
// (the training operator's, Knative's, KServe's, Kubernetes's for claims),
// read through the upstream Go type, and without what the API server owns
// (status, namespace and the other server-set metadata) or what dmls adds
// (its labels and annotations, given as drop, and the service accounts of
// the team namespaces' guard rails). Two objects are
// semantically equal when their canonical forms are.
func Canonical(obj map[string]any, drop map[string]string) (map[string]any, error) {
	var typed any
	switch kindOf(obj) {
	case kindTFJob:
		job := &kubeflowv1.TFJob{}
		if err := fromUnstructured(obj, job); err != nil {
			return nil, err
		}
		kubeflowv1.SetDefaults_TFJob(job)
		for _, rs := range job.Spec.TFReplicaSpecs {
			if rs != nil && rs.Template.Spec.ServiceAccountName == generators.TrainingServiceAccount {
				rs.Template.Spec.ServiceAccountName = ""
			}
		}
		typed = job
	case kindKService:
		svc := &servingv1.Service{}
		if err := viaJSON(obj, svc); err != nil {
			return nil, err
		}
		ctx, err := serviceFeatures(svc)
		if err != nil {
			return nil, err
		}
		svc.SetDefaults(apis.WithinCreate(ctx))
		if ps := &svc.Spec.Template.Spec.PodSpec; ps.ServiceAccountName == generators.ServingServiceAccount {
			ps.ServiceAccountName = ""
		}
		typed = svc
	case kindISVC:
		isvc := &inferenceservice.InferenceService{}
		if err := viaJSON(obj, isvc); err != nil {
			return nil, err
		}
		inferenceservice.Default(isvc)
		_, spec := inferenceservice.Parts(isvc)
		if ps := &spec.Predictor; ps.ServiceAccountName != nil && *ps.ServiceAccountName == generators.ServingServiceAccount {
			ps.ServiceAccountName = nil
		}
		if t := spec.Transformer; t != nil && t.ServiceAccountName != nil && *t.ServiceAccountName == generators.ServingServiceAccount {
			t.ServiceAccountName = nil
		}
		typed = isvc
	case kindTrainJob:
		// The CRD's defaults, as the API server stores the job.
		s, err := admission.Default()
		if err != nil {
			return nil, err
		}
		d, err := s.DefaultCR(obj)
		if err != nil {
			return nil, err
		}
		typed = d
	case kindPVC:
		pvc := &corev1.PersistentVolumeClaim{}
		if err := fromUnstructured(obj, pvc); err != nil {
			return nil, err
		}
		if pvc.Spec.VolumeMode == nil {
			fs := corev1.PersistentVolumeFilesystem
			pvc.Spec.VolumeMode = &fs
		}
		typed = pvc
	default:
		return nil, fmt.Errorf("no canonical form for %s", kindOf(obj))
	}
	b, err := json.Marshal(typed)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	delete(out, "status")
	meta, _ := out["metadata"].(map[string]any)
	keep := map[string]any{}
	for _, k := range []string{"name", "labels", "annotations"} {
		if v, ok := meta[k]; ok {
			keep[k] = v
		}
	}
	out["metadata"] = keep
	defaultPorts(out)
	clean(out, drop)
	return out, nil
}

func viaJSON(m map[string]any, into any) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, into)
}

// keyedLists are lists whose items are identified by name, so that their
// order carries no meaning.
var keyedLists = map[string]bool{"volumes": true, "volumeMounts": true, "env": true, "containers": true, "ports": true}

// clean drops what dmls adds to labels and annotations (keys of drop with
// the same value, and every dmls.dev/ and argocd.argoproj.io/ key), empty
// values, and orders keyed lists by name.
func clean(m map[string]any, drop map[string]string) {
	for k, v := range m {
		switch x := v.(type) {
		case map[string]any:
			if k == "labels" || k == "annotations" {
				for lk, lv := range x {
					if dv, ok := drop[lk]; ok && dv == lv || strings.HasPrefix(lk, "dmls.dev/") || strings.HasPrefix(lk, "argocd.argoproj.io/") {
						delete(x, lk)
					}
				}
			}
			clean(x, drop)
			if len(x) == 0 {
				delete(m, k)
			}
		case []any:
			for _, e := range x {
				if em, ok := e.(map[string]any); ok {
					clean(em, drop)
				}
			}
			if keyedLists[k] {
				sort.SliceStable(x, func(i, j int) bool { return itemKey(x[i]) < itemKey(x[j]) })
			}
			if len(x) == 0 {
				delete(m, k)
			}
		case nil:
			delete(m, k)
		case string:
			if x == "" {
				delete(m, k)
			}
		}
	}
}

func itemKey(v any) string {
	m, _ := v.(map[string]any)
	if n, ok := m["name"].(string); ok {
		return n
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// difference is one field where two canonical objects differ.
type difference struct {
	path    string
	in, out any // nil when absent
}

// diff lists where out (the render) differs from in (the input).
func diff(at string, in, out any, acc *[]difference) {
	im, iok := in.(map[string]any)
	om, ook := out.(map[string]any)
	if iok && ook {
		keys := map[string]bool{}
		for k := range im {
			keys[k] = true
		}
		for k := range om {
			keys[k] = true
		}
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			diff(join(at, k), im[k], om[k], acc)
		}
		return
	}
	il, iok := in.([]any)
	ol, ook := out.([]any)
	if iok && ook && len(il) == len(ol) {
		for i := range il {
			diff(fmt.Sprintf("%s[%d]", at, i), il[i], ol[i], acc)
		}
		return
	}
	if !reflect.DeepEqual(in, out) {
		*acc = append(*acc, difference{at, in, out})
	}
}

func join(at, k string) string {
	if at == "" {
		return k
	}
	return at + "." + k
}

func show(v any) string {
	if v == nil {
		return "nothing"
	}
	b, _ := json.Marshal(v)
	s := string(b)
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

// message says what a difference means for an import.
func (d difference) message() string {
	switch {
	case d.out == nil:
		return fmt.Sprintf("a dmls spec cannot express this (the input has %s; the render would have nothing)", show(d.in))
	case d.in == nil:
		return fmt.Sprintf("the render would add %s, which the input does not have", show(d.out))
	}
	return fmt.Sprintf("a dmls spec cannot express this: the input has %s, the render would have %s", show(d.in), show(d.out))
}

// unknownFields lists the fields of obj that the upstream Go type does not
// know (and so neither the API server nor dmls would keep).
func unknownFields(obj map[string]any, typed any) []string {
	if err := viaJSON(obj, typed); err != nil {
		return nil
	}
	b, _ := json.Marshal(typed)
	var back map[string]any
	_ = json.Unmarshal(b, &back)
	var out []string
	missing("", obj, back, &out)
	return out
}

func missing(at string, in, back any, out *[]string) {
	switch x := in.(type) {
	case map[string]any:
		bm, _ := back.(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(x)) {
			bv, ok := bm[k]
			if !ok {
				if (at == "" && k == "status") || isZero(x[k]) {
					continue
				}
				*out = append(*out, join(at, k))
				continue
			}
			missing(join(at, k), x[k], bv, out)
		}
	case []any:
		bl, _ := back.([]any)
		for i := range x {
			if i < len(bl) {
				missing(fmt.Sprintf("%s[%d]", at, i), x[i], bl[i], out)
			}
		}
	}
}

func isZero(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case bool:
		return !x
	case string:
		return x == ""
	case int64:
		return x == 0
	case float64:
		return x == 0
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

// defaultPorts gives container ports without a protocol TCP, as
// Kubernetes defaults them when it creates the pods.
func defaultPorts(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if l, ok := e.([]any); ok && k == "ports" {
				for _, p := range l {
					if pm, ok := p.(map[string]any); ok && pm["containerPort"] != nil && pm["protocol"] == nil {
						pm["protocol"] = "TCP"
					}
				}
			}
			defaultPorts(e)
		}
	case []any:
		for _, e := range x {
			defaultPorts(e)
		}
	}
}
