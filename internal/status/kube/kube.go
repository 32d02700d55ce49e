// Package kube reads the live status of apps from Kubernetes with
// client-go: the Argo CD Application in Argo CD's namespace, and the
// TFJob, Knative Service or InferenceService in the team's namespace of
// each environment. It only gets and watches the kinds in
// reads.Resources, which is also where the RBAC of dmls serve comes from.
package kube

import (
	"context"
	"fmt"
	"maps"
	"path"
	"slices"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/dmls-project/dmls/generators/argocd"
	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/status"
	"github.com/dmls-project/dmls/internal/status/reads"
)

// Kinds of the workloads the reader knows.
const (
	KindApplication      = reads.KindApplication
	KindTFJob            = reads.KindTFJob
	KindKnativeService   = reads.KindKnativeService
	KindInferenceService = reads.KindInferenceService
)

func resource(kind string) reads.Resource { return reads.ResourceOf(kind) }

// Target is one app in one environment: what to read and where.
type Target struct {
	Env       string `json:"env"`
	Namespace string `json:"namespace"`
	// Application is the Argo CD Application (<app>-<env>), and Dirs the
	// folders of the k8s-config repo it syncs (its overlay and the base).
	Application string   `json:"application"`
	Dirs        []string `json:"dirs,omitempty"`
	// TFJob is the TFJob of the current run, if the app trains there.
	TFJob string `json:"tfJob,omitempty"`
	Run   int    `json:"run,omitempty"`
	// ServingKind (Service or InferenceService) and ServingName name the
	// model service, if the app serves there.
	ServingKind string `json:"servingKind,omitempty"`
	ServingName string `json:"servingName,omitempty"`
}

// Targets returns what to read for each environment of a built app, from
// the objects generated for it (what is in git is what is deployed);
// prefix is the k8s-config repo's path prefix.
func Targets(a *build.App, prefix string) []Target {
	var out []Target
	for _, in := range a.App.Envs {
		env := in.Env.Name
		overlay := path.Join(prefix, layout.OverlayDir(a.App.Name, env))
		t := Target{Env: env, Namespace: in.Namespace, Application: argocd.ApplicationName(a.App.Name, env),
			Dirs: layout.DirsOf(overlay)}
		for _, o := range a.Objects[env] {
			gvk := o.GroupVersionKind()
			switch {
			case gvk.Group == "kubeflow.org" && gvk.Kind == KindTFJob:
				t.TFJob = o.GetName()
				if in.Spec.Training != nil {
					t.Run = in.Spec.Training.Run
				}
			case gvk.Group == "serving.knative.dev" && gvk.Kind == KindKnativeService,
				gvk.Group == "serving.kserve.io" && gvk.Kind == KindInferenceService:
				t.ServingKind, t.ServingName = gvk.Kind, o.GetName()
			}
		}
		out = append(out, t)
	}
	return out
}

// Clusters reads from Kubernetes: Applications through ArgoCD, workloads
// through the client of their environment's cluster.
type Clusters struct {
	// ArgoCD is the client of the cluster Argo CD runs in, and
	// ArgoCDNamespace its namespace.
	ArgoCD          dynamic.Interface
	ArgoCDNamespace string
	// Env returns the client of an environment's cluster; nil means
	// ArgoCD's client for every environment.
	Env func(env string) (dynamic.Interface, error)
	// Timeout bounds each read; 0 means 10 s.
	Timeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (c *Clusters) envClient(env string) (dynamic.Interface, error) {
	if c.Env == nil {
		if c.ArgoCD == nil {
			return nil, fmt.Errorf("no cluster access configured")
		}
		return c.ArgoCD, nil
	}
	return c.Env(env)
}

// Published is what dmls published to the k8s-config repo: which commit
// last changed some folders, and whether a revision includes a commit
// (gitops.CommitGraph).
type Published interface {
	LastChange(dirs []string) string
	Includes(rev, commit string) bool
}

// Read reads one target and summarizes it; pub says what dmls published
// (nil when unknown: the state then follows Argo CD's revision). A cluster
// that cannot be read gives the environment Unknown with the reason, never
// an error.
func (c *Clusters) Read(ctx context.Context, t Target, pub Published) status.Environment {
	commit := ""
	if pub != nil {
		commit = pub.LastChange(t.Dirs)
	}
	e := c.read(ctx, t, commit)
	if pub != nil && e.Application != nil && e.Application.Found {
		e.RevisionIncludesCommit = pub.Includes(e.Application.Revision, commit)
	}
	status.Summarize(&e)
	return e
}

func (c *Clusters) read(ctx context.Context, t Target, commit string) status.Environment {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	at := now().UTC().Truncate(time.Second)
	e := status.Environment{Env: t.Env, Namespace: t.Namespace, Commit: commit, ObservedAt: &at}
	if c.ArgoCD == nil {
		e.Error = "no cluster access configured"
		return e
	}
	obj, err := get(ctx, c.ArgoCD, resource(KindApplication), c.ArgoCDNamespace, t.Application)
	if err != nil {
		e.Error = fmt.Sprintf("read Application %s/%s: %v", c.ArgoCDNamespace, t.Application, err)
		return e
	}
	e.Application = status.FromApplication(t.Application, c.ArgoCDNamespace, obj)
	if t.TFJob == "" && t.ServingName == "" {
		return e
	}
	cl, err := c.envClient(t.Env)
	if err != nil {
		e.Error = fmt.Sprintf("environment %s: %v", t.Env, err)
		return e
	}
	if t.TFJob != "" {
		obj, err := get(ctx, cl, resource(KindTFJob), t.Namespace, t.TFJob)
		if err != nil {
			e.Error = fmt.Sprintf("read TFJob %s/%s: %v", t.Namespace, t.TFJob, err)
			return e
		}
		e.Training = status.FromTFJob(t.TFJob, t.Run, obj)
	}
	if t.ServingName != "" {
		obj, err := get(ctx, cl, resource(t.ServingKind), t.Namespace, t.ServingName)
		if err != nil {
			e.Error = fmt.Sprintf("read %s %s/%s: %v", t.ServingKind, t.Namespace, t.ServingName, err)
			return e
		}
		if t.ServingKind == KindInferenceService {
			e.Serving = status.FromInferenceService(t.ServingName, obj)
		} else {
			e.Serving = status.FromKnativeService(t.ServingName, obj)
		}
	}
	return e
}

// View reads every target of one app, in parallel.
func (c *Clusters) View(ctx context.Context, team, app, mlCommit string, targets []Target, pub Published) *status.View {
	v := &status.View{Team: team, App: app, Commit: mlCommit, Environments: make([]status.Environment, len(targets))}
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v.Environments[i] = c.Read(ctx, t, pub)
		}()
	}
	wg.Wait()
	return v
}

// get returns an object, nil when it does not exist.
func get(ctx context.Context, cl dynamic.Interface, r reads.Resource, ns, name string) (map[string]any, error) {
	u, err := cl.Resource(r.GVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return u.Object, nil
}

// Changes signals, without blocking, whenever one of the targets' objects
// changes, by watching each of them, and at least every resync as a
// safety net (a watch can end, a cluster can be down). It ends with ctx.
func (c *Clusters) Changes(ctx context.Context, targets []Target, resync time.Duration) <-chan struct{} {
	ch := make(chan struct{}, 1)
	signal := func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	type watched struct {
		cl   func() (dynamic.Interface, error)
		r    reads.Resource
		ns   string
		name string
	}
	var ws []watched
	for _, t := range targets {
		ws = append(ws, watched{func() (dynamic.Interface, error) {
			if c.ArgoCD == nil {
				return nil, fmt.Errorf("no cluster access configured")
			}
			return c.ArgoCD, nil
		}, resource(KindApplication), c.ArgoCDNamespace, t.Application})
		env := t.Env
		envc := func() (dynamic.Interface, error) { return c.envClient(env) }
		if t.TFJob != "" {
			ws = append(ws, watched{envc, resource(KindTFJob), t.Namespace, t.TFJob})
		}
		if t.ServingName != "" {
			ws = append(ws, watched{envc, resource(t.ServingKind), t.Namespace, t.ServingName})
		}
	}
	for _, w := range ws {
		go func() {
			for ctx.Err() == nil {
				if cl, err := w.cl(); err == nil {
					wi, err := cl.Resource(w.r.GVR).Namespace(w.ns).Watch(ctx, metav1.ListOptions{
						FieldSelector: fields.OneTermEqualSelector("metadata.name", w.name).String(),
					})
					if err == nil {
						for range wi.ResultChan() {
							signal()
						}
						wi.Stop()
					}
				}
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		}()
	}
	if resync > 0 {
		go func() {
			t := time.NewTicker(resync)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					signal()
				}
			}
		}()
	}
	return ch
}

// Options say how to reach the clusters, as kubectl's flags do.
type Options struct {
	// Kubeconfig is the kubeconfig file; "" means $KUBECONFIG or
	// ~/.kube/config, and in a pod the in-cluster configuration.
	Kubeconfig string
	// Context is the kubeconfig context of Argo CD's cluster, and of
	// every environment not in EnvContexts; "" means the current one.
	Context string
	// EnvContexts name the context of an environment's cluster.
	EnvContexts     map[string]string
	ArgoCDNamespace string
}

// RESTConfig returns the client configuration of a kubeconfig context.
func RESTConfig(kubeconfig, context string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	cfg.Timeout = 15 * time.Second
	// One read is a few gets per environment, and a watch per object.
	cfg.QPS, cfg.Burst = 50, 100
	cfg.UserAgent = "dmls"
	return cfg, nil
}

// New connects to the clusters of o. Connecting does no I/O, so an
// unreachable cluster shows later, as Unknown.
func New(o Options) (*Clusters, error) {
	cfg, err := RESTConfig(o.Kubeconfig, o.Context)
	if err != nil {
		return nil, err
	}
	main, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	c := &Clusters{ArgoCD: main, ArgoCDNamespace: o.ArgoCDNamespace}
	if len(o.EnvContexts) > 0 {
		clients := map[string]dynamic.Interface{}
		for _, env := range slices.Sorted(maps.Keys(o.EnvContexts)) {
			cfg, err := RESTConfig(o.Kubeconfig, o.EnvContexts[env])
			if err != nil {
				return nil, fmt.Errorf("environment %s: %w", env, err)
			}
			if clients[env], err = dynamic.NewForConfig(cfg); err != nil {
				return nil, err
			}
		}
		c.Env = func(env string) (dynamic.Interface, error) {
			if cl, ok := clients[env]; ok {
				return cl, nil
			}
			return main, nil
		}
	}
	return c, nil
}

// AppView reads the status of a built app in each of its environments, or
// in env alone when env is not "". mlCommit is the ml-model commit that
// last changed the app ("" when unknown), prefix the k8s-config repo's
// path prefix and pub what dmls published there (nil when unknown).
func (c *Clusters) AppView(ctx context.Context, a *build.App, env, mlCommit, prefix string, pub Published) *status.View {
	return c.View(ctx, a.App.Team, a.App.Name, mlCommit, AppTargets(a, env, prefix), pub)
}

// AppTargets are the targets of a built app, in env alone when env is not "".
func AppTargets(a *build.App, env, prefix string) []Target {
	var out []Target
	for _, t := range Targets(a, prefix) {
		if env == "" || t.Env == env {
			out = append(out, t)
		}
	}
	return out
}
