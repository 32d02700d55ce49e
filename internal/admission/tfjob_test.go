package admission

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	trainingv1 "github.com/kubeflow/training-operator/pkg/apis/kubeflow.org/v1"
	tfwebhook "github.com/kubeflow/training-operator/pkg/webhooks/tensorflow"
	"k8s.io/apimachinery/pkg/runtime"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// TestTFJobAgreesWithWebhook holds validateTFJob to the training
// operator's own webhook, which it writes out: the same errors for each
// TFJob, compared as a set (the webhook walks a map, so its order
// varies), and for a NotSupported error without the list of supported
// values, which the webhook prints in a set's random order.
func TestTFJobAgreesWithWebhook(t *testing.T) {
	// The webhook logs through controller-runtime, which complains on
	// stderr when no logger is set.
	logf.SetLogger(logr.Discard())
	src, err := os.ReadFile("testdata/corpus/valid-tfjob.yaml")
	if err != nil {
		t.Fatal(err)
	}
	good := string(src)
	replicas := func(specs string) string {
		i := strings.Index(good, "  tfReplicaSpecs:")
		if i < 0 {
			t.Fatal("valid-tfjob.yaml has no tfReplicaSpecs")
		}
		return good[:i] + specs
	}
	tests := []struct {
		name  string
		obj   string
		nErrs int
	}{
		{name: "valid", obj: good},
		{name: "name not DNS-1035", obj: strings.Replace(good, "name: mnist-r1", "name: 1mnist", 1), nErrs: 1},
		{name: "name too long", obj: strings.Replace(good, "name: mnist-r1", "name: "+strings.Repeat("a", 64), 1), nErrs: 1},
		{name: "no tensorflow container", obj: strings.Replace(good, "name: tensorflow", "name: trainer", 1), nErrs: 1},
		{name: "container without image", obj: strings.Replace(good, "image: kubeflow/multi-worker-strategy:v0.1", "imagePullPolicy: Always", 1), nErrs: 1},
		{name: "no replica specs", obj: replicas("  runPolicy: {}\n"), nErrs: 1},
		{name: "no containers", obj: replicas("  tfReplicaSpecs:\n    Worker:\n      replicas: 1\n      template: {spec: {containers: []}}\n"), nErrs: 2},
		{name: "errors in several replicas", obj: replicas(`  tfReplicaSpecs:
    Chief:
      template: {spec: {containers: [{name: main, image: ""}]}}
    Master:
      template: {spec: {containers: [{name: tensorflow}]}}
    PS:
      template: {spec: {containers: [{name: tensorflow, image: "a:1"}, {name: side}]}}
    Worker:
      template: {spec: {containers: []}}
`), nErrs: 7},
		{name: "managedBy unknown", obj: replicas("  runPolicy: {managedBy: example.com/other}\n  tfReplicaSpecs:\n    Worker:\n      template: {spec: {containers: [{name: tensorflow, image: \"a:1\"}]}}\n"), nErrs: 1},
		{name: "managedBy MultiKueue", obj: replicas("  runPolicy: {managedBy: " + trainingv1.MultiKueueController + "}\n  tfReplicaSpecs:\n    Worker:\n      template: {spec: {containers: [{name: tensorflow, image: \"a:1\"}]}}\n")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var job trainingv1.TFJob
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(object(t, tc.obj).Object, &job); err != nil {
				t.Fatal(err)
			}
			_, err := (&tfwebhook.Webhook{}).ValidateCreate(context.Background(), job.DeepCopy())
			want := errorSet(t, err)
			if len(want) != tc.nErrs {
				t.Fatalf("the webhook gives %d errors, the case expects %d: %v", len(want), tc.nErrs, want)
			}
			var got []string
			if agg := validateTFJob(&job).ToAggregate(); agg != nil {
				got = errorSet(t, agg)
			}
			if !slices.Equal(got, want) {
				t.Errorf("validateTFJob:\n got %q\nwant %q (the webhook's)", got, want)
			}
		})
	}
}

// errorSet is err's field errors as sorted strings, a NotSupported error
// without its detail.
func errorSet(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var agg utilerrors.Aggregate
	if !errors.As(err, &agg) {
		t.Fatalf("not an aggregate: %v", err)
	}
	var out []string
	for _, e := range agg.Errors() {
		var fe *field.Error
		if !errors.As(e, &fe) {
			t.Fatalf("not a field error: %v", e)
		}
		if fe.Type == field.ErrorTypeNotSupported {
			out = append(out, fmt.Sprintf("%s: %s: %v", fe.Field, fe.Type, fe.BadValue))
			continue
		}
		out = append(out, fe.Error())
	}
	slices.Sort(out)
	return out
}
