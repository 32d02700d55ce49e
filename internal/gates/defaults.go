package gates

// The default gates read the request metrics of Knative's queue-proxy,
// the sidecar in front of every Knative revision's container (and of a
// KServe predictor in Knative mode, which is a Knative revision). In the
// Knative Serving that dmls builds against (knative.dev/serving v0.48.1,
// Knative 1.21) the queue-proxy exports OpenTelemetry metrics, not the
// OpenCensus revision_request_count and revision_request_latencies of
// Knative 1.18 and before:
//
//   - knative.dev/serving@v0.48.1/pkg/queue/sharedmain/handlers.go wraps
//     the queue-proxy's whole request handler in otelhttp.NewHandler,
//     which records the semantic conventions' http.server.request.duration
//     histogram, in seconds, with the attribute http.response.status_code
//     (go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp
//     internal/semconv/server.go, httpconv.NewServerRequestDuration);
//   - knative.dev/serving@v0.48.1/pkg/queue/sharedmain/otel.go puts the
//     namespace and the revision on the resource, not on each series:
//     k8s.namespace.name, kn.service.name, kn.configuration.name and
//     kn.revision.name (pkg/metrics/key.go);
//   - knative.dev/pkg/observability/metrics/prometheus_enabled.go exports
//     with the translation strategy UnderscoreEscapingWithSuffixes and
//     without WithResourceAsConstantLabels, so in Prometheus the histogram
//     is http_server_request_duration_seconds_{bucket,count,sum} with the
//     label http_response_status_code, and the resource is the one series
//     target_info{k8s_namespace_name, kn_revision_name, ...} of the same
//     job and instance.
//
// So the default queries join each series to its pod's target_info on
// (job, instance), which holds whether Prometheus scrapes the queue-proxy
// (request-metrics-protocol: prometheus) or receives its OTLP push (then
// job and instance come from service.name and service.instance.id). The
// join takes target_info over the whole window (last_over_time), so a pod
// that went away during the window still counts. Knative exports no
// request metrics until the config-observability ConfigMap sets
// request-metrics-protocol (its default is none).
//
// On Knative 1.18 or older, or with another scrape setup, write the
// gates in the spec instead; the variables are the same.

const (
	// DefaultErrorRateMax is the default error-rate gate's threshold: at
	// most 1% of the canary's requests answered with a 5xx status.
	DefaultErrorRateMax = 0.01
	// DefaultLatencyMax is the default latency gate's threshold, in the
	// metric's unit, seconds: a p99 of at most 1 s, measured by the
	// queue-proxy from a request's arrival to its response (queueing in
	// the proxy included).
	DefaultLatencyMax = 1.0

	// Names of the default gates.
	ErrorRateGate  = "error-rate"
	LatencyP99Gate = "latency-p99"
)

// knativePods selects the canary's pods: one series (value 1) per job and
// instance whose queue-proxy reported the canary's namespace and revision
// during the window.
const knativePods = `group by (job, instance) (last_over_time(target_info{k8s_namespace_name="$namespace", kn_revision_name="$revision"}[$window]))`

// KnativeErrorRateQuery is the share of the canary's requests answered
// with a 5xx status over the window. The numerator falls back to 0 when
// no 5xx series exists; with no requests at all the result is NaN (0/0)
// or empty, which Evaluate reports as no data.
const KnativeErrorRateQuery = `(sum(rate(http_server_request_duration_seconds_count{http_response_status_code=~"5.."}[$window]) * on (job, instance) group_left () ` + knativePods + `) or vector(0))` +
	` / sum(rate(http_server_request_duration_seconds_count[$window]) * on (job, instance) group_left () ` + knativePods + `)`

// KnativeLatencyP99Query is the canary's 99th percentile request
// duration over the window, in seconds.
const KnativeLatencyP99Query = `histogram_quantile(0.99, sum by (le) (rate(http_server_request_duration_seconds_bucket[$window]) * on (job, instance) group_left () ` + knativePods + `))`

// KServe deployment modes (serving.kserve.io/deploymentMode), with the
// names before KServe 0.16.
const (
	modeKnative       = "Knative"
	modeServerless    = "Serverless"
	modeStandard      = "Standard"
	modeRawDeployment = "RawDeployment"
)

// Defaults returns the gates a canary gets when its release names none,
// for a runtime ("knative" or "kserve") and, for KServe, its deployment
// mode ("" is KServe's default, Knative). It returns none where no
// metrics to build them on exist; NoDefaults says why.
func Defaults(runtime, deploymentMode string) []Gate {
	if NoDefaults(runtime, deploymentMode) != "" {
		return nil
	}
	return []Gate{
		{Name: ErrorRateGate, Query: KnativeErrorRateQuery, Max: DefaultErrorRateMax, OnNoData: NoDataWait},
		{Name: LatencyP99Gate, Query: KnativeLatencyP99Query, Max: DefaultLatencyMax, OnNoData: NoDataWait},
	}
}

// NoDefaults says why Defaults returns no gates for runtime and
// deploymentMode, or "" when it returns some.
//
// KServe in Standard (RawDeployment) mode runs a Deployment without the
// queue-proxy, and its model servers share no request metrics: the
// Python model servers export per-step latency histograms
// (request_predict_seconds and its siblings, without a status code or a
// revision), and other runtimes (Triton, TorchServe, vLLM...) export
// their own (KServe's docs: "There is not currently a unified set of
// metrics exported by the model servers", docs/modelserving/observability/
// prometheus_metrics.md). KServe's canaryTrafficPercent split also needs
// Knative mode. A release there writes its own gates.
func NoDefaults(runtime, deploymentMode string) string {
	switch runtime {
	case "knative":
		return ""
	case "kserve":
		switch deploymentMode {
		case "", modeKnative, modeServerless:
			return ""
		case modeStandard, modeRawDeployment:
			return "KServe's " + deploymentMode + " mode has no queue-proxy and its model servers share no request metrics (no status code, no revision); write the release's gates"
		default:
			return "unknown KServe deployment mode " + deploymentMode
		}
	default:
		return "unknown runtime " + runtime
	}
}
