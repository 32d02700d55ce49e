package admission

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/go-logr/logr"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	trainingv1 "github.com/kubeflow/training-operator/pkg/apis/kubeflow.org/v1"
	tfwebhook "github.com/kubeflow/training-operator/pkg/webhooks/tensorflow"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var quiet sync.Once

// TFJob runs the training operator's own admission webhook (v1.8.1) on a
// TFJob: a DNS-1035 name, containers with images in every replica, a
// container named tensorflow, at most one chief or master. The enums the
// CRD does not constrain (restart, clean-pod and success policy) are
// checked by the spec schemas, where the user's line is known.
func TFJob(obj *unstructured.Unstructured) ([]Finding, error) {
	var job trainingv1.TFJob
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &job); err != nil {
		return nil, fmt.Errorf("decode TFJob %s: %w", obj.GetName(), err)
	}
	// The webhook logs through controller-runtime, which prints a stack
	// trace on stderr when no logger is set.
	quiet.Do(func() { logf.SetLogger(logr.Discard()) })
	_, err := (&tfwebhook.Webhook{}).ValidateCreate(context.Background(), &job)
	if err == nil {
		return nil, nil
	}
	var agg utilerrors.Aggregate
	if !errors.As(err, &agg) {
		return []Finding{{Message: err.Error()}}, nil
	}
	var out []Finding
	for _, e := range agg.Errors() {
		var fe *field.Error
		if errors.As(e, &fe) {
			out = append(out, Finding{Field: tracePath(fe.Field), Message: message(fe)})
			continue
		}
		out = append(out, Finding{Message: e.Error()})
	}
	return out, nil
}
