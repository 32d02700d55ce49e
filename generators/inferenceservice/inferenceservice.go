// Package inferenceservice generates KServe InferenceServices from model
// service specs with runtime "kserve", and checks them with KServe's own
// validation (internal/admission checks them against the CRD's schema).
package inferenceservice

import (
	"fmt"

	"github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	"github.com/kserve/kserve/pkg/constants"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/internal/spec"
)

// Component is the app.kubernetes.io/component label of serving objects.
const Component = "serving"

// Kind is the InferenceService's kind, and GroupVersion its API version.
var (
	Kind         = "InferenceService"
	GroupVersion = v1beta1.SchemeGroupVersion
)

// AnnotationDeploymentMode is KServe's deployment mode annotation, which
// dmls always sets (KServe's own default differs between its code, its
// ConfigMap and its Helm chart).
var AnnotationDeploymentMode = constants.DeploymentMode

// ContainerName is the container name KServe expects in a custom
// predictor or transformer.
const ContainerName = constants.InferenceServiceContainerName

var _ generators.Func = Generate

// Generate returns the InferenceService of app's serving spec when its
// runtime is "kserve"; other apps give nothing.
func Generate(app *spec.App, p *spec.Platform) ([]generators.Object, error) {
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
		mode = spec.DeploymentServerless
	}
	isvc := &v1beta1.InferenceService{
		ObjectMeta: metav1.ObjectMeta{
			Name:        s.ObjectName(app.Name),
			Labels:      generators.Labels(app, p, Component),
			Annotations: map[string]string{AnnotationDeploymentMode: mode},
		},
	}
	trace.Record("metadata.annotations."+AnnotationDeploymentMode, "serving.deploymentMode")
	if s.Name != "" {
		trace.Record("metadata.name", "serving.name")
	}
	const pred = "spec.predictor"
	pr := &isvc.Spec.Predictor
	pr.ComponentExtensionSpec = extension(s, trace, pred)
	pr.ServiceAccountName = generators.ServingServiceAccount
	sc, scFrom := generators.SecurityContext(app)
	generators.AnnotateException(app, &isvc.ObjectMeta, trace)

	if m := s.Model; m != nil {
		ms := &v1beta1.ModelSpec{ModelFormat: v1beta1.ModelFormat{Name: m.Format}}
		trace.Record(pred+".model.modelFormat", "serving.model.format")
		if m.FormatVersion != "" {
			ms.ModelFormat.Version = ptr(m.FormatVersion)
			trace.Record(pred+".model.modelFormat.version", "serving.model.formatVersion")
		}
		if m.Runtime != "" {
			ms.Runtime = ptr(m.Runtime)
			trace.Record(pred+".model.runtime", "serving.model.runtime")
		}
		if m.RuntimeVersion != "" {
			ms.RuntimeVersion = ptr(m.RuntimeVersion)
			trace.Record(pred+".model.runtimeVersion", "serving.model.runtimeVersion")
		}
		if m.ProtocolVersion != "" {
			ms.ProtocolVersion = ptr(constants.InferenceServiceProtocol(m.ProtocolVersion))
			trace.Record(pred+".model.protocolVersion", "serving.model.protocolVersion")
		}
		ms.StorageURI = ptr(m.StorageURI)
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
		placeGPU(&pr.PodSpec, app.GPU, trace, pred, "serving.resources.gpu")
	}

	if t := s.Transformer; t != nil {
		const at = "spec.transformer"
		c := container(containerSpec{
			securityContext: sc, securityFrom: scFrom,
			image: t.Image, command: t.Command, args: t.Args, env: t.Env, envFrom: t.EnvFrom, resources: t.Resources, port: t.Port,
		}, trace, at+".containers[0]", "serving.transformer")
		c.Name = ContainerName
		isvc.Spec.Transformer = &v1beta1.TransformerSpec{PodSpec: v1beta1.PodSpec{ServiceAccountName: generators.ServingServiceAccount, Containers: []corev1.Container{c}}}
		trace.Record(at, "serving.transformer")
		if gpus(t.Resources) {
			placeGPU(&isvc.Spec.Transformer.PodSpec, app.GPU, trace, at, "serving.transformer.resources.gpu")
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

// extension maps autoscaling and the canary onto KServe's component
// extension: minScale and maxScale are minReplicas and maxReplicas (0
// scales to zero), target and metric are scaleTarget and scaleMetric.
func extension(s *spec.ModelService, trace *provenance.Trace, at string) v1beta1.ComponentExtensionSpec {
	var ext v1beta1.ComponentExtensionSpec
	as := s.Autoscaling
	if as.MinScale != nil {
		ext.MinReplicas = ptr(*as.MinScale)
		trace.Record(at+".minReplicas", "serving.autoscaling.minScale")
	}
	if as.MaxScale != nil {
		ext.MaxReplicas = *as.MaxScale
		trace.Record(at+".maxReplicas", "serving.autoscaling.maxScale")
	}
	if as.Target != nil {
		ext.ScaleTarget = ptr(*as.Target)
		trace.Record(at+".scaleTarget", "serving.autoscaling.target")
	}
	if as.Metric != "" {
		ext.ScaleMetric = ptr(v1beta1.ScaleMetric(as.Metric))
		trace.Record(at+".scaleMetric", "serving.autoscaling.metric")
	}
	if as.ContainerConcurrency != nil {
		ext.ContainerConcurrency = ptr(int64(*as.ContainerConcurrency))
		trace.Record(at+".containerConcurrency", "serving.autoscaling.containerConcurrency")
	}
	if as.TimeoutSeconds != nil {
		ext.TimeoutSeconds = ptr(int64(*as.TimeoutSeconds))
		trace.Record(at+".timeout", "serving.autoscaling.timeoutSeconds")
	}
	if p := s.Traffic.CanaryPercent; p != nil {
		ext.CanaryTrafficPercent = ptr(int64(*p))
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
	for i, k := range generators.SortedKeys(cs.env) {
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

func ptr[T any](v T) *T { return &v }

func gpus(r *spec.Resources) bool { return r != nil && r.GPU != nil && *r.GPU > 0 }

// placeGPU is generators.PlaceGPU on KServe's own PodSpec type.
func placeGPU(pod *v1beta1.PodSpec, pl *spec.Placement, trace *provenance.Trace, podAt, gpuPath string) {
	ps := corev1.PodSpec{NodeSelector: pod.NodeSelector, Tolerations: pod.Tolerations}
	generators.PlaceGPU(&ps, pl, trace, podAt, gpuPath)
	pod.NodeSelector, pod.Tolerations = ps.NodeSelector, ps.Tolerations
}
