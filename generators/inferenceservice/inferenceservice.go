// Package inferenceservice generates KServe InferenceServices from model
// service specs with runtime "kserve", and checks them with KServe's
// admission rules, expressed here (internal/admission checks them against
// the CRD's schema). The types are generated from KServe's CRD
// (internal/apis/kservev1beta1).
package inferenceservice

import (
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/internal/apis/kservev1beta1"
	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/internal/spec"
)

// Component is the app.kubernetes.io/component label of serving objects.
const Component = "serving"

// Kind is the InferenceService's kind, and GroupVersion its API version.
var (
	Kind         = "InferenceService"
	GroupVersion = schema.GroupVersion{Group: "serving.kserve.io", Version: "v1beta1"}
)

// AnnotationDeploymentMode is KServe's deployment mode annotation, which
// dmls always sets (KServe's own default differs between its code, its
// ConfigMap and its Helm chart, and changed to Standard in 0.16).
const AnnotationDeploymentMode = "serving.kserve.io/deploymentMode"

// ContainerName is the container name KServe expects in a custom
// predictor or transformer.
const ContainerName = "kserve-container"

// InferenceService is KServe's InferenceService, as generated from its CRD.
type InferenceService = kservev1beta1.InferenceService

var _ generators.Func = Generate

// Generate returns the InferenceService of app's serving spec when its
// runtime is "kserve"; other apps give nothing.
func Generate(app *spec.AppSpec, p *spec.Platform) ([]generators.Object, error) {
	s := app.Serving
	if s == nil || s.Runtime != spec.RuntimeKServe {
		return nil, nil
	}
	trace := &provenance.Trace{}
	trace.Record("spec", "serving")
	mode := s.DeploymentMode
	if mode == "" {
		// The base, which no environment has adjusted yet; every
		// environment sets its own mode (schemas #Environment).
		mode = spec.DeploymentKnative
	}
	// KServe 0.16+ names the modes Knative and Standard; a spec that says
	// Serverless or RawDeployment (a warning at load) gets the new word.
	mode, _ = spec.DeploymentMode(mode)
	isvc := &InferenceService{
		Metadata: &metav1.ObjectMeta{
			Name:        s.ObjectName(app.Name),
			Labels:      generators.Labels(app, p, Component),
			Annotations: map[string]string{AnnotationDeploymentMode: mode},
		},
		Spec: &kservev1beta1.InferenceServiceSpec{},
	}
	trace.Record("metadata.annotations."+AnnotationDeploymentMode, "serving.deploymentMode")
	if s.Name != "" {
		trace.Record("metadata.name", "serving.name")
	}
	const pred = "spec.predictor"
	pr := &isvc.Spec.Predictor
	ext := extension(s, trace, pred)
	pr.MinReplicas, pr.MaxReplicas, pr.ScaleTarget, pr.ScaleMetric = ext.minReplicas, ext.maxReplicas, ext.scaleTarget, (*kservev1beta1.InferenceServiceSpecPredictorScaleMetric)(ext.scaleMetric)
	pr.ContainerConcurrency, pr.Timeout, pr.CanaryTrafficPercent = ext.containerConcurrency, ext.timeout, ext.canaryTrafficPercent
	pr.ServiceAccountName = new(generators.ServingServiceAccount)
	sc, scFrom := generators.SecurityContext(app)
	meta := isvc.Metadata
	generators.AnnotateException(app, meta, trace)

	if m := s.Model; m != nil {
		ms := &kservev1beta1.InferenceServiceSpecPredictorModel{ModelFormat: &kservev1beta1.InferenceServiceSpecPredictorModelModelFormat{Name: m.Format}}
		trace.Record(pred+".model.modelFormat", "serving.model.format")
		if m.FormatVersion != "" {
			ms.ModelFormat.Version = new(m.FormatVersion)
			trace.Record(pred+".model.modelFormat.version", "serving.model.formatVersion")
		}
		if m.Runtime != "" {
			ms.Runtime = new(m.Runtime)
			trace.Record(pred+".model.runtime", "serving.model.runtime")
		}
		if m.RuntimeVersion != "" {
			ms.RuntimeVersion = new(m.RuntimeVersion)
			trace.Record(pred+".model.runtimeVersion", "serving.model.runtimeVersion")
		}
		if m.ProtocolVersion != "" {
			ms.ProtocolVersion = new(m.ProtocolVersion)
			trace.Record(pred+".model.protocolVersion", "serving.model.protocolVersion")
		}
		ms.StorageUri = new(m.StorageURI)
		trace.Record(pred+".model.storageUri", "serving.model.storageUri")
		ms.Container = container(containerSpec{
			securityContext: sc, securityFrom: scFrom,
			command: s.Command, args: s.Args, env: s.Env, envFrom: s.EnvFrom, resources: s.Resources, port: s.Port,
		}, trace, pred+".model", "serving")
		pr.Model = ms
	} else {
		c := container(containerSpec{
			securityContext: sc, securityFrom: scFrom,
			image: s.Image, command: s.Command, args: s.Args, env: s.Env, envFrom: s.EnvFrom, resources: s.Resources, port: s.Port,
		}, trace, pred+".containers[0]", "serving")
		c.Name = ContainerName
		pr.Containers = []corev1.Container{c}
	}
	if gpus(s.Resources) {
		placeGPU(&pr.NodeSelector, &pr.Tolerations, app.GPU, trace, pred, "serving.resources.gpu")
	}

	if t := s.Transformer; t != nil {
		const at = "spec.transformer"
		c := container(containerSpec{
			securityContext: sc, securityFrom: scFrom,
			image: t.Image, command: t.Command, args: t.Args, env: t.Env, envFrom: t.EnvFrom, resources: t.Resources, port: t.Port,
		}, trace, at+".containers[0]", "serving.transformer")
		c.Name = ContainerName
		tr := &kservev1beta1.InferenceServiceSpecTransformer{ServiceAccountName: new(generators.ServingServiceAccount), Containers: []corev1.Container{c}}
		isvc.Spec.Transformer = tr
		trace.Record(at, "serving.transformer")
		if gpus(t.Resources) {
			placeGPU(&tr.NodeSelector, &tr.Tolerations, app.GPU, trace, at, "serving.transformer.resources.gpu")
		}
	}

	obj, err := generators.New(isvc, GroupVersion.WithKind(Kind), trace)
	if err != nil {
		return nil, err
	}
	// The model's container has no name of its own; its Go type writes an
	// empty one.
	if n, ok, _ := unstructured.NestedString(obj.Object, "spec", "predictor", "model", "name"); ok && n == "" {
		unstructured.RemoveNestedField(obj.Object, "spec", "predictor", "model", "name")
	}
	return []generators.Object{obj}, nil
}

// componentExtension is KServe's component extension (its Go type's
// ComponentExtensionSpec), which the CRD inlines into the predictor.
type componentExtension struct {
	minReplicas, maxReplicas, scaleTarget               *int
	scaleMetric                                         *string
	containerConcurrency, timeout, canaryTrafficPercent *int
}

// extension maps autoscaling and the canary onto KServe's component
// extension: minScale and maxScale are minReplicas and maxReplicas (0
// scales to zero), target and metric are scaleTarget and scaleMetric.
func extension(s *spec.ModelService, trace *provenance.Trace, at string) componentExtension {
	var ext componentExtension
	as := s.Autoscaling
	if as.MinScale != nil {
		ext.minReplicas = new(int(*as.MinScale))
		trace.Record(at+".minReplicas", "serving.autoscaling.minScale")
	}
	if as.MaxScale != nil {
		// KServe's Go type omits a maxReplicas of 0 (no limit).
		if *as.MaxScale != 0 {
			ext.maxReplicas = new(int(*as.MaxScale))
		}
		trace.Record(at+".maxReplicas", "serving.autoscaling.maxScale")
	}
	if as.Target != nil {
		ext.scaleTarget = new(int(*as.Target))
		trace.Record(at+".scaleTarget", "serving.autoscaling.target")
	}
	if as.Metric != "" {
		ext.scaleMetric = new(as.Metric)
		trace.Record(at+".scaleMetric", "serving.autoscaling.metric")
	}
	if as.ContainerConcurrency != nil {
		ext.containerConcurrency = new(int(*as.ContainerConcurrency))
		trace.Record(at+".containerConcurrency", "serving.autoscaling.containerConcurrency")
	}
	if as.TimeoutSeconds != nil {
		ext.timeout = new(int(*as.TimeoutSeconds))
		trace.Record(at+".timeout", "serving.autoscaling.timeoutSeconds")
	}
	if p := s.Traffic.CanaryPercent; p != nil {
		ext.canaryTrafficPercent = new(int(*p))
		trace.Record(at+".canaryTrafficPercent", "serving.traffic.canaryPercent")
	}
	return ext
}

type containerSpec struct {
	securityContext *corev1.SecurityContext
	securityFrom    string
	image           string
	command         []string
	args            []string
	env             map[string]spec.EnvValue
	envFrom         []spec.EnvSource
	resources       *spec.Resources
	port            int
}

// container builds a predictor or transformer container from the spec
// fields under from, recording each at the object path at.
func container(cs containerSpec, trace *provenance.Trace, at, from string) corev1.Container {
	// The policy's restricted security context, as for every container
	// dmls generates (generators.SecurityContext).
	c := corev1.Container{SecurityContext: cs.securityContext}
	if cs.securityFrom != "" {
		trace.Record(at+".securityContext", cs.securityFrom)
	}
	if cs.image != "" {
		c.Image = cs.image
		trace.Record(at+".image", from+".image")
	}
	if cs.command != nil {
		c.Command = cs.command
		trace.Record(at+".command", from+".command")
	}
	if cs.args != nil {
		c.Args = cs.args
		trace.Record(at+".args", from+".args")
	}
	for i, k := range slices.Sorted(maps.Keys(cs.env)) {
		c.Env = append(c.Env, generators.EnvVar(k, cs.env[k]))
		trace.Record(fmt.Sprintf("%s.env[%d]", at, i), from+".env."+k)
	}
	if len(cs.envFrom) > 0 {
		c.EnvFrom = generators.EnvFrom(cs.envFrom)
		trace.Record(at+".envFrom", from+".envFrom")
	}
	if cs.resources != nil {
		c.Resources = generators.Resources(cs.resources)
		trace.Record(at+".resources", from+".resources")
	}
	if cs.port != 0 {
		c.Ports = []corev1.ContainerPort{{ContainerPort: int32(cs.port), Protocol: corev1.ProtocolTCP}}
		trace.Record(at+".ports", from+".port")
	}
	return c
}

func gpus(r *spec.Resources) bool { return r != nil && r.GPU != nil && *r.GPU > 0 }

// placeGPU is generators.PlaceGPU on the pod fields KServe's CRD inlines
// into a component.
func placeGPU(nodeSelector *map[string]string, tolerations *[]corev1.Toleration, pl *spec.Placement, trace *provenance.Trace, podAt, gpuPath string) {
	ps := corev1.PodSpec{NodeSelector: *nodeSelector, Tolerations: *tolerations}
	generators.PlaceGPU(&ps, pl, trace, podAt, gpuPath)
	*nodeSelector, *tolerations = ps.NodeSelector, ps.Tolerations
}
