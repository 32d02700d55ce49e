package apiserver

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// TestSingleSignOnInstall checks the installation under api.auth (issue
// 22): the tokens Secret is optional, and with service accounts the server
// reviews their tokens with its own, bound to system:auth-delegator.
func TestSingleSignOnInstall(t *testing.T) {
	for _, tt := range []struct {
		name              string
		auth, review      bool
		optional, mounted bool
		bindings          int
	}{
		{"team tokens only", false, false, false, false, 0},
		{"people log in", true, false, true, false, 0},
		{"people and service accounts", true, true, true, true, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := exampleConfig()
			c.Auth, c.TokenReview = tt.auth, tt.review
			objs, err := Generate(c)
			if err != nil {
				t.Fatal(err)
			}
			var d appsv1.Deployment
			bindings := 0
			for _, o := range objs {
				switch o.GetKind() {
				case "Deployment":
					if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d); err != nil {
						t.Fatal(err)
					}
				case "ClusterRoleBinding":
					var crb rbacv1.ClusterRoleBinding
					if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &crb); err != nil {
						t.Fatal(err)
					}
					if crb.RoleRef.Name != "system:auth-delegator" || crb.Subjects[0].Name != DefaultName || crb.Subjects[0].Namespace != DefaultNamespace {
						t.Errorf("binding %+v", crb)
					}
					bindings++
				}
			}
			pod := d.Spec.Template.Spec
			var optional bool
			for _, v := range pod.Volumes {
				if v.Name == "tokens" && v.Secret.Optional != nil {
					optional = *v.Secret.Optional
				}
			}
			if optional != tt.optional {
				t.Errorf("tokens Secret optional %v, want %v", optional, tt.optional)
			}
			if got := slices.Contains(pod.Containers[0].Args, "--token-review"); got != tt.review {
				t.Errorf("--token-review %v, want %v: %v", got, tt.review, pod.Containers[0].Args)
			}
			if got := *pod.AutomountServiceAccountToken; got != tt.mounted {
				t.Errorf("token mounted %v, want %v", got, tt.mounted)
			}
			if bindings != tt.bindings {
				t.Errorf("%d ClusterRoleBindings, want %d", bindings, tt.bindings)
			}
		})
	}
}
