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
	"sort"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/dmls-project/dmls/generators/argocd"
	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/spec"
	"github.com/dmls-project/dmls/internal/status"
	"github.com/dmls-project/dmls/internal/status/reads"
)

// Kinds of the workloads the reader knows.
const (
	KindApplication      = reads.KindApplication
	KindTFJob            = reads.KindTFJob
	KindTrainJob         = reads.KindTrainJob
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
	// TrainJob is the TrainJob of the current run, if the app trains
	// there with Trainer v2.
	TrainJob string `json:"trainJob,omitempty"`
	Run      int    `json:"run,omitempty"`
	// Queue is the Kueue LocalQueue the job queues in, if any: its
	// Workload is read too.
	Queue string `json:"queue,omitempty"`
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
			case gvk.Group == "kubeflow.org" && gvk.Kind == KindTFJob,
				gvk.Group == "trainer.kubeflow.org" && gvk.Kind == KindTrainJob:
				if gvk.Kind == KindTFJob {
					t.TFJob = o.GetName()
				} else {
					t.TrainJob = o.GetName()
				}
				if in.Spec.Training != nil {
					t.Run = in.Spec.Training.Run
				}
				t.Queue = o.GetLabels()[spec.KueueQueueLabel]
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
	if t.TFJob == "" && t.TrainJob == "" && t.ServingName == "" {
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
		e.Training.Workload = workload(ctx, cl, t, obj)
	}
	if t.TrainJob != "" {
		obj, err := get(ctx, cl, resource(KindTrainJob), t.Namespace, t.TrainJob)
		if err != nil {
			e.Error = fmt.Sprintf("read TrainJob %s/%s: %v", t.Namespace, t.TrainJob, err)
			return e
		}
		e.Training = status.FromTrainJob(t.TrainJob, t.Run, obj)
		e.Training.Workload = workload(ctx, cl, t, obj)
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

// workload reads Kueue's Workload of a queued job (job, as read), found by
// the job's UID, which Kueue puts on it as a label; and, while it is
// pending, its position in the LocalQueue from Kueue's visibility API. A
// job outside Kueue, or one Kueue has not picked up yet, has none; a read
// that fails leaves out what it would have added, as the job's own state
// still says it is suspended.
func workload(ctx context.Context, cl dynamic.Interface, t Target, job map[string]any) *status.Workload {
	if t.Queue == "" || job == nil {
		return nil
	}
	uid, _, _ := unstructured.NestedString(job, "metadata", "uid")
	if uid == "" {
		return nil
	}
	list, err := cl.Resource(resource(reads.KindWorkload).GVR).Namespace(t.Namespace).List(ctx, metav1.ListOptions{LabelSelector: JobUIDLabel + "=" + uid})
	if err != nil || len(list.Items) == 0 {
		return nil
	}
	items := list.Items
	// The newest first: a preempted job gets a new Workload.
	sort.SliceStable(items, func(i, j int) bool {
		a, b := items[i].GetCreationTimestamp(), items[j].GetCreationTimestamp()
		return b.Before(&a)
	})
	w := status.FromWorkload(items[0].Object)
	if w.State != status.WorkloadPending {
		return w
	}
	pending := resource(reads.KindPendingWorkloads).GVR
	base, sub, _ := strings.Cut(pending.Resource, "/")
	pending.Resource = base
	summary, err := cl.Resource(pending).Namespace(t.Namespace).Get(ctx, t.Queue, metav1.GetOptions{}, sub)
	if err != nil {
		return w
	}
	ps, _, _ := unstructured.NestedSlice(summary.Object, "items")
	for _, p := range ps {
		m, _ := p.(map[string]any)
		if name, _, _ := unstructured.NestedString(m, "metadata", "name"); name == w.Name {
			if pos, ok, _ := unstructured.NestedInt64(m, "positionInLocalQueue"); ok {
				w.Position = new(int32(pos))
			}
		}
	}
	return w
}

// JobUIDLabel is the label by which Kueue ties a Workload to its job.
const JobUIDLabel = "kueue.x-k8s.io/job-uid"

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
		if t.TrainJob != "" {
			ws = append(ws, watched{envc, resource(KindTrainJob), t.Namespace, t.TrainJob})
		}
		if t.Queue != "" {
			// Any Workload of the namespace: a job's Workload is named
			// by Kueue, and a queue moves with the others' admissions.
			ws = append(ws, watched{envc, resource(reads.KindWorkload), t.Namespace, ""})
		}
		if t.ServingName != "" {
			ws = append(ws, watched{envc, resource(t.ServingKind), t.Namespace, t.ServingName})
		}
	}
	for _, w := range ws {
		go func() {
			for ctx.Err() == nil {
				if cl, err := w.cl(); err == nil {
					opts := metav1.ListOptions{}
					if w.name != "" {
						opts.FieldSelector = fields.OneTermEqualSelector("metadata.name", w.name).String()
					}
					wi, err := cl.Resource(w.r.GVR).Namespace(w.ns).Watch(ctx, opts)
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
