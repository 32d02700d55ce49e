package spec

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/dmls-project/dmls/internal/layout"
)

// Reserved Knative route tags: dmls names the stable, canary and current
// routes itself.
const (
	TagStable  = "stable"
	TagCanary  = "canary"
	TagCurrent = "current"
)

// MaxName is the longest name dmls derives for an object, a label value or
// a DNS label: 63 characters (DNS-1123 and DNS-1035 labels, label values).
// Every derived name below is checked against it by the loader, at the
// spec field that produced it (see internal/workspace).
const MaxName = 63

// MaxApplicationName is the longest name of an Argo CD Application: an
// object name, a DNS-1123 subdomain of at most 253 characters. The 63 of a
// label value do not apply: Argo CD 3 tracks the objects of an Application
// with the argocd.argoproj.io/tracking-id annotation by default, and only
// the label tracking that was Argo CD 2's default wrote the name into the
// app.kubernetes.io/instance label (argocd-cm
// application.resourceTrackingMethod; see generators/argocd).
const MaxApplicationName = 253

// ApplicationNameProblem says why name cannot name an Argo CD Application,
// or returns "" when it can. It is the one check of an Application name's
// length, which the loader (at the spec position) and the Argo CD
// generator (for every Application it writes) both call.
func ApplicationNameProblem(name string) string {
	if len(name) > MaxApplicationName {
		return fmt.Sprintf("its Argo CD Application %q is %d characters, more than the %d of an object name", name, len(name), MaxApplicationName)
	}
	return ""
}

// Names of the Argo CD objects and the platform component dmls makes.
const (
	// RootApplication is the Application the platform team applies once.
	RootApplication = "dmls-root"
	// PlatformProject is the AppProject of the platform's Applications.
	PlatformProject = "dmls-platform"
	// DefaultProject is Argo CD's own default AppProject.
	DefaultProject = "default"
	// APIServerName names the dmls API server component: its Application
	// and its folder platform/dmls-api in the k8s-config repo.
	APIServerName = layout.APIServerName
)

// TFJobName names the TFJob of a training run. A re-training bumps the run,
// which makes a new object and lets Argo CD prune the old one; a finished
// run stays in the cluster while it is in git (see generators/argocd).
func TFJobName(app string, run int) string { return fmt.Sprintf("%s-r%d", app, run) }

// JobName is the TFJob's name: the job's own name when it has one (kept
// by dmls import), else TFJobName.
func JobName(app string, t *TrainingJob) string {
	if t.Name != "" {
		return t.Name
	}
	return TFJobName(app, t.Run)
}

// RevisionName names a Knative revision of a service (the app's name, or
// the service's own name when it has one).
func RevisionName(service, revision string) string { return service + "-" + revision }

// RouteTagName is the DNS label Knative makes for a tagged route of an app
// (<tag>-<app>.<namespace>.<domain>); it must be a DNS label.
func RouteTagName(tag, app string) string { return tag + "-" + app }

// ClaimName is the PVC a volume mounts: its claimName, or <app>-<volume>.
func ClaimName(app, volume string, v Volume) string {
	if v.ClaimName != "" {
		return v.ClaimName
	}
	return app + "-" + volume
}

// ApplicationName names the Argo CD Application of an app in one
// environment.
func ApplicationName(app, env string) string { return app + "-" + env }

// EnvRootName names the root Application of one environment.
func EnvRootName(env string) string { return RootApplication + "-" + env }

// PlatformApplicationName names the Application of an environment's team
// namespaces and quotas.
func PlatformApplicationName(env string) string { return "platform-" + env }

// ReservedEnvs are the environment names whose folder in the k8s-config
// repo dmls already uses for something else, with that folder: argocd/<env>
// and platform/<env> are per environment.
var ReservedEnvs = map[string]string{
	"bootstrap":   layout.ArgoCDEnvDir("bootstrap"),
	"shared":      layout.ArgoCDEnvDir("shared"),
	APIServerName: layout.APIServerDir,
}

// ReservedTeams are the team names that cannot be AppProjects, with who
// has them.
var ReservedTeams = map[string]string{
	DefaultProject:  "Argo CD's default AppProject",
	PlatformProject: "the AppProject of dmls's own Applications",
}

// gitSpecial are the path elements git gives a meaning (and git fsck
// checks) that a folder may not take: a repository path prefix that uses
// one cannot be committed or checked out.
var gitSpecial = []string{".git", ".gitmodules", ".gitattributes"}

// RepoPathProblem says why git or Argo CD cannot check out files under the
// repository path prefix p, or returns "" when it can. It catches the
// element names git refuses (".git" in any case and with trailing dots,
// as Windows and macOS file systems fold them) and the special files git
// reads (".gitmodules", ".gitattributes"), which git fsck requires to be files.
func RepoPathProblem(p string) string {
	if p == "" {
		return ""
	}
	for _, elem := range strings.Split(p, "/") {
		folded := strings.TrimRight(strings.ToLower(elem), ". ")
		for _, s := range gitSpecial {
			if folded == s {
				if s == ".git" {
					return fmt.Sprintf("the folder %q is git's own (%q in any case, with or without trailing dots); git refuses to commit or check it out", elem, s)
				}
				return fmt.Sprintf("the folder %q would be read by git as its %s file; git fsck refuses it and clones fail", elem, s)
			}
		}
	}
	return ""
}

// Claim is a PVC that a training job's volume asks dmls to create.
type Claim struct {
	// Name is the PVC's name (ClaimName).
	Name string
	// From is the spec path of the volume.
	From   string
	Volume Volume
}

// CreatedClaims lists the PVCs the training job of app creates, in the
// order the generator reads them: the job's volumes, then each replica
// set's, each by volume name. The same name may appear twice; the loader
// refuses that.
func CreatedClaims(app *AppSpec) []Claim {
	t := app.Training
	if t == nil {
		return nil
	}
	var out []Claim
	add := func(from string, vols map[string]Volume) {
		for _, name := range slices.Sorted(maps.Keys(vols)) {
			if v := vols[name]; v.Create != nil {
				out = append(out, Claim{Name: ClaimName(app.Name, name, v), From: from + "." + name, Volume: v})
			}
		}
	}
	add("training.volumes", t.Volumes)
	for _, role := range Roles {
		if rs := t.Replicas.Get(role); rs != nil {
			add("training.replicas."+role+".volumes", rs.Volumes)
		}
	}
	return out
}
