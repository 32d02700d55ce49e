// Package generators holds what every generator shares: the generated
// object with the provenance of its fields, and the labels dmls sets.
//
// Generators are pure functions from the typed model (package spec) to
// Kubernetes objects built from the upstream Go types, or from the types
// of internal/apis where upstream's cannot be linked or would bring in
// much more than the types (each generated from, or held by tests to,
// upstream's CRD or Go types). They do no I/O, so
// they run in parallel and their output depends on their input alone.
package generators

import (
	"fmt"
	"maps"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/internal/spec"
)

// Object is one generated Kubernetes object and where its fields came from.
type Object struct {
	*unstructured.Unstructured
	// Trace maps the object's field paths to the spec paths that set them.
	Trace *provenance.Trace
}

// Func generates the objects of one app. It must be pure: no I/O, no
// clock, no randomness, and the same input gives the same output.
type Func func(app *spec.AppSpec, p *spec.Platform) ([]Object, error)

// ID identifies an object within one app and environment.
func (o Object) ID() string {
	return ID(o.GroupVersionKind(), o.GetName())
}

// ID formats an object identity as group/Kind/name ("Kind/name" in the
// core group).
func ID(gvk schema.GroupVersionKind, name string) string {
	if gvk.Group == "" {
		return gvk.Kind + "/" + name
	}
	return gvk.Group + "/" + gvk.Kind + "/" + name
}

// New turns a typed object into an Object. It drops what the API server
// fills in (creationTimestamp, status), so output is byte-stable.
func New(obj any, gvk schema.GroupVersionKind, trace *provenance.Trace) (Object, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return Object{}, fmt.Errorf("convert %s: %w", gvk.Kind, err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(gvk)
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "status")
	prune(u.Object)
	if trace == nil {
		trace = &provenance.Trace{}
	}
	return Object{Unstructured: u, Trace: trace}, nil
}

// prune drops empty maps and nils that typed structs serialise, such as
// template.metadata.creationTimestamp, so that objects stay minimal.
func prune(m map[string]any) {
	for k, v := range m {
		switch x := v.(type) {
		case nil:
			delete(m, k)
		case map[string]any:
			if k == "creationTimestamp" {
				delete(m, k)
				continue
			}
			prune(x)
			if len(x) == 0 && k != "emptyDir" && k != "podSelector" {
				delete(m, k)
			}
		case []any:
			for _, e := range x {
				if em, ok := e.(map[string]any); ok {
					prune(em)
				}
			}
		}
	}
}

// Label keys dmls sets on every object.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelComponent = "app.kubernetes.io/component"
	LabelPartOf    = "app.kubernetes.io/part-of"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelTeam      = "dmls.dev/team"
	LabelApp       = "dmls.dev/app"
	LabelEnv       = "dmls.dev/env"
	ManagedBy      = "dmls"
)

// Annotation keys dmls sets.
const (
	// AnnotationSource names the spec folder an object came from.
	AnnotationSource = "dmls.dev/source"
)

// Labels returns the labels of an app's objects of one component. The
// app's own labels come first, so that dmls's keys win.
func Labels(app *spec.AppSpec, p *spec.Platform, component string) map[string]string {
	l := map[string]string{}
	for k, v := range app.Labels {
		l[k] = v
	}
	l[LabelName] = app.Name
	l[LabelComponent] = component
	l[LabelManagedBy] = ManagedBy
	l[LabelTeam] = app.Team
	l[LabelApp] = app.Name
	if p != nil {
		l[LabelPartOf] = p.Name
	}
	return l
}

// GPUResource is the extended resource name of NVIDIA GPUs.
const GPUResource corev1.ResourceName = "nvidia.com/gpu"

// Resources converts spec resources to container requirements. A GPU count
// is set as a limit, which Kubernetes also takes as the request.
func Resources(r *spec.Resources) corev1.ResourceRequirements {
	var out corev1.ResourceRequirements
	if r == nil {
		return out
	}
	set := func(l *corev1.ResourceList, name corev1.ResourceName, q string) {
		if q == "" {
			return
		}
		if *l == nil {
			*l = corev1.ResourceList{}
		}
		(*l)[name] = resource.MustParse(q)
	}
	set(&out.Requests, corev1.ResourceCPU, r.CPU)
	set(&out.Requests, corev1.ResourceMemory, r.Memory)
	if r.Limits != nil {
		set(&out.Limits, corev1.ResourceCPU, r.Limits.CPU)
		set(&out.Limits, corev1.ResourceMemory, r.Limits.Memory)
	}
	if r.GPU != nil && *r.GPU > 0 {
		set(&out.Limits, GPUResource, strconv.Itoa(*r.GPU))
	}
	return out
}

// Tolerations converts spec tolerations.
func Tolerations(ts []spec.Toleration) []corev1.Toleration {
	var out []corev1.Toleration
	for _, t := range ts {
		out = append(out, corev1.Toleration{
			Key: t.Key, Operator: corev1.TolerationOperator(t.Operator), Value: t.Value,
			Effect: corev1.TaintEffect(t.Effect), TolerationSeconds: t.TolerationSeconds,
		})
	}
	return out
}

// Tree is a generated file tree: slash-separated paths relative to its
// root, and file contents.
type Tree map[string][]byte

// Add copies the files of t into tr under prefix.
func (tr Tree) Add(prefix string, t Tree) {
	for p, b := range t {
		if prefix != "" {
			p = prefix + "/" + p
		}
		tr[p] = b
	}
}

// Sources maps files of a Tree to the one object each was written from
// (kustomize.Plain writes a file per object), so that a check of the tree
// can read the object rather than parse its file again. A file that is
// not in it is parsed.
type Sources map[string]Object

// Add records under prefix that the file named by the object's path holds
// the object; a nil Sources records nothing.
func (s Sources) Add(prefix string, t Sources) {
	if s == nil {
		return
	}
	for p, o := range t {
		if prefix != "" {
			p = prefix + "/" + p
		}
		s[p] = o
	}
}

// SecurityExceptionAnnotation carries the reason of an app's
// policy.exceptions.securityContext on the objects whose containers it
// relaxes.
const SecurityExceptionAnnotation = "dmls.dev/security-exception"

// SecurityExceptionPath is the spec path of an app's security-context
// exception.
const SecurityExceptionPath = "policy.exceptions.securityContext"

// NonRootUser is the user that containers run as unless the app's
// exception lets them run as root: the image's own user may be root.
const NonRootUser int64 = 1000

// SecurityContext returns the restricted security context of the app's
// containers: non-root, no privilege escalation, no capabilities, the
// runtime's seccomp profile and a read-only root filesystem, minus what
// the app's exception relaxes. from is the spec path it comes from.
func SecurityContext(app *spec.AppSpec) (sc *corev1.SecurityContext, from string) {
	f, t := false, true
	user := NonRootUser
	sc = &corev1.SecurityContext{
		RunAsNonRoot:             &t,
		RunAsUser:                &user,
		AllowPrivilegeEscalation: &f,
		ReadOnlyRootFilesystem:   &t,
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	ex := app.SecurityException()
	if ex == nil {
		return sc, ""
	}
	if ex.RunAsRoot {
		sc.RunAsNonRoot, sc.RunAsUser = nil, nil
	}
	if ex.PrivilegeEscalation {
		sc.AllowPrivilegeEscalation = nil
	}
	if ex.WritableRootFilesystem {
		sc.ReadOnlyRootFilesystem = nil
	}
	return sc, SecurityExceptionPath
}

// AnnotateException records the reason of the app's security-context
// exception on an object's metadata, if it has one.
func AnnotateException(app *spec.AppSpec, meta *metav1.ObjectMeta, trace *provenance.Trace) {
	ex := app.SecurityException()
	if ex == nil {
		return
	}
	if meta.Annotations == nil {
		meta.Annotations = map[string]string{}
	}
	meta.Annotations[SecurityExceptionAnnotation] = ex.Reason
	trace.Record("metadata.annotations", SecurityExceptionPath+".reason")
}

// EnvVar converts one spec environment variable: a literal becomes value,
// a secretRef valueFrom.secretKeyRef and a configMapRef
// valueFrom.configMapKeyRef.
func EnvVar(name string, v spec.EnvValue) corev1.EnvVar {
	switch {
	case v.SecretRef != nil:
		r := v.SecretRef
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: r.Name}, Key: r.Key, Optional: r.Optional,
		}}}
	case v.ConfigMapRef != nil:
		r := v.ConfigMapRef
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: r.Name}, Key: r.Key, Optional: r.Optional,
		}}}
	}
	return corev1.EnvVar{Name: name, Value: v.Value}
}

// EnvFrom converts spec envFrom sources, in order.
func EnvFrom(srcs []spec.EnvSource) []corev1.EnvFromSource {
	var out []corev1.EnvFromSource
	for _, s := range srcs {
		e := corev1.EnvFromSource{Prefix: s.Prefix}
		if r := s.SecretRef; r != nil {
			e.SecretRef = &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: r.Name}, Optional: r.Optional}
		}
		if r := s.ConfigMapRef; r != nil {
			e.ConfigMapRef = &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: r.Name}, Optional: r.Optional}
		}
		out = append(out, e)
	}
	return out
}

// Service accounts of team pods, created in every team namespace by the
// platform's guard rails and named by the pods the generators make.
const (
	TrainingServiceAccount = "dmls-training"
	ServingServiceAccount  = "dmls-serving"
)

// ComponentServing is the app.kubernetes.io/component label of model
// service pods; the team namespaces' network policies admit the serving
// ingress to pods with it.
const ComponentServing = "serving"

// PlaceGPU adds the node selector and tolerations of a GPU placement to
// a pod that requests GPUs, keeping what the spec set, and records that
// they came from the pod's GPU request (gpuPath). podAt is the pod spec's
// field path in the object.
func PlaceGPU(pod *corev1.PodSpec, pl *spec.Placement, trace *provenance.Trace, podAt, gpuPath string) {
	if pl == nil {
		return
	}
	for _, k := range slices.Sorted(maps.Keys(pl.NodeSelector)) {
		if pod.NodeSelector == nil {
			pod.NodeSelector = map[string]string{}
		}
		pod.NodeSelector[k] = pl.NodeSelector[k]
		trace.Record(podAt+".nodeSelector."+k, gpuPath)
	}
	for _, t := range Tolerations(pl.Tolerations) {
		found := false
		for _, have := range pod.Tolerations {
			if have.MatchToleration(&t) {
				found = true
			}
		}
		if !found {
			pod.Tolerations = append(pod.Tolerations, t)
			trace.Record(fmt.Sprintf("%s.tolerations[%d]", podAt, len(pod.Tolerations)-1), gpuPath)
		}
	}
}
