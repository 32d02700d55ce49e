package argocd

import (
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/internal/apis/argocdv1alpha1"
)

// CompareOptionIgnoreExtraneous keeps an object that is in the cluster but
// no longer in git from making its Application OutOfSync.
const CompareOptionIgnoreExtraneous = "IgnoreExtraneous"

var (
	kindNamespace     = schema.GroupKind{Kind: "Namespace"}
	kindResourceQuota = schema.GroupKind{Kind: "ResourceQuota"}
	// The guard rails of a team namespace go with it, before any pod.
	kindLimitRange     = schema.GroupKind{Kind: "LimitRange"}
	kindServiceAccount = schema.GroupKind{Kind: "ServiceAccount"}
	kindNetworkPolicy  = schema.GroupKind{Group: "networking.k8s.io", Kind: "NetworkPolicy"}
	kindRole           = schema.GroupKind{Group: "rbac.authorization.k8s.io", Kind: "Role"}
	kindRoleBinding    = schema.GroupKind{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}
	kindClaim          = schema.GroupKind{Kind: "PersistentVolumeClaim"}
)

// SyncWave returns the sync wave of an object dmls syncs: WaveFirst for
// Namespaces and their guard rails (ResourceQuotas, LimitRanges,
// NetworkPolicies, ServiceAccounts, Roles, RoleBindings), WaveWorkloads for everything else, claims
// included (see the package doc). ok is false for objects without a
// GroupVersionKind.
func SyncWave(obj generators.Object) (wave string, ok bool) {
	if obj.Unstructured == nil || obj.GetKind() == "" {
		return "", false
	}
	switch obj.GroupVersionKind().GroupKind() {
	case kindNamespace, kindResourceQuota, kindLimitRange, kindServiceAccount, kindNetworkPolicy, kindRole, kindRoleBinding:
		return WaveFirst, true
	}
	return WaveWorkloads, true
}

// keepsData reports whether Argo CD must never prune or delete obj: it
// holds data a sync must not throw away.
func keepsData(obj generators.Object) bool {
	gk := obj.GroupVersionKind().GroupKind()
	return gk == kindNamespace || gk == kindClaim
}

// Annotate sets on each object the Argo CD annotations it needs: its sync
// wave, and for Namespaces and PersistentVolumeClaims Prune=false,
// Delete=false and IgnoreExtraneous. Options already on an object are
// kept. The build calls it on every object it publishes for Argo CD to
// sync, before laying them out. Annotate changes objs in place and is
// idempotent.
func Annotate(objs []generators.Object) {
	for _, o := range objs {
		if o.Unstructured == nil {
			continue
		}
		wave, ok := SyncWave(o)
		if !ok {
			continue
		}
		ann := o.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		ann[argocdv1alpha1.AnnotationSyncWave] = wave
		if keepsData(o) {
			ann[argocdv1alpha1.AnnotationSyncOptions] = addCSV(ann[argocdv1alpha1.AnnotationSyncOptions],
				DisablePrune, DisableDeletion)
			ann[argocdv1alpha1.AnnotationCompareOptions] = addCSV(ann[argocdv1alpha1.AnnotationCompareOptions], CompareOptionIgnoreExtraneous)
		}
		o.SetAnnotations(ann)
	}
}

// addCSV adds items missing from the comma-separated list csv.
func addCSV(csv string, items ...string) string {
	var list []string
	have := map[string]bool{}
	for _, s := range strings.Split(csv, ",") {
		if s = strings.TrimSpace(s); s != "" && !have[s] {
			have[s] = true
			list = append(list, s)
		}
	}
	for _, s := range items {
		if !have[s] {
			have[s] = true
			list = append(list, s)
		}
	}
	return strings.Join(list, ",")
}
