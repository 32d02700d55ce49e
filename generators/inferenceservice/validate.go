package inferenceservice

import (
	"context"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	"github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	"k8s.io/apimachinery/pkg/runtime"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/dmls-project/dmls/generators"
)

// FieldError is one finding about an InferenceService.
type FieldError struct {
	// Field is the object field path, e.g. spec.predictor.minReplicas; it
	// is empty when KServe does not say which field it means.
	Field   string
	Message string
}

// Validate checks an InferenceService as KServe's admission webhook would
// on create, with KServe's own validation (the CRD's schema is checked
// with every other CRD in internal/admission). Each finding names the
// object field when it can; callers map it to the spec through the
// object's Trace.
func Validate(obj generators.Object) []FieldError {
	var out []FieldError
	isvc := &v1beta1.InferenceService{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, isvc); err != nil {
		return append(out, FieldError{Message: err.Error()})
	}
	if err := ValidateTyped(isvc); err != nil {
		out = append(out, FieldError{Field: fieldOf(err.Error()), Message: err.Error()})
	}
	return out
}

var quiet sync.Once

// ValidateTyped runs KServe's admission validation (ValidateCreate of its
// webhook) on isvc.
func ValidateTyped(isvc *v1beta1.InferenceService) error {
	// KServe's webhook logs through controller-runtime, which complains
	// on stderr when no logger is set.
	quiet.Do(func() { logf.SetLogger(logr.Discard()) })
	if isvc.Namespace == "" {
		isvc = isvc.DeepCopy()
		isvc.Namespace = "default"
	}
	_, err := (&v1beta1.InferenceServiceValidator{}).ValidateCreate(context.Background(), isvc)
	return err
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

// Default applies KServe's admission defaulting to isvc, as KServe's
// mutating webhook does on create with the settings of KServe's shipped
// inferenceservice-config ConfigMap (defaultDeploymentMode Serverless,
// autoMountServiceAccountToken true). It needs no cluster: the webhook's
// only lookups are those settings and the local model caches, of which
// there are none.
func Default(isvc *v1beta1.InferenceService) {
	quiet.Do(func() { logf.SetLogger(logr.Discard()) })
	isvc.DefaultInferenceService(
		&v1beta1.InferenceServicesConfig{},
		&v1beta1.DeployConfig{DefaultDeploymentMode: "Serverless"},
		&v1beta1.SecurityConfig{AutoMountServiceAccountToken: true},
		nil,
	)
}
