package admission

import (
	"strings"
	"testing"
)

func TestBuiltin(t *testing.T) {
	tests := []struct {
		name string
		obj  string
		want []string
	}{
		{name: "valid PVC", obj: `
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: model, namespace: ml}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 8Gi}}}
`},
		{name: "PVC without a size", obj: `
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: model, namespace: ml}
spec: {accessModes: [ReadWriteOnce]}
`, want: []string{"spec.resources.storage: Required value"}},
		{name: "PVC with an unknown field", obj: `
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: model, namespace: ml}
spec: {accessModes: [ReadWriteOnce], size: 8Gi, resources: {requests: {storage: 8Gi}}}
`, want: []string{`unknown field "spec.size"`}},
		{name: "Namespace with an invalid label value", obj: `
apiVersion: v1
kind: Namespace
metadata: {name: ml-dev, labels: {team: "not a label value"}}
`, want: []string{"metadata.labels: Invalid value"}},
		{name: "ResourceQuota with a negative quantity", obj: `
apiVersion: v1
kind: ResourceQuota
metadata: {name: q, namespace: ml}
spec: {hard: {cpu: "-1"}}
`, want: []string{"spec.hard.cpu: Invalid value"}},
		{name: "LimitRange default above max", obj: `
apiVersion: v1
kind: LimitRange
metadata: {name: l, namespace: ml}
spec: {limits: [{type: Container, max: {cpu: "1"}, default: {cpu: "2"}}]}
`, want: []string{"spec.limits[0].default.cpu: Invalid value: \"1\": default value 2 is greater than max value 1", "spec.limits[0].defaultRequest.cpu: Invalid value: \"2\": default request value 2 is greater than max value 1"}},
		{name: "RoleBinding without a role", obj: `
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: b, namespace: ml}
subjects: [{kind: Group, name: team, apiGroup: rbac.authorization.k8s.io}]
roleRef: {kind: Role, apiGroup: rbac.authorization.k8s.io, name: ""}
`, want: []string{"roleRef.name: Required value"}},
		{name: "NetworkPolicy with a bad port", obj: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: np, namespace: ml}
spec: {podSelector: {}, egress: [{ports: [{port: 70000, protocol: UDP}]}], policyTypes: [Egress]}
`, want: []string{"spec.egress[0].ports[0].port: Invalid value"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obj := object(t, tc.obj)
			if !KnowsBuiltin(obj.GroupVersionKind()) {
				t.Fatalf("no check for %s", obj.GroupVersionKind())
			}
			got := Builtin(obj)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d findings, want %d: %v", len(got), len(tc.want), got)
			}
			for i, f := range got {
				if line := f.Field + ": " + f.Message; !strings.Contains(line, tc.want[i]) {
					t.Errorf("finding %d = %q, want %q", i, line, tc.want[i])
				}
			}
		})
	}
}
