// Package apiserver generates what runs the dmls API (dmls serve) on the
// platform cluster: a ServiceAccount, a Deployment of two replicas with
// probes and Prometheus scrape annotations, a Service and a
// PodDisruptionBudget.
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
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/generators/kustomize"
	"github.com/dmls-project/dmls/internal/repourl"
	"github.com/dmls-project/dmls/internal/spec"
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
	// Image is the dmls image, built from deploy/Dockerfile. Required.
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
}

func (c *Config) defaults() error {
	if c.Image == "" {
		return fmt.Errorf("apiserver: no image")
	}
	if c.Repos[spec.RepoMLModel] == "" {
		return fmt.Errorf("apiserver: no URL for repo %s, where the server reads the workspace", spec.RepoMLModel)
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

	sa := &corev1.ServiceAccount{ObjectMeta: meta(), AutomountServiceAccountToken: ptr(false)}

	args := []string{"serve", "--listen", fmt.Sprintf(":%d", c.Port), "--tokens", tokensDir + "/" + TokensKey}
	for _, name := range generators.SortedKeys(c.Repos) {
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
			SecretName: secret, DefaultMode: ptr(int32(secretFileMode)),
			Items: []corev1.KeyToPath{{Key: key, Path: key}},
		}}}
	}
	container := corev1.Container{
		Name:  "api",
		Image: c.Image,
		Args:  args,
		Env: []corev1.EnvVar{
			{Name: "DMLS_GIT_CREDENTIALS_FILE", Value: gitDir + "/" + GitKey},
		},
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
			RunAsNonRoot:             ptr(true),
			ReadOnlyRootFilesystem:   ptr(true),
			AllowPrivilegeEscalation: ptr(false),
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
			Replicas: ptr(c.Replicas),
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr(intstr.FromInt32(0)),
					MaxSurge:       ptr(intstr.FromInt32(1)),
				},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: scrape},
				Spec: corev1.PodSpec{
					ServiceAccountName:            c.Name,
					AutomountServiceAccountToken:  ptr(false),
					TerminationGracePeriodSeconds: ptr(int64(shutdownGrace)),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr(true),
						RunAsUser:      ptr(int64(65532)),
						RunAsGroup:     ptr(int64(65532)),
						FSGroup:        ptr(int64(65532)),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{container},
					Volumes: []corev1.Volume{
						secretVolume("tokens", c.TokensSecret, TokensKey),
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
			MinAvailable: ptr(intstr.FromInt32(1)),
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
	return out, nil
}

// Tree returns the objects as a kustomization, one file each.
func Tree(c Config) (generators.Tree, error) {
	objs, err := Generate(c)
	if err != nil {
		return nil, err
	}
	return kustomize.Plain(objs)
}

func ptr[T any](v T) *T { return &v }
