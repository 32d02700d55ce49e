package platform

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dmls-project/dmls/generators/kustomize"
	"github.com/dmls-project/dmls/internal/golden"
	"github.com/dmls-project/dmls/internal/spec"
)

func fixture() Input {
	p := &spec.Platform{
		Name: "ml-platform",
		Teams: map[string]spec.Team{
			"ml-research": {Group: "oidc:ml-research", Quota: &spec.Quota{CPU: "16", Memory: "64Gi", GPU: new(4), Storage: "200Gi"}},
			"ml-serving":  {Group: "ml-serving"},
		},
		Components: map[string]spec.Component{
			"knative-serving": {Namespace: "knative-serving", ServingIngress: true},
			"kourier":         {Namespace: "kourier-system", ServingIngress: true},
			"cert-manager":    {Namespace: "cert-manager"},
		},
	}
	env := &spec.Environment{
		Name:        "prod",
		Namespaces:  map[string]string{"ml-research": "ml-research-prod", "ml-serving": "ml-serving-prod"},
		Quota:       &spec.Quota{CPU: "4", Memory: "8Gi", Pods: new(50), PVCs: new(5), Storage: "50Gi"},
		PodSecurity: "restricted",
		Limits: spec.EnvLimits{
			DefaultRequest: spec.CPUMemory{CPU: "100m", Memory: "128Mi"},
			Default:        spec.CPUMemory{CPU: "2", Memory: "4Gi"},
		},
	}
	return Input{
		Platform: p, Env: env,
		Jobs: map[string][]string{"ml-research": {"resnet-r2", "fashion-mnist-r1"}},
		Kinds: []ManagedKind{
			{GroupKind: metav1.GroupKind{Kind: "PersistentVolumeClaim"}, Resource: Resource("PersistentVolumeClaim")},
			{GroupKind: metav1.GroupKind{Group: "kubeflow.org", Kind: "TFJob"}, Resource: Resource("TFJob")},
			{GroupKind: metav1.GroupKind{Group: "serving.knative.dev", Kind: "Service"}, Resource: Resource("Service")},
		},
	}
}

// TestGolden covers every guard-rail kind: the team quota over the
// environment's defaults, a team with defaults only, a TFJob policy per
// job, and the serving ingress taken from the components.
func TestGolden(t *testing.T) {
	objs, err := GuardRails(fixture())
	if err != nil {
		t.Fatal(err)
	}
	tree, err := kustomize.Plain(objs)
	if err != nil {
		t.Fatal(err)
	}
	golden.CheckTree(t, "testdata/prod", tree)
}

func TestGuardRails(t *testing.T) {
	objs, err := GuardRails(fixture())
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.GetKind()]++
		if o.GetKind() != "Namespace" && !strings.HasPrefix(o.GetNamespace(), "ml-") {
			t.Errorf("%s is not in a team namespace: %q", o.ID(), o.GetNamespace())
		}
		if strings.HasPrefix(o.GetKind(), "Cluster") {
			t.Errorf("%s: guard rails must not be cluster-wide", o.ID())
		}
	}
	// Two teams; ml-research has two jobs.
	want := map[string]int{"Namespace": 2, "ResourceQuota": 2, "LimitRange": 2, "NetworkPolicy": 8, "ServiceAccount": 4, "Role": 2, "RoleBinding": 2}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%d %s, want %d", kinds[k], k, n)
		}
	}
	// The team's own quota wins over the environment's defaults.
	for _, o := range objs {
		if o.GetKind() == "ResourceQuota" && o.GetNamespace() == "ml-research-prod" {
			hard := o.Object["spec"].(map[string]any)["hard"].(map[string]any)
			if hard["requests.cpu"] != "16" || hard["pods"] != "50" || hard["requests.storage"] != "200Gi" || hard["persistentvolumeclaims"] != "5" {
				t.Errorf("ml-research quota %v: want cpu 16 (team), pods 50 and 5 PVCs (environment), storage 200Gi (team)", hard)
			}
		}
	}
}

func TestIngressNamespaces(t *testing.T) {
	if got := strings.Join(IngressNamespaces(fixture().Platform), ","); got != "knative-serving,kourier-system" {
		t.Errorf("from components: %s", got)
	}
	if got := strings.Join(IngressNamespaces(&spec.Platform{}), ","); got != strings.Join(DefaultIngressNamespaces, ",") {
		t.Errorf("no components: %s", got)
	}
}

func TestResource(t *testing.T) {
	for kind, want := range map[string]string{"PersistentVolumeClaim": "persistentvolumeclaims", "TFJob": "tfjobs", "Service": "services"} {
		if got := Resource(kind); got != want {
			t.Errorf("Resource(%s) = %s, want %s", kind, got, want)
		}
	}
}
