package argocd

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"slices"
	"sort"

	kubeflowv1 "github.com/kubeflow/training-operator/pkg/apis/kubeflow.org/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/generators/externalsecret"
	"github.com/dmls-project/dmls/generators/inferenceservice"
	"github.com/dmls-project/dmls/generators/kustomize"
	"github.com/dmls-project/dmls/generators/trainjob"
	"github.com/dmls-project/dmls/internal/apis/argocdv1alpha1"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/memo"
	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/internal/repourl"
	"github.com/dmls-project/dmls/internal/spec"
)

// Names of the objects and folders dmls gives Argo CD.
const (
	// PlatformProject is the AppProject of the platform team's
	// Applications: platform-<env> and the roots.
	PlatformProject = spec.PlatformProject
	// RootName is the Application the platform team applies once; it
	// syncs argocd/shared.
	RootName = spec.RootApplication
	// InClusterServer is the API server of the cluster Argo CD runs in,
	// where its Applications and AppProjects live.
	InClusterServer = "https://kubernetes.default.svc"

	// BootstrapDir is what the platform team applies by hand, once.
	BootstrapDir = layout.ArgoCDDir + "/bootstrap"
	// SharedDir holds the objects the Argo CD instance has once.
	SharedDir = layout.ArgoCDDir + "/shared"
)

// EnvRootName names the root Application of one environment.
func EnvRootName(env string) string { return spec.EnvRootName(env) }

// ApplicationName names the Application of an app in one environment.
func ApplicationName(app, env string) string { return spec.ApplicationName(app, env) }

// PlatformApplicationName names the Application of an environment's team
// namespaces and quotas.
func PlatformApplicationName(env string) string { return spec.PlatformApplicationName(env) }

// Sync waves of the objects dmls generates (argocd.argoproj.io/sync-wave).
const (
	// WaveFirst goes before everything else: AppProjects, argocd-cm,
	// platform-<env>, and Namespaces and ResourceQuotas within it.
	WaveFirst = "-1"
	// WaveWorkloads is everything else, claims included.
	WaveWorkloads = "0"
)

// Retry policy of every Application.
const (
	retryLimit       = 5
	retryBackoff     = "5s"
	retryFactor      = 2
	retryMaxDuration = "3m"
)

// Source is where Argo CD reads the k8s-config tree.
type Source struct {
	RepoURL string
	// Branch is the Applications' targetRevision.
	Branch string
	// Path is the prefix under which dmls owns files; "" is the repo root.
	Path string
}

// SourceOf returns the k8s-config repo of p.
func SourceOf(p *spec.Platform) (Source, error) {
	r, ok := p.Repos[layout.RepoK8sConfig]
	if !ok || r.URL == "" {
		return Source{}, fmt.Errorf("platform repos.%q.url is not set: Argo CD reads every Application from the k8s-config repo", layout.RepoK8sConfig)
	}
	return Source{RepoURL: repourl.Public(r.URL), Branch: r.Branch, Path: r.Path}, nil
}

// at returns the Application source of the folder rel of the tree.
func (s Source) at(rel string) *argocdv1alpha1.ApplicationSource {
	return &argocdv1alpha1.ApplicationSource{RepoURL: s.RepoURL, TargetRevision: s.Branch, Path: path.Join(s.Path, rel)}
}

// App is one app in one environment.
type App struct {
	Name string
	Team string
	Env  string
	// Objects are the app's objects in Env, as generated (before
	// kustomize). Their Knative Services decide the Application's
	// ignoreDifferences.
	Objects []generators.Object
	// Ignore, when not nil, is IgnoreDifferences(Objects) computed
	// already, for callers that cache it with the objects.
	Ignore []argocdv1alpha1.ResourceIgnoreDifferences
	// Key, when set, identifies Objects and Ignore (the app's digest):
	// with Input.Memo, Tree reuses the Application laid out before for
	// the same Key. Leave it empty for objects that no digest covers.
	Key string
}

// TeamKinds are the namespaced kinds a team's Applications may sync: what
// the app generators produce. A generator that starts producing another
// kind must add it here, or Argo CD refuses to sync it.
func TeamKinds() []metav1.GroupKind {
	return []metav1.GroupKind{
		{Group: "", Kind: "PersistentVolumeClaim"},
		{Group: kubeflowv1.SchemeGroupVersion.Group, Kind: kubeflowv1.TFJobKind},
		{Group: trainjob.GVK.Group, Kind: trainjob.GVK.Kind},
		{Group: servingv1.SchemeGroupVersion.Group, Kind: "Service"},
		{Group: inferenceservice.GroupVersion.Group, Kind: inferenceservice.Kind},
		{Group: externalsecret.GVK.Group, Kind: externalsecret.GVK.Kind},
	}
}

// platformClusterKinds and platformKinds are what the dmls-platform
// project may sync: team namespaces and their guard rails (quotas, limits,
// network policies, service accounts, the team's Role and RoleBinding),
// the platform's ExternalSecrets, and Argo CD's own objects in its
// namespace.
var (
	platformClusterKinds = []argocdv1alpha1.ClusterResourceRestrictionItem{{Group: "", Kind: "Namespace"},
		{Group: kueueGroup, Kind: "ResourceFlavor"}, {Group: kueueGroup, Kind: "ClusterQueue"}, {Group: kueueGroup, Kind: "WorkloadPriorityClass"}}
	platformKinds = []metav1.GroupKind{
		{Group: "", Kind: "ConfigMap"},
		{Group: "", Kind: "ResourceQuota"},
		{Group: externalsecret.GVK.Group, Kind: externalsecret.GVK.Kind},
		{Group: "", Kind: "LimitRange"},
		{Group: "", Kind: "ServiceAccount"},
		{Group: "networking.k8s.io", Kind: "NetworkPolicy"},
		{Group: "rbac.authorization.k8s.io", Kind: "Role"},
		{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"},
		{Group: kueueGroup, Kind: "LocalQueue"},
		{Group: argocdv1alpha1.ApplicationSchemaGroupVersionKind.Group, Kind: argocdv1alpha1.ApplicationSchemaGroupVersionKind.Kind},
		{Group: argocdv1alpha1.AppProjectSchemaGroupVersionKind.Group, Kind: argocdv1alpha1.AppProjectSchemaGroupVersionKind.Kind},
	}
)

// componentKinds are platformKinds plus what platform components (the
// API server) are made of.
var componentKinds = append(slices.Clone(platformKinds),
	metav1.GroupKind{Group: "", Kind: "Service"},
	metav1.GroupKind{Group: "apps", Kind: "Deployment"},
	metav1.GroupKind{Group: "policy", Kind: "PodDisruptionBudget"},
	// The read-only Roles of the live status, and their bindings.
	metav1.GroupKind{Group: "rbac.authorization.k8s.io", Kind: "Role"},
	metav1.GroupKind{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"},
)

// components returns the Applications of platform components, synced by
// the dmls-root like the per-environment roots.
func components(p *spec.Platform, src Source, comps []Component) ([]generators.Object, error) {
	var out []generators.Object
	for _, c := range comps {
		if err := checkAppName(c.Name); err != nil {
			return nil, err
		}
		policy := syncPolicy()
		policy.SyncOptions = append(policy.SyncOptions, "CreateNamespace=true")
		app := &argocdv1alpha1.Application{
			ObjectMeta: metav1.ObjectMeta{Name: c.Name, Namespace: p.ArgoCD.Namespace, Labels: platformLabels(p, ""),
				Annotations: map[string]string{argocdv1alpha1.AnnotationSyncWave: WaveWorkloads}},
			Spec: argocdv1alpha1.ApplicationSpec{
				Project:     PlatformProject,
				Source:      src.at(c.Dir),
				Destination: argocdv1alpha1.ApplicationDestination{Server: InClusterServer, Namespace: c.Namespace},
				SyncPolicy:  policy,
			},
		}
		obj, err := generators.New(app, argocdv1alpha1.ApplicationSchemaGroupVersionKind, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, obj)
	}
	return out, nil
}

// ProjectsWith returns the dmls-platform AppProject and then one
// AppProject per team, in team order, all in Argo CD's namespace. repoURLs
// are the repos they may read from (see RepoURLs). The dmls-platform
// project is widened by access, for the platform components (see
// PlatformAccess); access may be nil. The team projects never get it.
func ProjectsWith(p *spec.Platform, envs []*spec.Environment, repoURLs []string, access *PlatformAccess, comps ...Component) ([]generators.Object, error) {
	if err := checkPlatform(p, envs); err != nil {
		return nil, err
	}
	public := make([]string, len(repoURLs))
	for i, u := range repoURLs {
		public[i] = repourl.Public(u)
	}
	urls := sortedUnique(public)
	if len(urls) == 0 {
		return nil, fmt.Errorf("no config repo URLs: an AppProject needs at least one source repo")
	}
	type dest struct{ server, namespace string }
	type use struct{ team, env string }
	owner := map[dest]use{}
	for _, env := range envs {
		for _, team := range slices.Sorted(maps.Keys(env.Namespaces)) {
			d := dest{env.Cluster.Server, env.Namespaces[team]}
			if o, ok := owner[d]; ok && o.team != team {
				return nil, fmt.Errorf("namespace %q on %s belongs to team %q in environment %s (overlays/%s.cue) and to team %q in environment %s (overlays/%s.cue): each team needs namespaces of its own, or one team's project would reach into the other's",
					d.namespace, d.server, o.team, o.env, o.env, team, env.Name, env.Name)
			}
			owner[d] = use{team, env.Name}
		}
	}

	plat, err := platformProject(p, envs, urls, comps, access)
	if err != nil {
		return nil, err
	}
	out := []generators.Object{plat}
	for _, team := range slices.Sorted(maps.Keys(p.Teams)) {
		var dests []argocdv1alpha1.ApplicationDestination
		for _, env := range envs {
			if ns, ok := env.Namespaces[team]; ok {
				dests = append(dests, argocdv1alpha1.ApplicationDestination{Server: env.Cluster.Server, Namespace: ns})
			}
		}
		desc := p.Teams[team].Description
		if desc == "" {
			desc = "Apps of team " + team
		}
		proj := &argocdv1alpha1.AppProject{
			ObjectMeta: metav1.ObjectMeta{
				Name: team, Namespace: p.ArgoCD.Namespace,
				Labels:      teamLabels(p, team),
				Annotations: map[string]string{argocdv1alpha1.AnnotationSyncWave: WaveFirst},
			},
			Spec: argocdv1alpha1.AppProjectSpec{
				Description:                desc + " (generated by dmls)",
				SourceRepos:                urls,
				Destinations:               uniqueDests(dests),
				NamespaceResourceWhitelist: TeamKinds(),
			},
		}
		tr := &provenance.Trace{}
		tr.Record("metadata.name", "teams."+team)
		tr.Record("spec.description", "teams."+team+".description")
		obj, err := generators.New(proj, argocdv1alpha1.AppProjectSchemaGroupVersionKind, tr)
		if err != nil {
			return nil, err
		}
		out = append(out, obj)
	}
	return out, nil
}

// platformProject may create team namespaces and quotas in every
// environment and manage Argo CD's own objects in its namespace.
func platformProject(p *spec.Platform, envs []*spec.Environment, urls []string, comps []Component, access *PlatformAccess) (generators.Object, error) {
	var dests []argocdv1alpha1.ApplicationDestination
	for _, env := range envs {
		// platform-<env> has no namespace of its own: its Namespaces
		// are cluster-scoped and its quotas name their namespaces.
		dests = append(dests, argocdv1alpha1.ApplicationDestination{Server: env.Cluster.Server})
		for _, team := range slices.Sorted(maps.Keys(env.Namespaces)) {
			dests = append(dests, argocdv1alpha1.ApplicationDestination{Server: env.Cluster.Server, Namespace: env.Namespaces[team]})
		}
	}
	dests = append(dests, argocdv1alpha1.ApplicationDestination{Server: InClusterServer, Namespace: p.ArgoCD.Namespace})
	kinds := platformKinds
	for _, c := range comps {
		dests = append(dests, argocdv1alpha1.ApplicationDestination{Server: InClusterServer, Namespace: c.Namespace})
		kinds = componentKinds
	}
	proj := &argocdv1alpha1.AppProject{
		ObjectMeta: metav1.ObjectMeta{
			Name: PlatformProject, Namespace: p.ArgoCD.Namespace,
			Labels:      platformLabels(p, ""),
			Annotations: map[string]string{argocdv1alpha1.AnnotationSyncWave: WaveFirst},
		},
		Spec: argocdv1alpha1.AppProjectSpec{
			Description:                "Team namespaces and quotas, and Argo CD's own Applications, AppProjects and settings (generated by dmls)",
			SourceRepos:                urls,
			Destinations:               uniqueDests(dests),
			ClusterResourceWhitelist:   clusterKinds(p),
			NamespaceResourceWhitelist: kinds,
		},
	}
	if access != nil {
		widen(&proj.Spec, access)
	}
	return generators.New(proj, argocdv1alpha1.AppProjectSchemaGroupVersionKind, nil)
}

// Applications returns the Applications of one environment:
// platform-<env>, which syncs platformDir (the environment's team
// namespaces and quotas, relative to the path prefix), then <app>-<env> for
// each of apps deployed to env, in app order. Apps of other environments
// are skipped.
func Applications(p *spec.Platform, env *spec.Environment, src Source, platformDir string, apps []App) ([]generators.Object, error) {
	if err := checkPlatform(p, []*spec.Environment{env}); err != nil {
		return nil, err
	}
	if src.RepoURL == "" {
		return nil, fmt.Errorf("environment %s: no k8s-config repo URL to read Applications from", env.Name)
	}
	obj, err := platformApplication(p, env, src, platformDir)
	if err != nil {
		return nil, err
	}
	out := []generators.Object{obj}
	err = eachApplication(p, env, src, apps, func(a App, name string, make func() (generators.Object, error)) error {
		obj, err := make()
		if err != nil {
			return err
		}
		out = append(out, obj)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// eachApplication checks the apps of env (teams, namespaces, Application
// names) and calls emit for each of them, in app order, with the
// Application's name and a function that makes it: a caller that has the
// Application from before need not make it again.
func eachApplication(p *spec.Platform, env *spec.Environment, src Source, apps []App, emit func(a App, name string, make func() (generators.Object, error)) error) error {
	names := map[string]string{PlatformApplicationName(env.Name): "the platform Application of environment " + env.Name}
	var mine []App
	for _, a := range apps {
		if a.Env == env.Name {
			mine = append(mine, a)
		}
	}
	sort.SliceStable(mine, func(i, j int) bool { return mine[i].Name < mine[j].Name })
	for _, a := range mine {
		if _, ok := p.Teams[a.Team]; !ok {
			return fmt.Errorf("app %s: unknown team %q; the platform's teams are %v", a.Name, a.Team, slices.Sorted(maps.Keys(p.Teams)))
		}
		ns, ok := env.Namespaces[a.Team]
		if !ok {
			return fmt.Errorf("app %s: team %q has no namespace in environment %s; add it to namespaces in overlays/%s.cue", a.Name, a.Team, env.Name, env.Name)
		}
		name := ApplicationName(a.Name, env.Name)
		if err := checkAppName(name); err != nil {
			return fmt.Errorf("app %s in environment %s: %w", a.Name, env.Name, err)
		}
		if other, dup := names[name]; dup {
			return fmt.Errorf("app %s in environment %s: its Application %q has the same name as %s; rename the app", a.Name, env.Name, name, other)
		}
		names[name] = "app " + a.Name
		if err := emit(a, name, func() (generators.Object, error) { return application(p, env, src, a, name, ns) }); err != nil {
			return err
		}
	}
	return nil
}

// platformApplication makes platform-<env>, which syncs platformDir.
func platformApplication(p *spec.Platform, env *spec.Environment, src Source, platformDir string) (generators.Object, error) {
	if platformDir == "" {
		return generators.Object{}, fmt.Errorf("environment %s: no platform folder for platform-%s", env.Name, env.Name)
	}
	plat := &argocdv1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{
			Name: PlatformApplicationName(env.Name), Namespace: p.ArgoCD.Namespace,
			Labels:      platformLabels(p, env.Name),
			Annotations: map[string]string{argocdv1alpha1.AnnotationSyncWave: WaveFirst},
		},
		Spec: argocdv1alpha1.ApplicationSpec{
			Project:     PlatformProject,
			Source:      src.at(platformDir),
			Destination: argocdv1alpha1.ApplicationDestination{Server: env.Cluster.Server},
			SyncPolicy:  syncPolicy(),
		},
	}
	tr := &provenance.Trace{}
	tr.Record("spec.destination.server", "cluster.server")
	return generators.New(plat, argocdv1alpha1.ApplicationSchemaGroupVersionKind, tr)
}

// application makes the Application of app a in env.
func application(p *spec.Platform, env *spec.Environment, src Source, a App, name, ns string) (generators.Object, error) {
	ignore := a.Ignore
	if ignore == nil {
		var err error
		if ignore, err = IgnoreDifferences(a.Objects); err != nil {
			return generators.Object{}, fmt.Errorf("app %s in environment %s: %w", a.Name, env.Name, err)
		}
	}
	app := &argocdv1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: p.ArgoCD.Namespace,
			Labels:      appLabels(p, a, env.Name),
			Annotations: map[string]string{argocdv1alpha1.AnnotationSyncWave: WaveWorkloads},
			// Removing the app from dmls deletes its objects, in the
			// background (see the package doc, Sync).
			Finalizers: []string{argocdv1alpha1.BackgroundPropagationPolicyFinalizer},
		},
		Spec: argocdv1alpha1.ApplicationSpec{
			Project:           a.Team,
			Source:            src.at(layout.OverlayDir(a.Name, env.Name)),
			Destination:       argocdv1alpha1.ApplicationDestination{Server: env.Cluster.Server, Namespace: ns},
			SyncPolicy:        syncPolicy(),
			IgnoreDifferences: ignore,
		},
	}
	if respectIgnore(ignore) {
		app.Spec.SyncPolicy.SyncOptions = append(app.Spec.SyncPolicy.SyncOptions, SyncOptionRespectIgnoreDifferences)
	}
	tr := &provenance.Trace{}
	tr.Record("spec.project", "team")
	tr.Record("spec.destination.namespace", "namespaces."+a.Team)
	tr.Record("spec.destination.server", "cluster.server")
	return generators.New(app, argocdv1alpha1.ApplicationSchemaGroupVersionKind, tr)
}

// Roots returns the root Application of each environment, dmls-root-<env>,
// which syncs argocd/<env>. They live in argocd/shared, synced by the
// bootstrap root (see Bootstrap), so that a new environment arrives by git.
func Roots(p *spec.Platform, envs []*spec.Environment, src Source) ([]generators.Object, error) {
	if err := checkPlatform(p, envs); err != nil {
		return nil, err
	}
	var out []generators.Object
	for _, env := range envs {
		obj, err := root(p, src, EnvRootName(env.Name), layout.ArgoCDEnvDir(env.Name), WaveWorkloads, platformLabels(p, env.Name))
		if err != nil {
			return nil, err
		}
		out = append(out, obj)
	}
	return out, nil
}

// Bootstrap returns what the platform team applies once, by hand: the
// dmls-platform AppProject (the root needs its project before it can
// sync) and the dmls-root Application, which syncs argocd/shared. projects
// are the output of Projects.
func Bootstrap(p *spec.Platform, src Source, projects []generators.Object) ([]generators.Object, error) {
	if err := checkPlatform(p, nil); err != nil {
		return nil, err
	}
	var out []generators.Object
	for _, o := range projects {
		if o.GetName() == PlatformProject {
			out = append(out, o)
		}
	}
	if len(out) != 1 {
		return nil, fmt.Errorf("bootstrap: projects hold %d AppProjects named %s, want 1", len(out), PlatformProject)
	}
	obj, err := root(p, src, RootName, SharedDir, "", platformLabels(p, ""))
	if err != nil {
		return nil, err
	}
	return append(out, obj), nil
}

// root is an app-of-apps Application in the dmls-platform project that
// syncs dir into Argo CD's own namespace.
func root(p *spec.Platform, src Source, name, dir, wave string, labels map[string]string) (generators.Object, error) {
	if src.RepoURL == "" {
		return generators.Object{}, fmt.Errorf("%s: no k8s-config repo URL to read from", name)
	}
	if err := checkAppName(name); err != nil {
		return generators.Object{}, err
	}
	var ann map[string]string
	if wave != "" {
		ann = map[string]string{argocdv1alpha1.AnnotationSyncWave: wave}
	}
	app := &argocdv1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: p.ArgoCD.Namespace, Labels: labels, Annotations: ann},
		Spec: argocdv1alpha1.ApplicationSpec{
			Project:     PlatformProject,
			Source:      src.at(dir),
			Destination: argocdv1alpha1.ApplicationDestination{Server: InClusterServer, Namespace: p.ArgoCD.Namespace},
			SyncPolicy:  syncPolicy(),
		},
	}
	return generators.New(app, argocdv1alpha1.ApplicationSchemaGroupVersionKind, nil)
}

// SyncOptionPruneInBackground prunes with background propagation: the
// pruned object goes at once and the garbage collector removes what it
// owns afterwards. Foreground propagation would keep a pruned Application
// or TFJob until the collector has finished, and a cluster whose
// controller manager is slow or down would then never finish a prune.
const SyncOptionPruneInBackground = "PrunePropagationPolicy=background"

// syncPolicy is automated with prune and selfHeal, its options beside
// automated (not under it), and retries.
func syncPolicy() *argocdv1alpha1.SyncPolicy {
	factor := int64(retryFactor)
	return &argocdv1alpha1.SyncPolicy{
		Automated: &argocdv1alpha1.SyncPolicyAutomated{Prune: new(true), SelfHeal: new(true)},
		SyncOptions: argocdv1alpha1.SyncOptions{
			argocdv1alpha1.SyncOptionServerSideApply,
			argocdv1alpha1.SyncOptionApplyOutOfSyncOnly,
			SyncOptionPruneInBackground,
		},
		Retry: &argocdv1alpha1.RetryStrategy{
			Limit:   retryLimit,
			Backoff: &argocdv1alpha1.Backoff{Duration: retryBackoff, Factor: &factor, MaxDuration: retryMaxDuration},
		},
	}
}

// Input is what Tree lays out.
type Input struct {
	Platform *spec.Platform
	// Envs are the environments, in promotion order.
	Envs []*spec.Environment
	// Apps are every app in every environment it runs in.
	Apps []App
	// PlatformDir is where an environment's team namespaces and quotas
	// live, relative to the k8s-config path prefix (build.PlatformDir).
	PlatformDir func(env string) string
	// Components are platform components, such as the dmls API server,
	// each synced by an Application of its own in argocd/shared.
	Components []Component
	// Kubeflow, when set, is the root of the platform components'
	// Applications in the kubeflow-config repo (see KubeflowRoot).
	Kubeflow *KubeflowRoot
	// Memo, when set, keeps the Applications of apps laid out before, by
	// App.Key, so that Tree lays out only those of apps that changed.
	Memo *Memo
	// Sources, when set, gets the object of every file Tree writes from
	// one object here (not those it took from Memo).
	Sources generators.Sources
}

// Memo keeps laid-out Applications across calls of Tree, for a
// long-running process (dmls serve) that lays out the Argo CD tree of a
// large workspace after every change. An Application is reused when its
// app's Key, name and team and everything else it is made of (the
// platform, the environment and the source, compared in full) are the
// same. Safe for concurrent use.
type Memo struct{ c *memo.Cache[laidOut] }

// NewMemo returns a memo of at most max Applications.
func NewMemo(max int) *Memo { return &Memo{c: memo.New[laidOut](max)} }

type laidOut struct {
	file string
	data []byte
}

// base identifies everything but the app that an app's Application in env
// is made of, or "" when m is nil or that cannot be told.
func (m *Memo) base(p *spec.Platform, env *spec.Environment, src Source, platformDir string) string {
	if m == nil {
		return ""
	}
	b, err := json.Marshal(struct {
		P   *spec.Platform
		E   *spec.Environment
		S   Source
		Dir string
	}{p, env, src, platformDir})
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (m *Memo) get(key string) (laidOut, bool) {
	if m == nil || key == "" {
		return laidOut{}, false
	}
	return m.c.Get(key)
}

func (m *Memo) put(key string, l laidOut) {
	if m != nil && key != "" {
		m.c.Put(key, l)
	}
}

// Component is a platform component: a folder of the k8s-config repo that
// the dmls-platform project syncs into one namespace of the in-cluster
// server.
type Component struct {
	// Name names the Application.
	Name string
	// Dir is the folder, relative to the path prefix.
	Dir string
	// Namespace is where the component runs; the Application creates it.
	Namespace string
}

// Tree returns the Argo CD objects laid out as kustomizations, relative to
// the k8s-config repo's path prefix: argocd/bootstrap, argocd/shared and
// argocd/<env> (see the package doc). The AppProjects may read from the
// k8s-config repo only: every Application dmls generates reads from it.
func Tree(in Input) (generators.Tree, error) {
	p := in.Platform
	if p == nil {
		return nil, fmt.Errorf("no platform")
	}
	if in.PlatformDir == nil {
		return nil, fmt.Errorf("no platform folder: set Input.PlatformDir")
	}
	src, err := SourceOf(p)
	if err != nil {
		return nil, err
	}
	projects, err := ProjectsWith(p, in.Envs, []string{src.RepoURL}, in.Kubeflow.access(), in.Components...)
	if err != nil {
		return nil, err
	}
	roots, err := Roots(p, in.Envs, src)
	if err != nil {
		return nil, err
	}
	comps, err := components(p, src, in.Components)
	if err != nil {
		return nil, err
	}
	roots = append(roots, comps...)
	if in.Kubeflow != nil {
		kr, err := kubeflowRoot(p, in.Kubeflow)
		if err != nil {
			return nil, err
		}
		roots = append(roots, kr)
	}
	cm, err := ConfigMap(p)
	if err != nil {
		return nil, err
	}
	boot, err := Bootstrap(p, src, projects)
	if err != nil {
		return nil, err
	}

	tree := generators.Tree{}
	add := func(dir string, objs []generators.Object) error {
		t, err := kustomize.Plain(objs)
		if err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
		tree.Add(dir, t)
		in.Sources.Add(dir, kustomize.PlainSources(objs))
		return nil
	}
	if err := add(BootstrapDir, boot); err != nil {
		return nil, err
	}
	shared := append(append(slices.Clone(projects), cm), roots...)
	if err := add(SharedDir, shared); err != nil {
		return nil, err
	}
	// All Applications share Argo CD's namespace, so their names must
	// differ across folders too: app "dmls-root" in dev would be
	// dmls-root-dev.
	names := map[string]string{}
	unique := func(dir string, objs []generators.Object) error {
		for _, o := range objs {
			if o.GetKind() != argocdv1alpha1.ApplicationSchemaGroupVersionKind.Kind {
				continue
			}
			if other, dup := names[o.GetName()]; dup && other != dir {
				//lint:ignore ST1005 it names the kind, Application
				return fmt.Errorf("Application %s is generated in both %s and %s; rename the app or environment", o.GetName(), other, dir)
			}
			names[o.GetName()] = dir
		}
		return nil
	}
	if err := unique(BootstrapDir, boot); err != nil {
		return nil, err
	}
	if err := unique(SharedDir, roots); err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, env := range in.Envs {
		known[env.Name] = true
		dir := layout.ArgoCDEnvDir(env.Name)
		if err := checkPlatform(p, []*spec.Environment{env}); err != nil {
			return nil, err
		}
		plat, err := platformApplication(p, env, src, in.PlatformDir(env.Name))
		if err != nil {
			return nil, err
		}
		if err := unique(dir, []generators.Object{plat}); err != nil {
			return nil, err
		}
		envTree, err := kustomize.Plain([]generators.Object{plat})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
		in.Sources.Add(dir, kustomize.PlainSources([]generators.Object{plat}))
		var files []string
		for f := range envTree {
			if f != layout.KustomizationFile {
				files = append(files, f)
			}
		}
		base := in.Memo.base(p, env, src, in.PlatformDir(env.Name))
		err = eachApplication(p, env, src, in.Apps, func(a App, name string, make func() (generators.Object, error)) error {
			if other, dup := names[name]; dup && other != dir {
				//lint:ignore ST1005 it names the kind, Application
				return fmt.Errorf("Application %s is generated in both %s and %s; rename the app or environment", name, other, dir)
			}
			names[name] = dir
			key := ""
			if base != "" && a.Key != "" {
				key = base + "\x00" + a.Name + "\x00" + a.Team + "\x00" + a.Key
			}
			l, ok := in.Memo.get(key)
			if !ok {
				obj, err := make()
				if err != nil {
					return err
				}
				t, err := kustomize.Plain([]generators.Object{obj})
				if err != nil {
					return fmt.Errorf("%s: %w", dir, err)
				}
				for f, b := range t {
					if f != layout.KustomizationFile {
						l = laidOut{file: f, data: b}
					}
				}
				in.Memo.put(key, l)
				if in.Sources != nil {
					in.Sources[dir+"/"+l.file] = obj
				}
			}
			envTree[l.file] = l.data
			files = append(files, l.file)
			return nil
		})
		if err != nil {
			return nil, err
		}
		k, err := kustomize.PlainKustomization(files)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
		envTree[layout.KustomizationFile] = k
		tree.Add(dir, envTree)
	}
	for _, a := range in.Apps {
		if !known[a.Env] {
			return nil, fmt.Errorf("app %s: unknown environment %q", a.Name, a.Env)
		}
	}
	return tree, nil
}

// checkPlatform checks what every object here relies on. The loader
// (internal/workspace) refuses all of it first, at the spec position, with
// the same rules from internal/spec; these checks only guard callers that
// build a platform by hand.
func checkPlatform(p *spec.Platform, envs []*spec.Environment) error {
	if p == nil {
		return fmt.Errorf("no platform")
	}
	if p.ArgoCD.Namespace == "" {
		return fmt.Errorf("platform argocd.namespace is not set: Applications and AppProjects live in Argo CD's namespace")
	}
	for _, team := range slices.Sorted(maps.Keys(p.Teams)) {
		if _, ok := spec.ReservedTeams[team]; ok {
			return fmt.Errorf("platform teams.%s: %q is the name of an Argo CD project dmls or Argo CD needs; name the team differently", team, team)
		}
	}
	seen := map[string]bool{}
	for _, env := range envs {
		if env == nil {
			return fmt.Errorf("nil environment")
		}
		if _, ok := spec.ReservedEnvs[env.Name]; ok {
			return fmt.Errorf("environment %s (overlays/%s.cue): the name is taken by the %s folder; name the environment differently", env.Name, env.Name, path.Join(layout.ArgoCDDir, env.Name))
		}
		if seen[env.Name] {
			return fmt.Errorf("environment %s is listed twice", env.Name)
		}
		seen[env.Name] = true
		if env.Cluster.Server == "" {
			return fmt.Errorf("environment %s (overlays/%s.cue): cluster.server is not set", env.Name, env.Name)
		}
		for _, team := range slices.Sorted(maps.Keys(env.Namespaces)) {
			if env.Namespaces[team] == p.ArgoCD.Namespace {
				return fmt.Errorf("environment %s (overlays/%s.cue) namespaces.%s: %q is Argo CD's namespace; give the team a namespace of its own", env.Name, env.Name, team, p.ArgoCD.Namespace)
			}
		}
		if err := checkAppName(PlatformApplicationName(env.Name)); err != nil {
			return fmt.Errorf("environment %s: %w", env.Name, err)
		}
		if err := checkAppName(EnvRootName(env.Name)); err != nil {
			return fmt.Errorf("environment %s: %w", env.Name, err)
		}
	}
	return nil
}

// checkAppName refuses an Application name that Argo CD cannot take
// (spec.ApplicationNameProblem).
func checkAppName(name string) error {
	if why := spec.ApplicationNameProblem(name); why != "" {
		return fmt.Errorf("%s; shorten the app or environment name", why)
	}
	return nil
}

func teamLabels(p *spec.Platform, team string) map[string]string {
	l := platformLabels(p, "")
	l[generators.LabelTeam] = team
	return l
}

func platformLabels(p *spec.Platform, env string) map[string]string {
	l := map[string]string{generators.LabelManagedBy: generators.ManagedBy}
	if p.Name != "" {
		l[generators.LabelPartOf] = p.Name
	}
	if env != "" {
		l[generators.LabelEnv] = env
	}
	return l
}

func appLabels(p *spec.Platform, a App, env string) map[string]string {
	l := teamLabels(p, a.Team)
	l[generators.LabelApp] = a.Name
	l[generators.LabelName] = a.Name
	l[generators.LabelEnv] = env
	return l
}

func sortedUnique(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return slices.Compact(out)
}

func uniqueDests(ds []argocdv1alpha1.ApplicationDestination) []argocdv1alpha1.ApplicationDestination {
	seen := map[[2]string]bool{}
	var out []argocdv1alpha1.ApplicationDestination
	for _, d := range ds {
		k := [2]string{d.Server, d.Namespace}
		if !seen[k] {
			seen[k] = true
			out = append(out, d)
		}
	}
	return out
}

// clusterKinds are the cluster-scoped kinds the dmls-platform project may
// sync: platformClusterKinds, and the ClusterRoleBinding that lets dmls
// serve review service-account tokens where api.auth names accounts.
func clusterKinds(p *spec.Platform) []argocdv1alpha1.ClusterResourceRestrictionItem {
	if p.API == nil || p.Auth == nil || len(p.Auth.ServiceAccounts) == 0 {
		return platformClusterKinds
	}
	return append(slices.Clone(platformClusterKinds), argocdv1alpha1.ClusterResourceRestrictionItem{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"})
}
