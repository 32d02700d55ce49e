// Package promtest runs a real Prometheus for tests: Debian's prometheus
// binary, installed by make prometheus, as a child process on a free
// 127.0.0.1 port with its own configuration and storage, scraping every
// second an in-process exporter of Knative queue-proxy metrics whose
// counts the test sets.
//
// The exporter serves what a queue-proxy's OpenTelemetry Prometheus
// exporter serves (see internal/gates' defaults.go): the histogram
// http_server_request_duration_seconds by status code, and target_info
// with the pod's namespace and revision, each pod its own instance.
// Start fails the test, and does not skip it, when the binary is
// missing. Prometheus is stopped by its PID at cleanup, or earlier by
// Stop for a test that needs it down.
package promtest
