package admission

import (
	"encoding/json"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	"k8s.io/kubernetes/pkg/apis/apps"
	_ "k8s.io/kubernetes/pkg/apis/apps/install"
	appsvalidation "k8s.io/kubernetes/pkg/apis/apps/validation"
	"k8s.io/kubernetes/pkg/apis/core"
	_ "k8s.io/kubernetes/pkg/apis/core/install"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"
	"k8s.io/kubernetes/pkg/apis/networking"
	_ "k8s.io/kubernetes/pkg/apis/networking/install"
	networkingvalidation "k8s.io/kubernetes/pkg/apis/networking/validation"
	"k8s.io/kubernetes/pkg/apis/policy"
	_ "k8s.io/kubernetes/pkg/apis/policy/install"
	policyvalidation "k8s.io/kubernetes/pkg/apis/policy/validation"
	"k8s.io/kubernetes/pkg/apis/rbac"
	_ "k8s.io/kubernetes/pkg/apis/rbac/install"
	rbacvalidation "k8s.io/kubernetes/pkg/apis/rbac/validation"
	sigsjson "sigs.k8s.io/json"
)

// builtin is how the API server admits one built-in kind: the versioned
// type a request decodes into, the internal type it converts to, and the
// validation of that internal type (k8s.io/kubernetes/pkg/apis/*/validation).
type builtin struct {
	versioned func() runtime.Object
	internal  func() runtime.Object
	validate  func(runtime.Object) field.ErrorList
}

// builtins are the built-in kinds dmls generates.
var builtins = map[schema.GroupVersionKind]builtin{
	corev1.SchemeGroupVersion.WithKind("Namespace"): {
		func() runtime.Object { return &corev1.Namespace{} }, func() runtime.Object { return &core.Namespace{} },
		func(o runtime.Object) field.ErrorList { return corevalidation.ValidateNamespace(o.(*core.Namespace)) },
	},
	corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaim"): {
		func() runtime.Object { return &corev1.PersistentVolumeClaim{} }, func() runtime.Object { return &core.PersistentVolumeClaim{} },
		func(o runtime.Object) field.ErrorList {
			pvc := o.(*core.PersistentVolumeClaim)
			return corevalidation.ValidatePersistentVolumeClaim(pvc, corevalidation.ValidationOptionsForPersistentVolumeClaim(pvc, nil))
		},
	},
	corev1.SchemeGroupVersion.WithKind("ResourceQuota"): {
		func() runtime.Object { return &corev1.ResourceQuota{} }, func() runtime.Object { return &core.ResourceQuota{} },
		func(o runtime.Object) field.ErrorList {
			return corevalidation.ValidateResourceQuota(o.(*core.ResourceQuota))
		},
	},
	corev1.SchemeGroupVersion.WithKind("LimitRange"): {
		func() runtime.Object { return &corev1.LimitRange{} }, func() runtime.Object { return &core.LimitRange{} },
		func(o runtime.Object) field.ErrorList { return corevalidation.ValidateLimitRange(o.(*core.LimitRange)) },
	},
	corev1.SchemeGroupVersion.WithKind("ServiceAccount"): {
		func() runtime.Object { return &corev1.ServiceAccount{} }, func() runtime.Object { return &core.ServiceAccount{} },
		func(o runtime.Object) field.ErrorList {
			return corevalidation.ValidateServiceAccount(o.(*core.ServiceAccount))
		},
	},
	corev1.SchemeGroupVersion.WithKind("Service"): {
		func() runtime.Object { return &corev1.Service{} }, func() runtime.Object { return &core.Service{} },
		func(o runtime.Object) field.ErrorList { return corevalidation.ValidateServiceCreate(o.(*core.Service)) },
	},
	corev1.SchemeGroupVersion.WithKind("ConfigMap"): {
		func() runtime.Object { return &corev1.ConfigMap{} }, func() runtime.Object { return &core.ConfigMap{} },
		func(o runtime.Object) field.ErrorList { return corevalidation.ValidateConfigMap(o.(*core.ConfigMap)) },
	},
	networkingv1.SchemeGroupVersion.WithKind("NetworkPolicy"): {
		func() runtime.Object { return &networkingv1.NetworkPolicy{} }, func() runtime.Object { return &networking.NetworkPolicy{} },
		func(o runtime.Object) field.ErrorList {
			return networkingvalidation.ValidateNetworkPolicy(o.(*networking.NetworkPolicy), networkingvalidation.NetworkPolicyValidationOptions{})
		},
	},
	rbacv1.SchemeGroupVersion.WithKind("Role"): {
		func() runtime.Object { return &rbacv1.Role{} }, func() runtime.Object { return &rbac.Role{} },
		func(o runtime.Object) field.ErrorList { return rbacvalidation.ValidateRole(o.(*rbac.Role)) },
	},
	rbacv1.SchemeGroupVersion.WithKind("RoleBinding"): {
		func() runtime.Object { return &rbacv1.RoleBinding{} }, func() runtime.Object { return &rbac.RoleBinding{} },
		func(o runtime.Object) field.ErrorList {
			return rbacvalidation.ValidateRoleBinding(o.(*rbac.RoleBinding))
		},
	},
	appsv1.SchemeGroupVersion.WithKind("Deployment"): {
		func() runtime.Object { return &appsv1.Deployment{} }, func() runtime.Object { return &apps.Deployment{} },
		func(o runtime.Object) field.ErrorList {
			return appsvalidation.ValidateDeployment(o.(*apps.Deployment), corevalidation.PodValidationOptions{})
		},
	},
	policyv1.SchemeGroupVersion.WithKind("PodDisruptionBudget"): {
		func() runtime.Object { return &policyv1.PodDisruptionBudget{} }, func() runtime.Object { return &policy.PodDisruptionBudget{} },
		func(o runtime.Object) field.ErrorList {
			return policyvalidation.ValidatePodDisruptionBudget(o.(*policy.PodDisruptionBudget), policyvalidation.PodDisruptionBudgetValidationOptions{})
		},
	},
}

// Builtin checks a built-in object as the API server does on create: a
// strict decode into its Go type (an unknown or duplicated field is a
// finding), the server's defaulting, conversion to the internal type and
// the API server's own validation of that kind. It returns nil for kinds
// it does not know.
func Builtin(obj *unstructured.Unstructured) []Finding {
	b, ok := builtins[obj.GroupVersionKind()]
	if !ok {
		return nil
	}
	data, err := json.Marshal(obj.Object)
	if err != nil {
		return []Finding{{Message: fmt.Sprintf("encode: %v", err)}}
	}
	return b.check(obj.GetKind(), data)
}

// check is Builtin on the JSON encoding of an object of kind.
func (b builtin) check(kind string, data []byte) []Finding {
	versioned := b.versioned()
	strict, err := sigsjson.UnmarshalStrict(data, versioned, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return []Finding{{Message: fmt.Sprintf("cannot decode %s: %v", kind, err)}}
	}
	var out []Finding
	for _, e := range strict {
		out = append(out, Finding{Message: e.Error()})
	}
	legacyscheme.Scheme.Default(versioned)
	internal := b.internal()
	if err := legacyscheme.Scheme.Convert(versioned, internal, nil); err != nil {
		return append(out, Finding{Message: fmt.Sprintf("convert %s: %v", kind, err)})
	}
	for _, e := range b.validate(internal) {
		out = append(out, Finding{Field: tracePath(e.Field), Message: message(e)})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out
}
