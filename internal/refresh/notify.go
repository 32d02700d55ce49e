package refresh

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"k8s.io/client-go/dynamic"

	"github.com/dmls-project/dmls/internal/publish"
	"github.com/dmls-project/dmls/internal/spec"
)

// Notifier tells Argo CD about pushes, as the platform's argocd.refresh
// says.
type Notifier struct {
	// Config is argocd.refresh of platform.cue; nil does nothing.
	Config *spec.Refresh
	// Namespace is Argo CD's namespace.
	Namespace string
	// Applications are those dmls generates (Applications of the build's
	// argocd tree).
	Applications []Application
	// Cluster reaches Argo CD's cluster, for the annotation; nil makes the
	// annotation a warning.
	Cluster dynamic.Interface
	// Getenv reads the webhook secret; nil means no secret.
	Getenv func(string) string
	// HTTP posts the webhook; nil means a client with a 10 s timeout.
	HTTP *http.Client
}

// Notify tells Argo CD about pushes (those that changed nothing are
// skipped). It returns the Applications it annotated and one warning per
// failure; it never fails otherwise, since Argo CD's poll catches up.
func (n *Notifier) Notify(ctx context.Context, pushes []Push) (refreshed []string, warnings []string) {
	if n == nil || n.Config == nil {
		return nil, nil
	}
	var changed []Push
	for _, p := range pushes {
		if len(p.paths()) > 0 {
			changed = append(changed, p)
		}
	}
	if len(changed) == 0 {
		return nil, nil
	}
	if w := n.Config.Webhook; w != nil {
		secret := ""
		if n.Getenv != nil {
			secret = n.Getenv(w.SecretEnv)
		}
		for _, p := range changed {
			if secret == "" {
				warnings = append(warnings, fmt.Sprintf("Argo CD not notified: $%s holds no webhook secret", w.SecretEnv))
				break
			}
			if err := Webhook(ctx, n.HTTP, w.URL, secret, p); err != nil {
				warnings = append(warnings, "Argo CD not notified: "+err.Error())
			}
		}
	}
	if n.Config.Annotation {
		var apps []string
		for _, p := range changed {
			apps = append(apps, Affected(n.Applications, p)...)
		}
		slices.Sort(apps)
		apps = slices.Compact(apps)
		switch {
		case len(apps) == 0:
		case n.Cluster == nil:
			warnings = append(warnings, "Argo CD not refreshed: no access to its cluster (give a kubeconfig)")
		default:
			if err := Annotate(ctx, n.Cluster, n.Namespace, apps); err != nil {
				warnings = append(warnings, "Argo CD not refreshed: "+err.Error())
			} else {
				refreshed = apps
			}
		}
	}
	return refreshed, warnings
}

// Pushes are the pushes of publish results that changed something, with
// the repo URLs and branches of the platform (its URL overrides applied,
// as the Applications name them).
func Pushes(p *spec.Platform, results []publish.Result) []Push {
	var out []Push
	for _, r := range results {
		repo, ok := p.Repos[r.Name]
		if !ok || !r.Changed {
			continue
		}
		out = append(out, Push{URL: repo.URL, Branch: repo.Branch, After: r.Commit, Added: r.Added, Modified: r.Modified, Deleted: r.Deleted})
	}
	return out
}
