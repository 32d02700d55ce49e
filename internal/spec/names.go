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
