package spec

import "fmt"

// Reserved Knative route tags: dmls names the stable, canary and current
// routes itself.
const (
	TagStable  = "stable"
	TagCanary  = "canary"
	TagCurrent = "current"
)

// TFJobName names the TFJob of a training run. A re-training bumps the run,
// which makes a new object and lets Argo CD prune the old one; a finished
// run stays in the cluster while it is in git (see generators/argocd).
func TFJobName(app string, run int) string { return fmt.Sprintf("%s-r%d", app, run) }

// RevisionName names a Knative revision of an app.
func RevisionName(app, revision string) string { return app + "-" + revision }
