package spec

import "fmt"

// Reserved Knative route tags: dmls names the stable, canary and current
// routes itself.
const (
	TagStable  = "stable"
	TagCanary  = "canary"
	TagCurrent = "current"
)

// TFJobName names the TFJob of a training run. A new run is a new object,
// so Argo CD never recreates a finished run that its TTL deleted.
func TFJobName(app string, run int) string { return fmt.Sprintf("%s-r%d", app, run) }

// RevisionName names a Knative revision of an app.
func RevisionName(app, revision string) string { return app + "-" + revision }
