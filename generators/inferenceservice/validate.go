package inferenceservice

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/internal/apis/kservev1beta1"
)

// FieldError is one finding about an InferenceService.
type FieldError struct {
	// Field is the object field path, e.g. spec.predictor.minReplicas; it
	// is empty when KServe does not say which field it means.
	Field   string
	Message string
}

// Validate checks an InferenceService as KServe's admission webhook would
// on create (ValidateTyped; the CRD's schema is checked with every other
// CRD in internal/admission). Each finding names the object field when it
// can; callers map it to the spec through the object's Trace.
func Validate(obj generators.Object) []FieldError {
	var out []FieldError
	isvc := &InferenceService{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, isvc); err != nil {
		return append(out, FieldError{Message: err.Error()})
	}
	if err := ValidateTyped(isvc); err != nil {
		out = append(out, FieldError{Field: fieldOf(err.Error()), Message: err.Error()})
	}
	return out
}

// KServe's admission rules, as KServe v0.20.0's webhook
// (pkg/apis/serving/v1beta1, InferenceServiceValidator.ValidateCreate)
// states them, with its messages. KServe's Go API cannot be linked with
// dmls's Kubernetes modules, so each rule is expressed here, and
// tests/kserve-agree runs KServe's own code on the same corpus to hold
// the two together. Rules about fields dmls neither writes nor imports
// (workerSpec, explainer, canary, confidential serving) are left to the
// cluster.
const (
	isvcNameFmt = "[a-z]([-a-z0-9]*[a-z0-9])?"

	annotationAutoscalerClass = "serving.kserve.io/autoscalerClass"
	annotationKnativeClass    = "autoscaling.knative.dev/class"
	knativeHPAClass           = "hpa.autoscaling.knative.dev"
	envStorageURI             = "STORAGE_URI"
	envProtocol               = "PROTOCOL"
	transformerContainerName  = "transformer-container"
	// annotationModelFormat is the annotation KServe 0.20's defaulting
	// adds with the model's format (constants.ModelFormatAnnotationKey).
	annotationModelFormat = "modelFormat"

	// ModeKnative and ModeStandard are KServe's deployment modes since 0.16;
	// ModeServerless and ModeRawDeployment are their deprecated names, which
	// KServe's defaulting rewrites to the new ones.
	ModeKnative       = "Knative"
	ModeStandard      = "Standard"
	ModeServerless    = "Serverless"
	ModeRawDeployment = "RawDeployment"
)

var (
	isvcRegexp = regexp.MustCompile("^" + isvcNameFmt + "$")
	// The autoscaler classes KServe accepts (constants.AutoscalerAllowedClassList).
	autoscalerClasses = []string{"hpa", "external", "keda", "none"}
	// The environment variables KServe refuses in any container
	// (validation.DefaultBlockedEnvVars).
	blockedEnvVars = []string{"PYTHONPATH"}
	// The implementation fields of PredictorSpec and TransformerSpec, as
	// KServe's ExactlyOneErrorFor lists them (all fields but the last).
	predictorFields   = "Name, SKLearn, XGBoost, Tensorflow, PyTorch, Triton, ONNX, HuggingFace, PMML, LightGBM, Paddle, Model, StorageUris, StorageContainerName, WorkerSpec, PodSpec"
	transformerFields = "PodSpec, ComponentExtensionSpec"
)

// ValidateTyped applies KServe's admission to isvc as the API server runs
// it on create: the mutating webhook's defaulting (Default, which turns the
// deprecated mode words into Knative and Standard), then the validating
// webhook (ValidateCreate); it returns the first finding, as KServe does.
// isvc is not changed.
func ValidateTyped(isvc *InferenceService) error {
	isvc = DeepCopy(isvc)
	Default(isvc)
	name := ""
	var ann map[string]string
	if isvc.Metadata != nil {
		name, ann = isvc.Metadata.Name, isvc.Metadata.Annotations
	}
	if !isvcRegexp.MatchString(name) {
		return fmt.Errorf("the InferenceService \"%s\" is invalid: a InferenceService name must consist of lower case alphanumeric characters or '-', and must start with alphabetical character. (e.g. \"my-name\" or \"abc-123\", regex used for validation is '%s')", name, isvcNameFmt)
	}
	if v, ok := ann[annotationAutoscalerClass]; ok && !slices.Contains(autoscalerClasses, v) {
		return fmt.Errorf("[%s] is not a supported autoscaler class type", v)
	}
	spec := isvc.Spec
	if spec == nil {
		spec = &kservev1beta1.InferenceServiceSpec{}
	}
	p, t := &spec.Predictor, spec.Transformer
	if err := blockedEnv(name, p, t); err != nil {
		return err
	}
	for _, c := range p.Containers {
		if c.Name == transformerContainerName {
			if slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == envStorageURI }) {
				return errors.New("storage uri should not be specified in transformer container")
			}
			break
		}
	}
	for _, f := range frameworks(p) {
		if f.container.Name != "" {
			return errors.New("the 'name' field is not allowed in standard predictor")
		}
	}
	if t != nil {
		if err := storageURIs(customStorageURI(t.Containers, true), t.StorageUris != nil, transformerURIs(t.StorageUris)); err != nil {
			return err
		}
	}
	if err := storageURIs(predictorStorageURI(p), p.StorageUris != nil, predictorURIs(p.StorageUris)); err != nil {
		return err
	}

	// The predictor, then the transformer: exactly one implementation, its
	// own rules, the component extension, and autoscaling.
	if n := len(predictorImplementations(p)); n != 1 {
		return fmt.Errorf("exactly one of [%s] must be specified in PredictorSpec", predictorFields)
	}
	if len(frameworks(p)) == 0 && p.Model == nil {
		if err := customProtocol(p.Containers); err != nil {
			return err
		}
	}
	if err := validateExtension(p.ContainerConcurrency, p.MinReplicas, p.MaxReplicas, loggerOf(p.Logger)); err != nil {
		return err
	}
	if err := autoscaling(ann, (*string)(p.ScaleMetric), p.ScaleTarget, p.DeploymentStrategy != nil, predictorMetricTypes(p.AutoScaling)); err != nil {
		return err
	}
	if t != nil {
		if len(t.Containers) == 0 {
			return fmt.Errorf("exactly one of [%s] must be specified in TransformerSpec", transformerFields)
		}
		if err := validateExtension(t.ContainerConcurrency, t.MinReplicas, t.MaxReplicas, loggerOfT(t.Logger)); err != nil {
			return err
		}
		if err := autoscaling(ann, (*string)(t.ScaleMetric), t.ScaleTarget, t.DeploymentStrategy != nil, transformerMetricTypes(t.AutoScaling)); err != nil {
			return err
		}
	}
	return nil
}

// framework is one of a predictor's model or framework fields.
type framework struct {
	name       string
	container  corev1.Container
	storageURI *string
}

// frameworks returns the predictor's model and framework fields that are
// set, in KServe's order (PredictorSpec.GetImplementations).
func frameworks(p *kservev1beta1.InferenceServiceSpecPredictor) []framework {
	var out []framework
	add := func(name string, set bool, c corev1.Container, uri *string) {
		if set {
			out = append(out, framework{name, c, uri})
		}
	}
	if f := p.Xgboost; f != nil {
		add("xgboost", true, f.Container, f.StorageUri)
	}
	if f := p.Pytorch; f != nil {
		add("pytorch", true, f.Container, f.StorageUri)
	}
	if f := p.Triton; f != nil {
		add("triton", true, f.Container, f.StorageUri)
	}
	if f := p.Sklearn; f != nil {
		add("sklearn", true, f.Container, f.StorageUri)
	}
	if f := p.Tensorflow; f != nil {
		add("tensorflow", true, f.Container, f.StorageUri)
	}
	if f := p.Onnx; f != nil {
		add("onnx", true, f.Container, f.StorageUri)
	}
	if f := p.Pmml; f != nil {
		add("pmml", true, f.Container, f.StorageUri)
	}
	if f := p.Lightgbm; f != nil {
		add("lightgbm", true, f.Container, f.StorageUri)
	}
	if f := p.Paddle; f != nil {
		add("paddle", true, f.Container, f.StorageUri)
	}
	if f := p.Huggingface; f != nil {
		add("huggingface", true, f.Container, f.StorageUri)
	}
	if f := p.Model; f != nil {
		add("model", true, f.Container, f.StorageUri)
	}
	return out
}

// predictorImplementations counts as KServe does: each framework field,
// plus a custom predictor per container named kserve-container, or one
// for the first container when nothing else is set.
func predictorImplementations(p *kservev1beta1.InferenceServiceSpecPredictor) []string {
	var out []string
	for _, f := range frameworks(p) {
		out = append(out, f.name)
	}
	if len(p.Containers) > 0 {
		for _, c := range p.Containers {
			if c.Name == ContainerName {
				out = append(out, "custom")
			}
		}
		if len(out) == 0 {
			out = append(out, "custom")
		}
	}
	return out
}

func predictorStorageURI(p *kservev1beta1.InferenceServiceSpecPredictor) *string {
	if fs := frameworks(p); len(fs) > 0 {
		return fs[0].storageURI
	}
	if len(p.Containers) > 0 {
		return customStorageURI(p.Containers, false)
	}
	return nil
}

// customStorageURI is the STORAGE_URI of a custom component: a
// transformer's first container, or a predictor's kserve-container.
func customStorageURI(cs []corev1.Container, first bool) *string {
	for i, c := range cs {
		if (first && i == 0) || (!first && c.Name == ContainerName) {
			for _, e := range c.Env {
				if e.Name == envStorageURI {
					return &e.Value
				}
			}
			break
		}
	}
	return nil
}

func blockedEnv(name string, p *kservev1beta1.InferenceServiceSpecPredictor, t *kservev1beta1.InferenceServiceSpecTransformer) error {
	groups := [][]corev1.Container{p.Containers, p.InitContainers}
	// KServe checks one framework container: the model's, else the
	// first framework's in PredictorSpec's field order.
	for _, c := range []*corev1.Container{
		containerOf(p.Model), containerOf(p.Sklearn), containerOf(p.Xgboost), containerOf(p.Tensorflow),
		containerOf(p.Pytorch), containerOf(p.Triton), containerOf(p.Onnx), containerOf(p.Huggingface),
		containerOf(p.Pmml), containerOf(p.Lightgbm), containerOf(p.Paddle),
	} {
		if c != nil {
			groups = append(groups, []corev1.Container{*c})
			break
		}
	}
	if t != nil {
		groups = append(groups, t.Containers, t.InitContainers)
	}
	for _, g := range groups {
		for _, c := range g {
			for _, e := range c.Env {
				if slices.Contains(blockedEnvVars, e.Name) {
					return fmt.Errorf("the InferenceService %q is invalid: setting %s in container %q is not allowed for security reasons", name, e.Name, c.Name)
				}
			}
		}
	}
	return nil
}

// containerOf is the container a framework field inlines, or nil.
func containerOf[T any](f *T) *corev1.Container {
	if f == nil {
		return nil
	}
	c := reflect.ValueOf(f).Elem().FieldByName("Container").Addr().Interface().(*corev1.Container)
	return c
}

func customProtocol(cs []corev1.Container) error {
	if len(cs) == 0 {
		return nil
	}
	for _, e := range cs[0].Env {
		if e.Name == envProtocol {
			if e.Value == "v1" || e.Value == "v2" {
				return nil
			}
			return fmt.Errorf("invalid protocol %s. Must be one of [%s]", "v1, v2", e.Value)
		}
	}
	return nil
}

type storageURI struct{ uri, mountPath string }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func predictorURIs(in []kservev1beta1.InferenceServiceSpecPredictorStorageUrisElem) []storageURI {
	var out []storageURI
	for _, u := range in {
		out = append(out, storageURI{u.Uri, deref(u.MountPath)})
	}
	return out
}

func transformerURIs(in []kservev1beta1.InferenceServiceSpecTransformerStorageUrisElem) []storageURI {
	var out []storageURI
	for _, u := range in {
		out = append(out, storageURI{u.Uri, deref(u.MountPath)})
	}
	return out
}

// storageURIs is KServe's check of storageUris (validateMultipleStorageURIs).
func storageURIs(single *string, many bool, uris []storageURI) error {
	if single != nil && many {
		//lint:ignore ST1005 KServe's own message, verbatim (tests/kserve-agree holds them equal)
		return errors.New("Setting both StorageURI and StorageURIs is not supported.")
	}
	var paths, pvcPaths []string
	for _, u := range uris {
		switch {
		case u.uri == "":
			return errors.New("storage URI cannot be empty")
		case u.mountPath == "/":
			return errors.New("storage path cannot be empty")
		case !strings.HasPrefix(u.mountPath, "/"):
			return fmt.Errorf("storage path must be absolute: %s", u.mountPath)
		case strings.Contains(u.mountPath, ".."):
			return fmt.Errorf("storage path cannot contain '..' for security reasons: %s", u.mountPath)
		}
		if strings.HasPrefix(u.uri, "pvc://") {
			pvcPaths = append(pvcPaths, u.mountPath)
		} else {
			paths = append(paths, u.mountPath)
		}
	}
	if len(paths) <= 1 {
		return nil
	}
	seen := map[string]bool{}
	if len(pvcPaths) > 1 {
		for _, p := range pvcPaths {
			if seen[p] {
				return errors.New("PVC storage paths must be unique")
			}
			seen[p] = true
		}
	}
	if commonParent(paths) == "/" {
		return fmt.Errorf("storage paths must have a common parent directory. Current paths: %v have no common parent beyond root", paths)
	}
	return nil
}

// commonParent is KServe's utils.FindCommonParentPath.
func commonParent(paths []string) string {
	parts := make([][]string, len(paths))
	minLen := -1
	for i, p := range paths {
		if c := strings.Trim(p, "/"); c != "" {
			parts[i] = strings.Split(c, "/")
			if minLen == -1 || len(parts[i]) < minLen {
				minLen = len(parts[i])
			}
		}
	}
	if minLen <= 0 {
		return "/"
	}
	var common []string
	for i := 0; i < minLen; i++ {
		c := parts[0][i]
		for _, p := range parts[1:] {
			if p[i] != c {
				return "/" + strings.Join(common, "/")
			}
		}
		common = append(common, c)
	}
	return "/" + strings.Join(common, "/")
}

// logger is the part of a component's logger KServe checks.
type logger struct {
	set, storage, storageComplete bool
	mode                          string
}

func loggerOf(l *kservev1beta1.InferenceServiceSpecPredictorLogger) logger {
	if l == nil {
		return logger{}
	}
	out := logger{set: true, mode: "all"}
	if l.Mode != nil {
		out.mode = string(*l.Mode)
	}
	if s := l.Storage; s != nil {
		out.storage, out.storageComplete = true, s.Path != nil && s.Parameters != nil && s.Key != nil
	}
	return out
}

func loggerOfT(l *kservev1beta1.InferenceServiceSpecTransformerLogger) logger {
	if l == nil {
		return logger{}
	}
	b, _ := json.Marshal(l)
	var p kservev1beta1.InferenceServiceSpecPredictorLogger
	_ = json.Unmarshal(b, &p)
	return loggerOf(&p)
}

// validateExtension is ComponentExtensionSpec.Validate.
func validateExtension(concurrency, minReplicas, maxReplicas *int, l logger) error {
	if concurrency != nil && *concurrency < 0 {
		return errors.New("parallelism cannot be less than 0")
	}
	minR, maxR := 1, 0
	if minReplicas != nil {
		minR = *minReplicas
	}
	if maxReplicas != nil {
		maxR = *maxReplicas
	}
	switch {
	case minR < 0:
		return errors.New("'MinReplicas' cannot be less than 0")
	case maxR < 0:
		return errors.New("'MaxReplicas' cannot be less than 0")
	case minR > maxR && maxR != 0:
		return errors.New("'MinReplicas' cannot be greater than MaxReplicas")
	}
	if l.set {
		if l.mode != "all" && l.mode != "request" && l.mode != "response" {
			return errors.New("invalid logger type")
		}
		if l.storage && !l.storageComplete {
			return errors.New("invalid logger storage configuration")
		}
	}
	return nil
}

func predictorMetricTypes(a *kservev1beta1.InferenceServiceSpecPredictorAutoScaling) []metricSpec {
	if a == nil {
		return nil
	}
	b, _ := json.Marshal(a.Metrics)
	var out []metricSpec
	_ = json.Unmarshal(b, &out)
	if out == nil {
		out = []metricSpec{}
	}
	return out
}

func transformerMetricTypes(a *kservev1beta1.InferenceServiceSpecTransformerAutoScaling) []metricSpec {
	if a == nil {
		return nil
	}
	b, _ := json.Marshal(a.Metrics)
	var out []metricSpec
	_ = json.Unmarshal(b, &out)
	if out == nil {
		out = []metricSpec{}
	}
	return out
}

// metricSpec is what the HPA check reads of an autoScaling metric.
type metricSpec struct {
	Type     string          `json:"type"`
	Resource json.RawMessage `json:"resource"`
}

// autoscaling is validateAutoScalingCompExtension for the Knative (KPA)
// and HPA autoscalers; KEDA's metric rules are left to the cluster.
func autoscaling(ann map[string]string, metric *string, target *int, strategy bool, metrics []metricSpec) error {
	hpa := func() error {
		m := "cpu"
		if metric != nil {
			m = *metric
		}
		if m != "cpu" && m != "memory" {
			return fmt.Errorf("[%s] is not a supported metric", m)
		}
		if target != nil {
			if m == "cpu" && *target < 1 || *target > 100 {
				return errors.New("the target utilization percentage should be a [1-100] integer")
			}
			if m == "memory" && *target < 1 {
				return errors.New("the target memory should be greater than 1 MiB")
			}
		}
		for _, ms := range metrics {
			if ms.Type != "Resource" {
				return fmt.Errorf("invalid HPA metric source type with value [%s],valid metric source types are Resource", ms.Type)
			}
			if len(ms.Resource) == 0 || string(ms.Resource) == "null" {
				return errors.New("metricSpec.Resource is not set for resource metric source type")
			}
		}
		return nil
	}
	switch ann[AnnotationDeploymentMode] {
	case ModeStandard:
		switch ann[annotationAutoscalerClass] {
		case "hpa":
			return hpa()
		case "keda":
			if metric != nil {
				return errors.New("ScaleMetric is not supported for KEDA")
			}
		}
		return nil
	default:
		if ann[annotationKnativeClass] == knativeHPAClass {
			return hpa()
		}
		if strategy {
			return errors.New("customizing deploymentStrategy is only supported for raw deployment mode")
		}
		m := "concurrency"
		if metric != nil {
			m = *metric
		}
		if m != "concurrency" && m != "rps" {
			return fmt.Errorf("[%s] is not a supported metric", m)
		}
		if target != nil && m == "rps" && *target < 1 {
			return errors.New("the target for rps should be greater than 1")
		}
	}
	return nil
}

// fieldOf guesses the field a KServe validation message is about: KServe
// returns plain errors without a field path.
func fieldOf(msg string) string {
	const pred = "spec.predictor"
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "minreplicas"):
		return pred + ".minReplicas"
	case strings.Contains(m, "maxreplicas"):
		return pred + ".maxReplicas"
	case strings.Contains(m, "not a supported metric"):
		return pred + ".scaleMetric"
	case strings.Contains(m, "target"):
		return pred + ".scaleTarget"
	case strings.Contains(m, "parallelism"):
		return pred + ".containerConcurrency"
	case strings.Contains(m, "storageuri") || strings.Contains(m, "storage uri"):
		return pred + ".model.storageUri"
	case strings.Contains(m, "inferenceservice name"):
		return "metadata.name"
	case strings.Contains(m, "exactly one"):
		return pred
	}
	return ""
}

// Default applies KServe v0.20.0's admission defaulting
// (DefaultInferenceService) to isvc, as its mutating webhook does on
// create with the settings of KServe's shipped inferenceservice-config
// ConfigMap and no local model caches: the deprecated mode words become
// Knative and Standard; a framework field (tensorflow:, sklearn:, ...)
// becomes model: with its format, v2 protocol for Triton, ONNX and
// Hugging Face; a custom component's first container is named
// kserve-container.
func Default(isvc *InferenceService) {
	if isvc.Metadata != nil {
		switch isvc.Metadata.Annotations[AnnotationDeploymentMode] {
		case ModeRawDeployment:
			isvc.Metadata.Annotations[AnnotationDeploymentMode] = ModeStandard
		case ModeServerless:
			isvc.Metadata.Annotations[AnnotationDeploymentMode] = ModeKnative
		}
	}
	if isvc.Spec == nil {
		return
	}
	p := &isvc.Spec.Predictor
	modelMesh := isvc.Metadata != nil && isvc.Metadata.Annotations[AnnotationDeploymentMode] == "ModelMesh"
	if !modelMesh {
		setPredictorModelDefaults(isvc)
		if impl := predictorImplementations(p); len(impl) == 1 && impl[0] == "custom" {
			p.Containers[0].Name = ContainerName
		}
	}
	if t := isvc.Spec.Transformer; t != nil && len(t.Containers) > 0 {
		t.Containers[0].Name = ContainerName
	}
}

// setPredictorModelDefaults moves a framework field to model:.
func setPredictorModelDefaults(isvc *InferenceService) {
	p := &isvc.Spec.Predictor
	v2 := func(v *string) *string {
		if v == nil {
			return new("v2")
		}
		return v
	}
	type ext = kservev1beta1.InferenceServiceSpecPredictorModel
	var m *ext
	move := func(format string, src any) {
		b, _ := json.Marshal(src)
		m = &ext{}
		_ = json.Unmarshal(b, m)
		m.ModelFormat = &kservev1beta1.InferenceServiceSpecPredictorModelModelFormat{Name: format}
	}
	switch {
	case p.Sklearn != nil:
		move("sklearn", p.Sklearn)
		p.Sklearn = nil
	case p.Tensorflow != nil:
		move("tensorflow", p.Tensorflow)
		p.Tensorflow = nil
	case p.Xgboost != nil:
		move("xgboost", p.Xgboost)
		p.Xgboost = nil
	case p.Pytorch != nil:
		move("pytorch", p.Pytorch)
		p.Pytorch = nil
	case p.Triton != nil:
		p.Triton.ProtocolVersion = v2(p.Triton.ProtocolVersion)
		move("triton", p.Triton)
		p.Triton = nil
	case p.Onnx != nil:
		p.Onnx.ProtocolVersion = v2(p.Onnx.ProtocolVersion)
		move("onnx", p.Onnx)
		p.Onnx = nil
	case p.Huggingface != nil:
		p.Huggingface.ProtocolVersion = v2(p.Huggingface.ProtocolVersion)
		move("huggingface", p.Huggingface)
		p.Huggingface = nil
	case p.Pmml != nil:
		move("pmml", p.Pmml)
		p.Pmml = nil
	case p.Lightgbm != nil:
		move("lightgbm", p.Lightgbm)
		p.Lightgbm = nil
	case p.Paddle != nil:
		move("paddle", p.Paddle)
		p.Paddle = nil
	}
	if m != nil {
		p.Model = m
	}
	if p.Model != nil && p.Model.ModelFormat != nil {
		if p.Model.ProtocolVersion == nil && (p.Model.ModelFormat.Name == "triton" || p.Model.ModelFormat.Name == "vllm") {
			p.Model.ProtocolVersion = new("v2")
		}
		if p.Model.ModelFormat.Name != "" {
			if isvc.Metadata == nil {
				isvc.Metadata = &metav1.ObjectMeta{}
			}
			if isvc.Metadata.Annotations == nil {
				isvc.Metadata.Annotations = map[string]string{}
			}
			if _, ok := isvc.Metadata.Annotations[annotationModelFormat]; !ok {
				isvc.Metadata.Annotations[annotationModelFormat] = p.Model.ModelFormat.Name
			}
		}
	}
}

// DeepCopy returns a copy of isvc (the generated types have no DeepCopy).
func DeepCopy(isvc *InferenceService) *InferenceService {
	b, err := json.Marshal(isvc)
	if err != nil {
		panic(err) // the generated types always marshal
	}
	out := &InferenceService{}
	if err := json.Unmarshal(b, out); err != nil {
		panic(err)
	}
	return out
}

// Parts returns isvc's metadata and spec, each set to an empty one first
// when the object has none.
func Parts(isvc *InferenceService) (*metav1.ObjectMeta, *kservev1beta1.InferenceServiceSpec) {
	if isvc.Metadata == nil {
		isvc.Metadata = &metav1.ObjectMeta{}
	}
	if isvc.Spec == nil {
		isvc.Spec = &kservev1beta1.InferenceServiceSpec{}
	}
	return isvc.Metadata, isvc.Spec
}

// Name is isvc's name.
func Name(isvc *InferenceService) string {
	if isvc.Metadata == nil {
		return ""
	}
	return isvc.Metadata.Name
}
