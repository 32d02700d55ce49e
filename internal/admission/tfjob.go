package admission

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	trainingv1 "github.com/kubeflow/training-operator/pkg/apis/kubeflow.org/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// TFJob runs the training operator's admission webhook (v1.9.4,
// pkg/webhooks/tensorflow) on a TFJob's creation: a DNS-1035 name, a
// known spec.runPolicy.managedBy, containers with images in every replica,
// a container named tensorflow, at most one chief or master. The enums the
// CRD does not constrain (restart, clean-pod and success policy) are
// checked by the spec schemas, where the user's line is known.
//
// The webhook's checks are written out here (validateTFJob), in a fixed
// order where the webhook walks a map: its package links the operator's
// controllers, and with them Volcano's, the scheduler plugins' and
// controller-runtime's manager packages, for some fifty lines of checks.
// TestTFJobAgreesWithWebhook holds the two to the same findings.
func TFJob(obj *unstructured.Unstructured) ([]Finding, error) {
	var job trainingv1.TFJob
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &job); err != nil {
		return nil, fmt.Errorf("decode TFJob %s: %w", obj.GetName(), err)
	}
	agg := validateTFJob(&job).ToAggregate()
	if agg == nil {
		return nil, nil
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

// validateTFJob is the webhook's validateTFJob for a new job, with its
// paths and messages; replica types are checked in name order.
func validateTFJob(job *trainingv1.TFJob) field.ErrorList {
	var errs field.ErrorList
	if msgs := apimachineryvalidation.NameIsDNS1035Label(job.Name, false); len(msgs) != 0 {
		errs = append(errs, field.Invalid(field.NewPath("metadata").Child("name"), job.Name, fmt.Sprintf("should match: %v", strings.Join(msgs, ","))))
	}
	// The training operator's pkg/common/util.ValidateRunPolicy.
	if m := job.Spec.RunPolicy.ManagedBy; m != nil && *m != trainingv1.KubeflowJobsController && *m != trainingv1.MultiKueueController {
		errs = append(errs, field.NotSupported(field.NewPath("spec", "runPolicy", "managedBy"), *m,
			[]string{trainingv1.KubeflowJobsController, trainingv1.MultiKueueController}))
	}
	replicas := field.NewPath("spec").Child("tfReplicaSpecs")
	specs := job.Spec.TFReplicaSpecs
	if specs == nil {
		errs = append(errs, field.Required(replicas, "must be required"))
	}
	chiefOrMaster := 0
	for _, rType := range slices.Sorted(maps.Keys(specs)) {
		rSpec := specs[rType]
		containers := replicas.Key(string(rType)).Child("template").Child("spec").Child("containers")
		if rSpec == nil || len(rSpec.Template.Spec.Containers) == 0 {
			errs = append(errs, field.Required(containers, "must be specified"))
		}
		if trainingv1.IsChiefOrMaster(rType) {
			chiefOrMaster++
		}
		found := false
		if rSpec != nil {
			for i, c := range rSpec.Template.Spec.Containers {
				if c.Image == "" {
					errs = append(errs, field.Required(containers.Index(i).Child("image"), "must be required"))
				}
				if c.Name == trainingv1.TFJobDefaultContainerName {
					found = true
				}
			}
		}
		if !found {
			errs = append(errs, field.Required(containers, fmt.Sprintf("must have at least one container with name %s", trainingv1.TFJobDefaultContainerName)))
		}
	}
	if chiefOrMaster > 1 {
		errs = append(errs, field.Forbidden(replicas, "must not have more than 1 Chief or Master role"))
	}
	return errs
}
