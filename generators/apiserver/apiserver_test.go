package apiserver

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/dmls-project/dmls/internal/golden"
)

func exampleConfig() Config {
	return Config{
		Platform: "ml-platform",
		Image:    "ghcr.io/dmls-project/dmls:v0.1.0",
		Repos: map[string]string{
			"ml-model":   "https://git.example.com/dmls/ml-model-repo.git",
			"k8s-config": "https://git.example.com/dmls/k8s-config-repo.git",
		},
	}
}

// TestGolden checks the generated tree against testdata/tree (refresh
// with -update).
func TestGolden(t *testing.T) {
	tree, err := Tree(exampleConfig())
	if err != nil {
		t.Fatal(err)
	}
	golden.CheckTree(t, "testdata/tree", tree)
}

// TestDeployment checks what running the API needs: two replicas, probes,
// scrape annotations, and secrets referenced, never inlined.
func TestDeployment(t *testing.T) {
	tree, err := Tree(exampleConfig())
	if err != nil {
		t.Fatal(err)
	}
	var d appsv1.Deployment
	if err := yaml.UnmarshalStrict(tree["deployment-dmls-api.dmls-system.yaml"], &d); err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 2 {
		t.Errorf("%d replicas", *d.Spec.Replicas)
	}
	pod := d.Spec.Template
	if pod.Annotations["prometheus.io/scrape"] != "true" || pod.Annotations["prometheus.io/path"] != "/metrics" || pod.Annotations["prometheus.io/port"] != "8080" {
		t.Errorf("scrape annotations %v", pod.Annotations)
	}
	c := pod.Spec.Containers[0]
	if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("probes %v %v", c.ReadinessProbe, c.LivenessProbe)
	}
	args := strings.Join(c.Args, " ")
	for _, want := range []string{"serve --listen :8080 --tokens /etc/dmls/tokens/tokens", "--repo ml-model=https://git.example.com/dmls/ml-model-repo.git"} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
	secrets := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		if v.Secret != nil {
			secrets[v.Name] = v.Secret.SecretName
		}
	}
	if secrets["tokens"] != DefaultTokensSecret || secrets["git"] != DefaultGitSecret {
		t.Errorf("secret volumes %v", secrets)
	}
	for _, e := range c.Env {
		if e.Name != "DMLS_GIT_CREDENTIALS_FILE" {
			t.Errorf("env %s: secrets come from files, not the environment", e.Name)
		}
	}
	if *pod.Spec.TerminationGracePeriodSeconds <= 120 {
		t.Errorf("grace period %d does not cover the server's shutdown", *pod.Spec.TerminationGracePeriodSeconds)
	}
	for name := range tree {
		if strings.HasPrefix(name, "secret-") {
			t.Errorf("%s: secrets must not be generated", name)
		}
	}
	var svc corev1.Service
	if err := yaml.UnmarshalStrict(tree["service-dmls-api.dmls-system.yaml"], &svc); err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Selector[`app.kubernetes.io/name`] != "dmls-api" || svc.Spec.Ports[0].TargetPort.StrVal != "http" {
		t.Errorf("service %+v", svc.Spec)
	}
	for _, f := range []string{"serviceaccount-dmls-api.dmls-system.yaml", "poddisruptionbudget-dmls-api.dmls-system.yaml", "kustomization.yaml"} {
		if tree[f] == nil {
			t.Errorf("no %s", f)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"no image", func(c *Config) { c.Image = "" }, "no image"},
		{"no ml-model", func(c *Config) { delete(c.Repos, "ml-model") }, "no URL for repo ml-model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := exampleConfig()
			tt.mutate(&c)
			if _, err := Generate(c); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestStatusRoles checks that the token is mounted and --status given only
// when the server gets Roles to read live status with.
func TestStatusRoles(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nss   []string
		argo  string
		roles int
	}{
		{name: "no status", roles: 0},
		// Argo CD's namespace, two team namespaces, and the release
		// reconciler's Lease in the server's own.
		{name: "argocd and teams", argo: "argocd", nss: []string{"b-dev", "a-dev", "a-dev"}, roles: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := exampleConfig()
			c.ArgoCDNamespace, c.TeamNamespaces = tc.argo, tc.nss
			objs, err := Generate(c)
			if err != nil {
				t.Fatal(err)
			}
			var roles, bindings int
			var d appsv1.Deployment
			for _, o := range objs {
				switch o.GetKind() {
				case "Role":
					roles++
				case "RoleBinding":
					bindings++
				case "Deployment":
					b, _ := o.MarshalJSON()
					if err := yaml.Unmarshal(b, &d); err != nil {
						t.Fatal(err)
					}
				}
			}
			if roles != tc.roles || bindings != tc.roles {
				t.Errorf("%d roles, %d bindings; want %d", roles, bindings, tc.roles)
			}
			mounted := *d.Spec.Template.Spec.AutomountServiceAccountToken
			args := strings.Join(d.Spec.Template.Spec.Containers[0].Args, " ")
			hasFlag := strings.Contains(args, "--status")
			if lease := strings.Contains(args, "--lease-namespace "+c.Namespace); lease != (tc.roles > 0) {
				t.Errorf("--lease-namespace %v, want %v: %s", lease, tc.roles > 0, args)
			}
			if mounted != (tc.roles > 0) || hasFlag != (tc.roles > 0) {
				t.Errorf("token mounted %v, --status %v; want both %v", mounted, hasFlag, tc.roles > 0)
			}
		})
	}
}
