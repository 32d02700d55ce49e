// Package apiserver generates what runs the dmls API (dmls serve) on the
// platform cluster: a ServiceAccount, a Deployment of two replicas with
// probes and Prometheus scrape annotations, a Service, a
// PodDisruptionBudget, and read-only Roles for the live status.
//
// Secrets are referenced, never inlined: the token file comes from the
// Secret TokensSecret (key "tokens", see dmls serve --help for its format)
// and the git credentials from the Secret GitSecret (key "credentials", a
// DMLS_GIT_CREDENTIALS_FILE of KEY=value lines, see internal/gitops). The
// platform team creates both, for example with a sealed-secrets or
// external-secrets controller.
//
// The replicas run against the same repos: their pushes race, and the
// server re-applies a change that lost a race (see internal/api). The
// termination grace period exceeds the server's shutdown timeout, so a
// replica that is stopped finishes the changes it accepted.
package apiserver

import (
	"fmt"
	"maps"
	"slices"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/generators/kustomize"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/repourl"
	"github.com/dmls-project/dmls/internal/status/reads"
)

// Defaults of Config.
const (
	DefaultNamespace    = "dmls-system"
	DefaultName         = "dmls-api"
	DefaultReplicas     = 2
	DefaultPort         = 8080
	DefaultTokensSecret = "dmls-api-tokens"
	DefaultGitSecret    = "dmls-git-credentials"
)

// Keys and mount points of the Secrets.
const (
	TokensKey      = "tokens"
	GitKey         = "credentials"
	tokensDir      = "/etc/dmls/tokens"
	gitDir         = "/etc/dmls/git"
	portName       = "http"
	component      = "api"
	shutdownGrace  = 150 // seconds; dmls serve takes up to 120 to finish accepted changes
	secretFileMode = 0o400
)

// Config describes one installation of the API server.
type Config struct {
	// Platform names the platform the server belongs to (labels).
	Platform string
	// Namespace of every object; default DefaultNamespace.
	Namespace string
	// Name of every object; default DefaultName.
	Name string
	// Image is the dmls image (make image; released as
	// ghcr.io/dmls-project/dmls:<version>). Required.
	Image string
	// Replicas; default DefaultReplicas.
	Replicas int32
	// Port the server listens on; default DefaultPort. The Service
	// listens on 80.
	Port int32
	// TokensSecret and GitSecret name the Secrets; defaults
	// DefaultTokensSecret and DefaultGitSecret.
	TokensSecret string
	GitSecret    string
	// Repos are the repo URLs the server uses (--repo NAME=URL). ml-model
	// is required: the server reads the workspace, and with it the other
	// repos, from there.
	Repos map[string]string
	// Resources of the container; default 250m CPU and 512Mi requested,
	// 1Gi limit.
	Resources *corev1.ResourceRequirements
	// ArgoCDNamespace and TeamNamespaces are where the server reads live
	// status (internal/status): a Role and RoleBinding in each grants its
	// ServiceAccount get, list and watch on the kinds reads.Resources
	// reads there, and nothing else. Team namespaces of environments on
	// other clusters are not listed: the server reaches those through a
	// kubeconfig of their own.
	ArgoCDNamespace string
	TeamNamespaces  []string
	// RefreshAnnotation adds a Role in ArgoCDNamespace that may patch
	// Applications, to set argocd.argoproj.io/refresh after a push
	// (platform.cue argocd.refresh.annotation).
	RefreshAnnotation bool
	// Auth says that the platform logs people in (api.auth): the team
	// tokens Secret becomes optional.
	Auth bool
	// TokenReview checks the service-account tokens of
	// api.auth.serviceAccounts with TokenReviews (--token-review): the
	// server's own token is mounted, and a ClusterRoleBinding to
	// system:auth-delegator lets it create TokenReviews.
	TokenReview bool
	// Prometheus is the URL the release reconciler evaluates gates on
	// (--prometheus), or "".
	Prometheus string
	// WebhookSecretEnv, when set, is the environment variable that gets
	// Argo CD's webhook secret, from key "secret" of Secret WebhookSecret
	// (platform.cue argocd.refresh.webhook).
	WebhookSecretEnv string
}

// WebhookSecret is the Secret that holds Argo CD's webhook secret, and
// WebhookKey its key.
const (
	WebhookSecret = "dmls-argocd-webhook"
	WebhookKey    = "secret"
)

func (c *Config) defaults() error {
	if c.Image == "" {
		return fmt.Errorf("apiserver: no image")
	}
	if c.Repos[layout.RepoMLModel] == "" {
		return fmt.Errorf("apiserver: no URL for repo %s, where the server reads the workspace", layout.RepoMLModel)
	}
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.Replicas == 0 {
		c.Replicas = DefaultReplicas
	}
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.TokensSecret == "" {
		c.TokensSecret = DefaultTokensSecret
	}
	if c.GitSecret == "" {
		c.GitSecret = DefaultGitSecret
	}
	if c.Resources == nil {
		c.Resources = &corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("512Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
		}
	}
	return nil
}

// Generate returns the objects of the API server: ServiceAccount,
// Deployment, Service and PodDisruptionBudget.
func Generate(c Config) ([]generators.Object, error) {
	if err := c.defaults(); err != nil {
		return nil, err
	}
	labels := map[string]string{
		generators.LabelName:      c.Name,
		generators.LabelComponent: component,
		generators.LabelManagedBy: generators.ManagedBy,
	}
	if c.Platform != "" {
		labels[generators.LabelPartOf] = c.Platform
	}
	selector := map[string]string{generators.LabelName: c.Name, generators.LabelComponent: component}
	meta := func() metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: c.Name, Namespace: c.Namespace, Labels: labels}
	}
	scrape := map[string]string{
		"prometheus.io/scrape": "true",
		"prometheus.io/port":   strconv.Itoa(int(c.Port)),
		"prometheus.io/path":   "/metrics",
	}

	sa := &corev1.ServiceAccount{ObjectMeta: meta(), AutomountServiceAccountToken: new(false)}
	readStatus := len(Roles(c)) > 0

	args := []string{"serve", "--listen", fmt.Sprintf(":%d", c.Port), "--tokens", tokensDir + "/" + TokensKey}
	if readStatus {
		// The replicas elect one release reconciler with a Lease in
		// their own namespace.
		args = append(args, "--status", "--lease-namespace", c.Namespace)
	}
	if c.Prometheus != "" {
		args = append(args, "--prometheus", c.Prometheus)
	}
	if c.TokenReview {
		args = append(args, "--token-review")
	}
	for _, name := range slices.Sorted(maps.Keys(c.Repos)) {
		args = append(args, "--repo", name+"="+repourl.Public(c.Repos[name]))
	}
	probe := func(path string, period, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString(portName)}},
			PeriodSeconds:    period,
			TimeoutSeconds:   2,
			FailureThreshold: failures,
		}
	}
	secretVolume := func(name, secret, key string) corev1.Volume {
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: secret, DefaultMode: new(int32(secretFileMode)),
			Items: []corev1.KeyToPath{{Key: key, Path: key}},
		}}}
	}
	tokensVolume := secretVolume("tokens", c.TokensSecret, TokensKey)
	if c.Auth {
		// People log in: team tokens are for automation, and optional.
		tokensVolume.Secret.Optional = new(true)
	}
	env := []corev1.EnvVar{{Name: "DMLS_GIT_CREDENTIALS_FILE", Value: gitDir + "/" + GitKey}}
	if c.WebhookSecretEnv != "" {
		env = append(env, corev1.EnvVar{Name: c.WebhookSecretEnv, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: WebhookSecret}, Key: WebhookKey, Optional: new(true),
		}}})
	}
	container := corev1.Container{
		Name:      "api",
		Image:     c.Image,
		Args:      args,
		Env:       env,
		Ports:     []corev1.ContainerPort{{Name: portName, ContainerPort: c.Port, Protocol: corev1.ProtocolTCP}},
		Resources: *c.Resources,
		// Ready once the workspace is read; not ready while shutting down,
		// so the Service stops sending changes to a replica that drains.
		ReadinessProbe: probe("/readyz", 5, 2),
		LivenessProbe:  probe("/healthz", 10, 6),
		VolumeMounts: []corev1.VolumeMount{
			{Name: "tokens", MountPath: tokensDir, ReadOnly: true},
			{Name: "git", MountPath: gitDir, ReadOnly: true},
			{Name: "tmp", MountPath: "/tmp"},
		},
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             new(true),
			ReadOnlyRootFilesystem:   new(true),
			AllowPrivilegeEscalation: new(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
	podLabels := map[string]string{}
	for k, v := range labels {
		podLabels[k] = v
	}
	deploy := &appsv1.Deployment{
		ObjectMeta: meta(),
		Spec: appsv1.DeploymentSpec{
			Replicas: new(c.Replicas),
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: new(intstr.FromInt32(0)),
					MaxSurge:       new(intstr.FromInt32(1)),
				},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: scrape},
				Spec: corev1.PodSpec{
					ServiceAccountName: c.Name,
					// The token is mounted only when the server reads live
					// status or reviews service-account tokens.
					AutomountServiceAccountToken:  new(readStatus || c.TokenReview),
					TerminationGracePeriodSeconds: new(int64(shutdownGrace)),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   new(true),
						RunAsUser:      new(int64(65532)),
						RunAsGroup:     new(int64(65532)),
						FSGroup:        new(int64(65532)),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{container},
					Volumes: []corev1.Volume{
						tokensVolume,
						secretVolume("git", c.GitSecret, GitKey),
						{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					},
					// Replicas on different nodes keep the API up when one goes.
					TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
						MaxSkew: 1, TopologyKey: "kubernetes.io/hostname",
						WhenUnsatisfiable: corev1.ScheduleAnyway,
						LabelSelector:     &metav1.LabelSelector{MatchLabels: selector},
					}},
				},
			},
		},
	}

	svcMeta := meta()
	svcMeta.Annotations = scrape
	svc := &corev1.Service{
		ObjectMeta: svcMeta,
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: selector,
			Ports:    []corev1.ServicePort{{Name: portName, Port: 80, TargetPort: intstr.FromString(portName), Protocol: corev1.ProtocolTCP}},
		},
	}

	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: meta(),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: new(intstr.FromInt32(1)),
			Selector:     &metav1.LabelSelector{MatchLabels: selector},
		},
	}

	var out []generators.Object
	for _, o := range []struct {
		obj runtime.Object
		gvk schema.GroupVersionKind
	}{
		{sa, corev1.SchemeGroupVersion.WithKind("ServiceAccount")},
		{deploy, appsv1.SchemeGroupVersion.WithKind("Deployment")},
		{svc, corev1.SchemeGroupVersion.WithKind("Service")},
		{pdb, policyv1.SchemeGroupVersion.WithKind("PodDisruptionBudget")},
	} {
		obj, err := generators.New(o.obj, o.gvk, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, obj)
	}
	for _, r := range Roles(c) {
		role, err := generators.New(r, rbacv1.SchemeGroupVersion.WithKind("Role"), nil)
		if err != nil {
			return nil, err
		}
		rb := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: r.Name, Namespace: r.Namespace, Labels: labels},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: r.Name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: c.Name, Namespace: c.Namespace}},
		}
		binding, err := generators.New(rb, rbacv1.SchemeGroupVersion.WithKind("RoleBinding"), nil)
		if err != nil {
			return nil, err
		}
		out = append(out, role, binding)
	}
	if c.TokenReview {
		crb := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: TokenReviewBinding(c), Labels: labels},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:auth-delegator"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: c.Name, Namespace: c.Namespace}},
		}
		obj, err := generators.New(crb, rbacv1.SchemeGroupVersion.WithKind("ClusterRoleBinding"), nil)
		if err != nil {
			return nil, err
		}
		out = append(out, obj)
	}
	return out, nil
}

// TokenReviewBinding names the ClusterRoleBinding that lets the server
// create TokenReviews (system:auth-delegator).
func TokenReviewBinding(c Config) string {
	name := c.Name
	if name == "" {
		name = DefaultName
	}
	return name + "-token-review"
}

// StatusRole is the name of the Roles (and RoleBindings) that let the
// server read live status.
const StatusRole = DefaultName + "-status"

// Roles returns the Roles of the server: read-only ones in Argo CD's
// namespace on the Applications and in each team namespace on the
// workload kinds, with exactly the kinds and verbs of reads.Resources and
// reads.Verbs (named StatusRole); and, for RefreshAnnotation, one that
// may patch Applications (named <name>-refresh). c must have its defaults.
func Roles(c Config) []*rbacv1.Role {
	rules := func(scope reads.Scope) []rbacv1.PolicyRule {
		var out []rbacv1.PolicyRule
		for _, r := range reads.Resources {
			if r.Scope == scope {
				out = append(out, rbacv1.PolicyRule{APIGroups: []string{r.GVR.Group}, Resources: []string{r.GVR.Resource}, Verbs: slices.Clone(reads.VerbsOf(r))})
			}
		}
		return out
	}
	labels := map[string]string{generators.LabelName: c.Name, generators.LabelComponent: component, generators.LabelManagedBy: generators.ManagedBy}
	if c.Platform != "" {
		labels[generators.LabelPartOf] = c.Platform
	}
	role := func(ns string, scope reads.Scope) *rbacv1.Role {
		return &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: statusRoleName(c), Namespace: ns, Labels: labels}, Rules: rules(scope)}
	}
	var out []*rbacv1.Role
	if c.ArgoCDNamespace != "" {
		out = append(out, role(c.ArgoCDNamespace, reads.ArgoCDNamespace))
		// The release reconciler's Lease (dmls serve --lease-namespace).
		out = append(out, &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: c.Name + "-release-lease", Namespace: c.Namespace, Labels: labels},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"},
				ResourceNames: nil, Verbs: []string{"get", "create", "update"}}},
		})
		if c.RefreshAnnotation {
			app := reads.ResourceOf(reads.KindApplication).GVR
			out = append(out, &rbacv1.Role{
				ObjectMeta: metav1.ObjectMeta{Name: c.Name + "-refresh", Namespace: c.ArgoCDNamespace, Labels: labels},
				Rules:      []rbacv1.PolicyRule{{APIGroups: []string{app.Group}, Resources: []string{app.Resource}, Verbs: []string{"patch"}}},
			})
		}
	}
	for _, ns := range slices.Compact(slices.Sorted(slices.Values(c.TeamNamespaces))) {
		out = append(out, role(ns, reads.TeamNamespaces))
	}
	return out
}

func statusRoleName(c Config) string {
	if c.Name == "" {
		return StatusRole
	}
	return c.Name + "-status"
}

// Tree returns the objects as a kustomization, one file each.
func Tree(c Config) (generators.Tree, error) {
	objs, err := Generate(c)
	if err != nil {
		return nil, err
	}
	return kustomize.Plain(objs)
}
