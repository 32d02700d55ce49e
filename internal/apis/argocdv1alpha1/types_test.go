package argocdv1alpha1

import (
	"reflect"
	"testing"

	synccommon "github.com/argoproj/argo-cd/gitops-engine/v3/pkg/sync/common"
	argocommon "github.com/argoproj/argo-cd/v3/common"
	upstream "github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"

	"github.com/dmls-project/dmls/internal/apis/agree"
)

// TestFieldsAgreeWithArgoCD holds the subset to Argo CD's own types: each
// field has upstream's name, JSON tag and type, and no field that Argo CD
// writes when it is zero is missing. Status is not here: generators.New
// drops it.
func TestFieldsAgreeWithArgoCD(t *testing.T) {
	for _, c := range []struct{ local, upstream any }{
		{Application{}, upstream.Application{}},
		{AppProject{}, upstream.AppProject{}},
		// Types used on their own, beyond an Application's fields.
		{ResourceIgnoreDifferences{}, upstream.ResourceIgnoreDifferences{}},
		{ClusterResourceRestrictionItem{}, upstream.ClusterResourceRestrictionItem{}},
	} {
		l, u := reflect.TypeOf(c.local), reflect.TypeOf(c.upstream)
		for _, e := range agree.Fields(l, u, "Status", "Operation") {
			t.Error(e)
		}
	}
	for _, c := range []struct{ local, upstream any }{
		{IgnoreDifferences{}, upstream.IgnoreDifferences{}},
		{SyncOptions{}, upstream.SyncOptions{}},
		{KustomizePatches{}, upstream.KustomizePatches{}},
	} {
		l, u := reflect.TypeOf(c.local), reflect.TypeOf(c.upstream)
		if l.Name() != u.Name() || l.Kind() != u.Kind() || l.Elem().Name() != u.Elem().Name() {
			t.Errorf("%s is a %s of %s here, %s is a %s of %s upstream", l.Name(), l.Kind(), l.Elem().Name(), u.Name(), u.Kind(), u.Elem().Name())
		}
	}
}

// TestNamesAgreeWithArgoCD holds the kinds, annotations and options to
// Argo CD's own constants.
func TestNamesAgreeWithArgoCD(t *testing.T) {
	for _, c := range []struct{ name, here, there string }{
		{"Application", ApplicationSchemaGroupVersionKind.String(), upstream.ApplicationSchemaGroupVersionKind.String()},
		{"AppProject", AppProjectSchemaGroupVersionKind.String(), upstream.AppProjectSchemaGroupVersionKind.String()},
		{"BackgroundPropagationPolicyFinalizer", BackgroundPropagationPolicyFinalizer, upstream.BackgroundPropagationPolicyFinalizer},
		{"AnnotationSyncOptions", AnnotationSyncOptions, synccommon.AnnotationSyncOptions},
		{"AnnotationSyncWave", AnnotationSyncWave, synccommon.AnnotationSyncWave},
		{"AnnotationCompareOptions", AnnotationCompareOptions, argocommon.AnnotationCompareOptions},
		{"SyncOptionServerSideApply", SyncOptionServerSideApply, synccommon.SyncOptionServerSideApply},
		{"SyncOptionApplyOutOfSyncOnly", SyncOptionApplyOutOfSyncOnly, synccommon.SyncOptionApplyOutOfSyncOnly},
		{"SyncOptionDelete", SyncOptionDelete, synccommon.SyncOptionDelete},
		{"SyncOptionPrune", SyncOptionPrune, synccommon.SyncOptionPrune},
		{"SyncValueFalse", SyncValueFalse, synccommon.SyncValueFalse},
		{"ArgoCDConfigMapName", ArgoCDConfigMapName, argocommon.ArgoCDConfigMapName},
	} {
		if c.here != c.there {
			t.Errorf("%s: %q here, %q in Argo CD", c.name, c.here, c.there)
		}
	}
}
