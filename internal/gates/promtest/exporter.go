package promtest

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Buckets are the request-duration histogram's bucket bounds, in
// seconds: those of the OpenTelemetry semantic conventions'
// http.server.request.duration, which otelhttp gives the queue-proxy's
// histogram.
var Buckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// Job is the job label of the exporter's series.
const Job = "queue-proxy"

// Exporter serves the metrics that Knative's queue-proxy exports through
// OpenTelemetry's Prometheus exporter, for pods that the test adds, with
// counts that the test sets: per pod, the histogram
// http_server_request_duration_seconds by http_response_status_code, and
// target_info with the pod's namespace, service and revision. Each pod
// has its own instance label (Prometheus scrapes the exporter with
// honor_labels), as each pod is its own scrape target in a cluster. It
// is safe for concurrent use.
type Exporter struct {
	mu   sync.Mutex
	pods []*pod
	// generation counts changes; the exporter serves it as
	// promtest_generation, so that WaitScraped knows a scrape saw them.
	generation int
}

type pod struct {
	namespace, service, revision, name string
	// series by status code
	series map[int]*histogram
}

type histogram struct {
	buckets []uint64 // cumulative counts, one per Buckets bound
	count   uint64
	sum     float64
}

// AddPod adds a pod of the revision, serving the Knative service, with
// a series at zero requests for each status code in codes (200 when
// none is given): a series that exists before its first increase, so
// that rate() counts that increase. The queue-proxy creates a code's
// series at its first request, whose increase rate() misses; a test that
// wants it counted lists the code here. It returns the pod's name, also
// its instance label. Adding a revision's pod again adds only the codes'
// series it lacks.
func (e *Exporter) AddPod(namespace, service, revision string, codes ...int) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(codes) == 0 {
		codes = []int{200}
	}
	p := e.pod(namespace, revision)
	if p == nil {
		p = &pod{namespace: namespace, service: service, revision: revision,
			name:   fmt.Sprintf("%s-deployment-%d", revision, len(e.pods)+1),
			series: map[int]*histogram{}}
		e.pods = append(e.pods, p)
	}
	for _, c := range codes {
		if p.series[c] == nil {
			p.series[c] = newHistogram()
		}
	}
	e.generation++
	return p.name
}

// RemovePod removes the revision's pod, as when it scales to zero: its
// series go stale at the next scrape.
func (e *Exporter) RemovePod(namespace, revision string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pods = slices.DeleteFunc(e.pods, func(p *pod) bool { return p.namespace == namespace && p.revision == revision })
	e.generation++
}

// Observe records n requests to the revision's pod (AddPod first, or it
// panics) answered with status code, each taking latency.
func (e *Exporter) Observe(namespace, revision string, code int, latency time.Duration, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.pod(namespace, revision)
	if p == nil {
		panic(fmt.Sprintf("promtest: Observe for %s/%s before AddPod", namespace, revision))
	}
	h := p.series[code]
	if h == nil {
		h = newHistogram()
		p.series[code] = h
	}
	s := latency.Seconds()
	for i, le := range Buckets {
		if s <= le {
			h.buckets[i] += uint64(n)
		}
	}
	h.count += uint64(n)
	h.sum += s * float64(n)
	e.generation++
}

// SetRequests brings the revision's pod's totals to code2xx requests
// answered 200 and code5xx answered 500 (adding the pod and both series
// if needed), each new one taking 10ms. Totals are counters: they never
// go down. Call it with zeros first, and WaitScraped, for rate() to
// count the first requests.
func (e *Exporter) SetRequests(namespace, revision string, code2xx, code5xx int) {
	e.AddPod(namespace, revision, revision, 200, 500)
	e.mu.Lock()
	p := e.pod(namespace, revision)
	ok, failed := int(p.series[200].count), int(p.series[500].count)
	e.mu.Unlock()
	if code2xx < ok || code5xx < failed {
		panic(fmt.Sprintf("promtest: SetRequests(%s, %s, %d, %d) below the totals %d and %d: counters never go down", namespace, revision, code2xx, code5xx, ok, failed))
	}
	e.Observe(namespace, revision, 200, 10*time.Millisecond, code2xx-ok)
	e.Observe(namespace, revision, 500, 10*time.Millisecond, code5xx-failed)
}

func (e *Exporter) pod(namespace, revision string) *pod {
	for _, p := range e.pods {
		if p.namespace == namespace && p.revision == revision {
			return p
		}
	}
	return nil
}

func newHistogram() *histogram { return &histogram{buckets: make([]uint64, len(Buckets))} }

// bump counts a change that is none, so that WaitScraped waits for a new
// scrape, and returns the generation to wait for.
func (e *Exporter) bump() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.generation++
	return e.generation
}

// ServeHTTP writes the metrics in Prometheus's text format.
func (e *Exporter) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	e.mu.Lock()
	text := e.text()
	e.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = io.WriteString(w, text)
}

// text writes every metric family, each family's samples together, in
// a fixed order.
func (e *Exporter) text() string {
	var b strings.Builder
	b.WriteString("# HELP http_server_request_duration_seconds Duration of HTTP server requests.\n")
	b.WriteString("# TYPE http_server_request_duration_seconds histogram\n")
	for _, p := range e.pods {
		codes := make([]int, 0, len(p.series))
		for c := range p.series {
			codes = append(codes, c)
		}
		slices.Sort(codes)
		for _, c := range codes {
			h := p.series[c]
			base := fmt.Sprintf(`job=%q,instance=%q,http_request_method="POST",http_response_status_code="%d",network_protocol_name="http",network_protocol_version="1.1",url_scheme="http",otel_scope_name="go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"`,
				Job, p.name, c)
			for i, le := range Buckets {
				fmt.Fprintf(&b, "http_server_request_duration_seconds_bucket{%s,le=%q} %d\n", base, strconv.FormatFloat(le, 'g', -1, 64), h.buckets[i])
			}
			fmt.Fprintf(&b, "http_server_request_duration_seconds_bucket{%s,le=\"+Inf\"} %d\n", base, h.count)
			fmt.Fprintf(&b, "http_server_request_duration_seconds_sum{%s} %s\n", base, strconv.FormatFloat(h.sum, 'g', -1, 64))
			fmt.Fprintf(&b, "http_server_request_duration_seconds_count{%s} %d\n", base, h.count)
		}
	}
	b.WriteString("# HELP target_info Target metadata\n# TYPE target_info gauge\n")
	for _, p := range e.pods {
		fmt.Fprintf(&b, "target_info{job=%q,instance=%q,k8s_container_name=\"queue-proxy\",k8s_namespace_name=%q,k8s_pod_name=%q,kn_configuration_name=%q,kn_revision_name=%q,kn_service_name=%q,service_instance_id=%q,service_name=%q} 1\n",
			Job, p.name, p.namespace, p.name, p.service, p.revision, p.service, p.name, p.service)
	}
	b.WriteString("# HELP promtest_generation Changes made to the exporter so far.\n# TYPE promtest_generation gauge\n")
	fmt.Fprintf(&b, "promtest_generation %d\n", e.generation)
	return b.String()
}
