package argocd

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/generators/platform"
	"github.com/dmls-project/dmls/internal/spec"
)

// noClusters answers Argo CD's question about project-scoped clusters:
// dmls declares none.
func noClusters(string) ([]*v1alpha1.Cluster, error) { return nil, nil }

// decode reads a generated object into an Argo CD type through JSON, as
// Argo CD reads it (the types have unexported fields, which the
// unstructured converter cannot fill).
func decode[T any](t *testing.T, o generators.Object) *T {
	t.Helper()
	b, err := json.Marshal(o.Object)
	if err != nil {
		t.Fatal(err)
	}
	v := new(T)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
	return v
}

func toProject(t *testing.T, o generators.Object) *v1alpha1.AppProject {
	t.Helper()
	return decode[v1alpha1.AppProject](t, o)
}

func toApplication(t *testing.T, o generators.Object) *v1alpha1.Application {
	t.Helper()
	return decode[v1alpha1.Application](t, o)
}

func fixtureProjects(t *testing.T) map[string]*v1alpha1.AppProject {
	t.Helper()
	objs, err := Projects(fixturePlatform(), fixtureEnvs(), []string{"https://git.example.com/dmls/k8s-config.git"})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*v1alpha1.AppProject{}
	for _, o := range objs {
		p := toProject(t, o)
		out[p.Name] = p
	}
	return out
}

func permitted(t *testing.T, proj *v1alpha1.AppProject, server, namespace string) bool {
	t.Helper()
	ok, err := proj.IsDestinationPermitted(&v1alpha1.Cluster{Server: server}, namespace, noClusters)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestTeamProjectsStayInTheirNamespaces asks Argo CD's own permission
// checks where each team's project may deploy: its own namespace in each
// environment, on that environment's cluster, and nowhere else.
func TestTeamProjectsStayInTheirNamespaces(t *testing.T) {
	p := fixturePlatform()
	envs := fixtureEnvs()
	projects := fixtureProjects(t)
	servers := []string{devServer, prodServer, "https://elsewhere.example.com"}
	namespaces := []string{p.ArgoCD.Namespace, "kube-system", "default", ""}
	for _, env := range envs {
		for _, ns := range env.Namespaces {
			namespaces = append(namespaces, ns)
		}
	}
	for _, team := range slices.Sorted(maps.Keys(p.Teams)) {
		proj := projects[team]
		if proj == nil {
			t.Fatalf("no AppProject for team %s", team)
		}
		if len(proj.Spec.SourceRepos) != 1 || proj.Spec.SourceRepos[0] != "https://git.example.com/dmls/k8s-config.git" {
			t.Errorf("%s: sourceRepos = %v, want exactly the repo given", team, proj.Spec.SourceRepos)
		}
		own := map[[2]string]bool{}
		for _, env := range envs {
			own[[2]string{env.Cluster.Server, env.Namespaces[team]}] = true
		}
		// Every namespace any team has, Argo CD's, and a few others, on
		// every cluster: only the team's own pairs are allowed.
		for _, server := range servers {
			for _, ns := range namespaces {
				want := own[[2]string{server, ns}]
				if got := permitted(t, proj, server, ns); got != want {
					t.Errorf("%s: destination namespace %q on %s permitted = %v, want %v", team, ns, server, got, want)
				}
			}
		}
		// Cluster-scoped: nothing, not even Namespaces.
		for _, gk := range []schema.GroupKind{{Kind: "Namespace"}, {Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}, {Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}} {
			if proj.IsGroupKindNamePermitted(gk, "", false) {
				t.Errorf("%s may sync cluster-scoped %s", team, gk)
			}
		}
		// Namespaced: what the app generators produce, not the platform's
		// quota nor RBAC.
		for _, gk := range TeamKinds() {
			if !proj.IsGroupKindNamePermitted(schema.GroupKind{Group: gk.Group, Kind: gk.Kind}, "", true) {
				t.Errorf("%s may not sync %s", team, gk)
			}
		}
		if !proj.IsGroupKindNamePermitted(schema.GroupKind{Group: "external-secrets.io", Kind: "ExternalSecret"}, "", true) {
			t.Errorf("%s may not sync ExternalSecrets (issue 8)", team)
		}
		// A plain Secret never: its values would be in git (issue 8).
		for _, gk := range []schema.GroupKind{{Kind: "Secret"}, {Kind: "ResourceQuota"}, {Kind: "LimitRange"}, {Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}, {Group: "argoproj.io", Kind: "Application"}} {
			if proj.IsGroupKindNamePermitted(gk, "", true) {
				t.Errorf("%s may sync %s", team, gk)
			}
		}
	}
}

// TestPlatformProject checks the dmls-platform project allows what its
// Applications sync and nothing a team owns.
func TestPlatformProject(t *testing.T) {
	p := fixturePlatform()
	proj := fixtureProjects(t)[PlatformProject]
	if proj == nil {
		t.Fatal("no dmls-platform AppProject")
	}
	for _, env := range fixtureEnvs() {
		objs, err := platform.GuardRails(guardRailsInput(p, env))
		if err != nil {
			t.Fatal(err)
		}
		Annotate(objs)
		for _, o := range objs {
			checkSyncable(t, proj, env.Cluster.Server, o)
		}
	}
	cm, err := ConfigMap(p)
	if err != nil {
		t.Fatal(err)
	}
	checkSyncable(t, proj, InClusterServer, cm)
	for _, gk := range []schema.GroupKind{{Kind: "Application", Group: "argoproj.io"}, {Kind: "AppProject", Group: "argoproj.io"}} {
		if !proj.IsGroupKindNamePermitted(gk, "", true) {
			t.Errorf("dmls-platform may not sync %s", gk)
		}
	}
	if !permitted(t, proj, InClusterServer, p.ArgoCD.Namespace) {
		t.Errorf("dmls-platform may not write into Argo CD's namespace")
	}
	for _, gk := range []schema.GroupKind{{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}, {Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}} {
		if proj.IsGroupKindNamePermitted(gk, "", false) {
			t.Errorf("dmls-platform may sync %s", gk)
		}
	}
	for _, gk := range append(TeamKinds(), metav1.GroupKind{Group: "apps", Kind: "Deployment"}, metav1.GroupKind{Kind: "Secret"}) {
		if gk.Kind == "ExternalSecret" {
			continue // the platform's secrets, in every team namespace
		}
		if proj.IsGroupKindNamePermitted(schema.GroupKind{Group: gk.Group, Kind: gk.Kind}, "", true) {
			t.Errorf("dmls-platform may sync %s", gk)
		}
	}
	if !proj.IsGroupKindNamePermitted(schema.GroupKind{Group: "external-secrets.io", Kind: "ExternalSecret"}, "", true) {
		t.Errorf("dmls-platform may not sync the platform's ExternalSecrets")
	}
}

// checkSyncable runs the permission check Argo CD's sync runs on each
// object (controller/sync.go): its kind, and for a namespaced object its
// namespace on the Application's cluster.
func checkSyncable(t *testing.T, proj *v1alpha1.AppProject, server string, o generators.Object) {
	t.Helper()
	namespaced := o.GetKind() != "Namespace"
	if !proj.IsGroupKindNamePermitted(o.GroupVersionKind().GroupKind(), "", namespaced) {
		t.Errorf("project %s may not sync %s", proj.Name, o.ID())
	}
	if namespaced && !permitted(t, proj, server, o.GetNamespace()) {
		t.Errorf("project %s may not sync %s into namespace %q on %s", proj.Name, o.ID(), o.GetNamespace(), server)
	}
}

// TestApplicationsArePermitted checks that every Application's project
// exists, allows its destination, and allows every object it syncs.
func TestApplicationsArePermitted(t *testing.T) {
	in := fixtureInput(t)
	p := in.Platform
	projects := fixtureProjects(t)
	src, err := SourceOf(p)
	if err != nil {
		t.Fatal(err)
	}
	apps := map[string]App{}
	for _, a := range in.Apps {
		apps[ApplicationName(a.Name, a.Env)] = a
	}
	var all []generators.Object
	for _, env := range in.Envs {
		objs, err := Applications(p, env, src, platformDir(env.Name), in.Apps)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, objs...)
		plat, err := platform.GuardRails(guardRailsInput(p, env))
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			app := toApplication(t, o)
			proj := projects[app.Spec.Project]
			if proj == nil {
				t.Errorf("%s: project %q is not generated", app.Name, app.Spec.Project)
				continue
			}
			if !permitted(t, proj, app.Spec.Destination.Server, app.Spec.Destination.Namespace) {
				t.Errorf("%s: project %s does not permit destination %+v", app.Name, proj.Name, app.Spec.Destination)
			}
			synced := plat
			if a, ok := apps[app.Name]; ok {
				synced = nil
				for _, obj := range a.Objects {
					// kustomize sets the overlay's namespace on each object.
					obj = generators.Object{Unstructured: obj.DeepCopy(), Trace: obj.Trace}
					obj.SetNamespace(app.Spec.Destination.Namespace)
					synced = append(synced, obj)
				}
			} else if app.Name != PlatformApplicationName(env.Name) {
				t.Errorf("unexpected Application %s", app.Name)
			}
			for _, obj := range synced {
				checkSyncable(t, proj, app.Spec.Destination.Server, obj)
			}
		}
	}
	roots, err := Roots(p, in.Envs, src)
	if err != nil {
		t.Fatal(err)
	}
	boot, err := Bootstrap(p, src, mustProjects(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range append(roots, boot...) {
		if o.GetKind() != "Application" {
			continue
		}
		app := toApplication(t, o)
		proj := projects[app.Spec.Project]
		if proj == nil || !permitted(t, proj, app.Spec.Destination.Server, app.Spec.Destination.Namespace) {
			t.Errorf("root %s: project %s does not permit %+v", app.Name, app.Spec.Project, app.Spec.Destination)
		}
	}
	// The roots sync Applications and AppProjects into Argo CD's namespace.
	for _, o := range append(all, mustProjects(t)...) {
		checkSyncable(t, projects[PlatformProject], InClusterServer, o)
	}
}

func mustProjects(t *testing.T) []generators.Object {
	t.Helper()
	objs, err := Projects(fixturePlatform(), fixtureEnvs(), []string{"https://git.example.com/dmls/k8s-config.git"})
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// TestProjectsRejectUnsafeInput covers the input that would let a project
// reach beyond its team, or collide with Argo CD's own names.
func TestProjectsRejectUnsafeInput(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(p *spec.Platform, envs []*spec.Environment) []string
		wantErr string
	}{
		{name: "fixture", edit: func(*spec.Platform, []*spec.Environment) []string { return nil }},
		{
			name: "same namespace on different clusters is fine",
			edit: func(p *spec.Platform, envs []*spec.Environment) []string {
				envs[1].Namespaces["ml-serving"] = "ml-research-dev"
				return nil
			},
		},
		{
			name: "two teams share a namespace on one cluster",
			edit: func(p *spec.Platform, envs []*spec.Environment) []string {
				envs[1].Cluster.Server = devServer
				envs[1].Namespaces["ml-serving"] = "ml-research-dev"
				return nil
			},
			wantErr: `namespace "ml-research-dev" on https://kubernetes.default.svc belongs to team "ml-research" in environment dev`,
		},
		{
			name: "team namespace is Argo CD's",
			edit: func(p *spec.Platform, envs []*spec.Environment) []string {
				envs[1].Namespaces["ml-serving"] = "argocd"
				return nil
			},
			wantErr: `namespaces.ml-serving: "argocd" is Argo CD's namespace`,
		},
		{
			name: "team named default",
			edit: func(p *spec.Platform, envs []*spec.Environment) []string {
				p.Teams["default"] = spec.Team{}
				return nil
			},
			wantErr: `teams.default: "default" is the name of an Argo CD project`,
		},
		{
			name: "team named dmls-platform",
			edit: func(p *spec.Platform, envs []*spec.Environment) []string {
				p.Teams[PlatformProject] = spec.Team{}
				return nil
			},
			wantErr: `teams.dmls-platform`,
		},
		{
			name: "environment named shared",
			edit: func(p *spec.Platform, envs []*spec.Environment) []string {
				envs[0].Name = "shared"
				return nil
			},
			wantErr: "environment shared (overlays/shared.cue): the name is taken by the argocd/shared folder",
		},
		{
			name: "no Argo CD namespace",
			edit: func(p *spec.Platform, envs []*spec.Environment) []string {
				p.ArgoCD.Namespace = ""
				return nil
			},
			wantErr: "argocd.namespace is not set",
		},
		{
			name:    "no repos",
			edit:    func(p *spec.Platform, envs []*spec.Environment) []string { return []string{} },
			wantErr: "no config repo URLs",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, envs := fixturePlatform(), fixtureEnvs()
			urls := []string{"https://git.example.com/dmls/k8s-config.git"}
			if u := tt.edit(p, envs); u != nil {
				urls = u
			}
			_, err := Projects(p, envs, urls)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("no error, want one containing %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

// Projects (for tests) is ProjectsWith without access: it returns the dmls-platform AppProject and then one AppProject per
// team, in team order, all in Argo CD's namespace. repoURLs are the repos
// they may read from (see RepoURLs).
func Projects(p *spec.Platform, envs []*spec.Environment, repoURLs []string, comps ...Component) ([]generators.Object, error) {
	return ProjectsWith(p, envs, repoURLs, nil, comps...)
}
