// Package gates evaluates a canary's gates, PromQL queries each with a
// threshold, against a Prometheus server's HTTP API.
//
// A gate's query names its target through variables ($namespace,
// $service, $revision, $stable, $window) that Expand fills in; a gate
// holds when its query returns one value no greater than its Max. The
// package only measures: Evaluate reports pass, fail, nodata or error
// for one gate at one time, and the caller (the release reconciler)
// decides what no data means (onNoData, the 2× canary-duration deadline)
// and when to ask again.
//
// Defaults gives the gates a canary gets when its spec names none, built
// on the request metrics of Knative's queue-proxy (see defaults.go for
// the metric names, where they come from and why no defaults exist for
// KServe's Standard mode).
package gates
