// Package kservice generates Knative Services from model service specs.
// Knative's own validation of them is internal/admission's.
package kservice

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"knative.dev/serving/pkg/apis/autoscaling"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/internal/spec"
)

// Component is the app.kubernetes.io/component label of serving objects.
const Component = generators.ComponentServing

// TensorFlow Serving runtime settings.
const (
	TFServingImage = spec.TFServingImage
	TFServingPort  = 8501 // the REST API port
	ModelsDir      = "/models"
	modelVolume    = "model"
)

// DefaultPort is the container port of an image-based service.
const DefaultPort = 8080

var _ generators.Func = Generate

// Generate returns the Knative Service of app's serving spec. An app
// without serving gives nothing.
func Generate(app *spec.AppSpec, p *spec.Platform) ([]generators.Object, error) {
	s := app.Serving
	if s == nil || s.Runtime == spec.RuntimeKServe {
		return nil, nil
	}
	name := s.ObjectName(app.Name)
	labels := generators.Labels(app, p, Component)
	trace := &provenance.Trace{}
	const tmpl = "spec.template"
	const ctr = tmpl + ".spec.containers[0]"

	// A restricted security context (the policy's, as Knative recommends):
	// it runs as a non-root user, since tensorflow/serving's own user is
	// root, and needs no writable root filesystem.
	sc, scFrom := generators.SecurityContext(app)
	c := corev1.Container{Name: "model", SecurityContext: sc}
	if scFrom != "" {
		trace.Record(ctr+".securityContext", scFrom)
	}
	port := s.Port
	var volumes []corev1.Volume
	if m := s.Model; m != nil {
		claim, sub := splitPVC(m.StorageURI)
		model := m.Name
		if model == "" {
			model = app.Name
		}
		if port == 0 {
			port = TFServingPort
		}
		base := path.Join(ModelsDir, model)
		version := m.RuntimeVersion
		if version == "" {
			version = spec.DefaultTFServingVersion
		}
		c.Image = TFServingImage + ":" + version
		trace.Record(ctr+".image", "serving.model.runtimeVersion")
		c.Args = []string{
			"--port=8500",
			"--rest_api_port=" + strconv.Itoa(port),
			"--model_name=" + model,
			"--model_base_path=" + base,
		}
		trace.Record(ctr+".args", "serving.model")
		c.VolumeMounts = []corev1.VolumeMount{{Name: modelVolume, MountPath: base, SubPath: sub, ReadOnly: true}}
		trace.Record(ctr+".volumeMounts", "serving.model.storageUri")
		volumes = []corev1.Volume{{Name: modelVolume, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim, ReadOnly: true},
		}}}
		trace.Record(tmpl+".spec.volumes", "serving.model.storageUri")
	} else {
		c.Image = s.Image
		trace.Record(ctr+".image", "serving.image")
		if port == 0 {
			port = DefaultPort
		}
	}
	if s.Command != nil {
		c.Command = s.Command
		trace.Record(ctr+".command", "serving.command")
	}
	if s.Args != nil {
		c.Args = append(c.Args, s.Args...)
		trace.Record(ctr+".args", "serving.args")
	}
	c.Ports = []corev1.ContainerPort{{Name: "http1", ContainerPort: int32(port), Protocol: corev1.ProtocolTCP}}
	trace.Record(ctr+".ports", "serving.port")
	for i, k := range slices.Sorted(maps.Keys(s.Env)) {
		c.Env = append(c.Env, generators.EnvVar(k, s.Env[k]))
		trace.Record(fmt.Sprintf("%s.env[%d]", ctr, i), "serving.env."+k)
	}
	c.EnvFrom = generators.EnvFrom(s.EnvFrom)
	for i := range s.EnvFrom {
		trace.Record(fmt.Sprintf("%s.envFrom[%d]", ctr, i), fmt.Sprintf("serving.envFrom[%d]", i))
	}
	c.Resources = generators.Resources(s.Resources)
	trace.Record(ctr+".resources", "serving.resources")

	ann := map[string]string{}
	as := s.Autoscaling
	setScale := func(key string, v *int, from string) {
		if v != nil {
			ann[key] = strconv.Itoa(*v)
			trace.Record(tmpl+".metadata.annotations."+key, "serving.autoscaling."+from)
		}
	}
	setScale(autoscaling.MinScaleAnnotationKey, as.MinScale, "minScale")
	setScale(autoscaling.MaxScaleAnnotationKey, as.MaxScale, "maxScale")
	setScale(autoscaling.TargetAnnotationKey, as.Target, "target")

	svc := &servingv1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
	}
	generators.AnnotateException(app, &svc.ObjectMeta, trace)
	rt := &svc.Spec.ConfigurationSpec.Template
	rt.ObjectMeta = metav1.ObjectMeta{Labels: labels}
	if len(ann) > 0 {
		rt.Annotations = ann
	}
	if s.Revision != "" {
		rt.Name = spec.RevisionName(name, s.Revision)
		trace.Record(tmpl+".metadata.name", "serving.revision")
	}
	rt.Spec.PodSpec = corev1.PodSpec{ServiceAccountName: generators.ServingServiceAccount, Containers: []corev1.Container{c}, Volumes: volumes}
	if r := s.Resources; r != nil && r.GPU != nil && *r.GPU > 0 {
		generators.PlaceGPU(&rt.Spec.PodSpec, app.GPU, trace, tmpl+".spec", "serving.resources.gpu")
	}
	if as.ContainerConcurrency != nil {
		rt.Spec.ContainerConcurrency = new(int64(*as.ContainerConcurrency))
		trace.Record(tmpl+".spec.containerConcurrency", "serving.autoscaling.containerConcurrency")
	}
	if as.TimeoutSeconds != nil {
		rt.Spec.TimeoutSeconds = new(int64(*as.TimeoutSeconds))
		trace.Record(tmpl+".spec.timeoutSeconds", "serving.autoscaling.timeoutSeconds")
	}
	if s.Name != "" {
		trace.Record("metadata.name", "serving.name")
	}
	svc.Spec.RouteSpec.Traffic = traffic(name, s, trace)

	obj, err := generators.New(svc, servingv1.SchemeGroupVersion.WithKind("Service"), trace)
	if err != nil {
		return nil, err
	}
	return []generators.Object{obj}, nil
}

// traffic splits requests: all to the latest ready revision by default,
// all to one pinned revision, or stable and canary by percent. Extra tags
// route by name at 0%.
func traffic(name string, s *spec.ModelService, trace *provenance.Trace) []servingv1.TrafficTarget {
	tr := s.Traffic
	var out []servingv1.TrafficTarget
	switch {
	case tr.CanaryPercent != nil:
		p := int64(*tr.CanaryPercent)
		out = append(out,
			servingv1.TrafficTarget{Tag: spec.TagStable, RevisionName: spec.RevisionName(name, tr.Stable), Percent: new(100 - p), LatestRevision: new(false)},
			servingv1.TrafficTarget{Tag: spec.TagCanary, RevisionName: spec.RevisionName(name, s.Revision), Percent: new(p), LatestRevision: new(false)},
		)
		trace.Record("spec.traffic[0]", "serving.traffic.stable")
		trace.Record("spec.traffic[1]", "serving.traffic.canaryPercent")
	case tr.Pinned:
		out = append(out, servingv1.TrafficTarget{Tag: spec.TagCurrent, RevisionName: spec.RevisionName(name, s.Revision), Percent: new(int64(100)), LatestRevision: new(false)})
		trace.Record("spec.traffic[0]", "serving.traffic.pinned")
	default:
		out = append(out, servingv1.TrafficTarget{Tag: spec.TagCurrent, LatestRevision: new(true), Percent: new(int64(100))})
		trace.Record("spec.traffic[0]", "serving.traffic")
	}
	for _, tag := range slices.Sorted(maps.Keys(tr.Tags)) {
		trace.Record(fmt.Sprintf("spec.traffic[%d]", len(out)), "serving.traffic.tags."+tag)
		out = append(out, servingv1.TrafficTarget{Tag: tag, RevisionName: spec.RevisionName(name, tr.Tags[tag]), Percent: new(int64(0)), LatestRevision: new(false)})
	}
	return out
}

// splitPVC splits pvc://claim/sub/path into the claim and the sub path.
func splitPVC(uri string) (claim, sub string) {
	rest := strings.TrimSuffix(strings.TrimPrefix(uri, "pvc://"), "/")
	claim, sub, _ = strings.Cut(rest, "/")
	return claim, sub
}

// PodSpecFlags are the Knative config-features flags of PodSpec fields
// that dmls writes into config-features, each with how to tell that a
// PodSpec uses it. Features sets every one of them, enabled or disabled,
// so that the Knative install allows exactly what the generated services
// use. Flags Knative enables by default (emptyDir volumes) are left alone.
var PodSpecFlags = []struct {
	Key  string
	Uses func(*corev1.PodSpec) bool
}{
	{"kubernetes.podspec-affinity", func(ps *corev1.PodSpec) bool { return ps.Affinity != nil }},
	{"kubernetes.podspec-nodeselector", func(ps *corev1.PodSpec) bool { return len(ps.NodeSelector) > 0 }},
	{"kubernetes.podspec-tolerations", func(ps *corev1.PodSpec) bool { return len(ps.Tolerations) > 0 }},
	{"kubernetes.podspec-persistent-volume-claim", func(ps *corev1.PodSpec) bool {
		return slices.ContainsFunc(ps.Volumes, func(v corev1.Volume) bool { return v.PersistentVolumeClaim != nil })
	}},
	{"kubernetes.podspec-persistent-volume-write", func(ps *corev1.PodSpec) bool {
		return slices.ContainsFunc(ps.Volumes, func(v corev1.Volume) bool {
			return v.PersistentVolumeClaim != nil && !v.PersistentVolumeClaim.ReadOnly
		})
	}},
	{"kubernetes.podspec-priorityclassname", func(ps *corev1.PodSpec) bool { return ps.PriorityClassName != "" }},
	{"kubernetes.podspec-runtimeclassname", func(ps *corev1.PodSpec) bool { return ps.RuntimeClassName != nil }},
	{"kubernetes.podspec-schedulername", func(ps *corev1.PodSpec) bool { return ps.SchedulerName != "" }},
	{"kubernetes.podspec-securitycontext", func(ps *corev1.PodSpec) bool { return ps.SecurityContext != nil }},
	{"kubernetes.podspec-topologyspreadconstraints", func(ps *corev1.PodSpec) bool { return len(ps.TopologySpreadConstraints) > 0 }},
}

// Features returns the config-features data for the Knative Services
// among objs: every flag of PodSpecFlags, "enabled" when one of the
// Services uses it and "disabled" otherwise. The Knative install gets the
// Features of every generated Service (see generators/components), and
// Validate checks each Service with the same settings.
func Features(objs ...generators.Object) (map[string]string, error) {
	typed, err := Parse(objs...)
	if err != nil {
		return nil, err
	}
	return typed.Features(objs...)
}

// Typed holds the Knative Services of a set of objects read into
// Knative's Go type, by object. Reading a Service through the
// unstructured converter costs more than the checks that read it (the
// features it uses, Knative's validation, the defaults Argo CD is told to
// ignore), so a caller that runs them all reads each Service once: Of
// hands out copies.
type Typed map[*unstructured.Unstructured]*servingv1.Service

// Parse reads each Knative Service among objs into Knative's Go type.
func Parse(objs ...generators.Object) (Typed, error) {
	out := Typed{}
	for _, o := range objs {
		if !IsService(o) {
			continue
		}
		svc := &servingv1.Service{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, svc); err != nil {
			return nil, fmt.Errorf("knative service %s: %w", o.GetName(), err)
		}
		out[o.Unstructured] = svc
	}
	return out, nil
}

// IsService reports whether o is a Knative Service.
func IsService(o generators.Object) bool {
	if o.Unstructured == nil {
		return false
	}
	gk := o.GroupVersionKind().GroupKind()
	return gk.Group == servingv1.SchemeGroupVersion.Group && gk.Kind == "Service"
}

// Of returns a copy of the Service o as Parse read it, or false if Parse
// did not read o. The caller may change the copy.
func (t Typed) Of(o generators.Object) (*servingv1.Service, bool) {
	svc, ok := t[o.Unstructured]
	if !ok {
		return nil, false
	}
	return svc.DeepCopy(), true
}

// Features is Features of objs, reading their Knative Services from t.
func (t Typed) Features(objs ...generators.Object) (map[string]string, error) {
	out := map[string]string{}
	for _, f := range PodSpecFlags {
		out[f.Key] = "disabled"
	}
	use := func(ps *corev1.PodSpec) {
		for _, f := range PodSpecFlags {
			if f.Uses(ps) {
				out[f.Key] = "enabled"
			}
		}
	}
	for _, o := range objs {
		if o.Unstructured == nil {
			continue
		}
		switch gk := o.GroupVersionKind().GroupKind(); {
		case IsService(o):
			svc, ok := t[o.Unstructured]
			if !ok {
				return nil, fmt.Errorf("knative service %s: not read", o.GetName())
			}
			use(&svc.Spec.Template.Spec.PodSpec)
		case gk.Group == kserveGroup && gk.Kind == "InferenceService":
			// KServe runs a Serverless InferenceService's predictor and
			// transformer as Knative Services with their pod fields.
			if mode, _ := spec.DeploymentMode(o.GetAnnotations()[kserveDeploymentMode]); mode == spec.DeploymentStandard {
				continue
			}
			for _, component := range []string{"predictor", "transformer"} {
				m, ok, _ := unstructured.NestedMap(o.Object, "spec", component)
				if !ok {
					continue
				}
				ps := &corev1.PodSpec{}
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, ps); err != nil {
					return nil, fmt.Errorf("inferenceservice %s %s: %w", o.GetName(), component, err)
				}
				use(ps)
			}
		}
	}
	return out, nil
}

// The KServe group and deployment-mode annotation, written here rather
// than imported: generators/inferenceservice is KServe's package.
const (
	kserveGroup          = "serving.kserve.io"
	kserveDeploymentMode = "serving.kserve.io/deploymentMode"
)

// MergeFeatures returns the union of feature sets: a flag enabled in one
// of them is enabled.
func MergeFeatures(sets ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, s := range sets {
		for k, v := range s {
			if out[k] != "enabled" {
				out[k] = v
			}
		}
	}
	return out
}
