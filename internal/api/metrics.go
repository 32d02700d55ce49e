package api

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus metrics, in a registry of their own
// so that several servers can run in one process (tests).
type metrics struct {
	registry   *prometheus.Registry
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	inflight   prometheus.Gauge
	queueDepth prometheus.Gauge
	batchSize  prometheus.Histogram
	commits    *prometheus.CounterVec
	races      prometheus.Counter
	// speculation counts the batches planned on a commit still being
	// pushed, by outcome (submit.Metrics.Speculation).
	speculation *prometheus.CounterVec
	replays     prometheus.Counter
}

func newMetrics(reg *prometheus.Registry) *metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m := &metrics{
		registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dmls_api_requests_total",
			Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dmls_api_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route pattern and method.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"route", "method"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dmls_api_requests_in_flight",
			Help: "HTTP requests being answered.",
		}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dmls_api_queue_depth",
			Help: "Changes waiting for the writer.",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "dmls_api_batch_size",
			Help:    "Changes per group commit.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}),
		commits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dmls_api_commits_total",
			Help: "Commits by repo and result: committed, unchanged or failed.",
		}, []string{"repo", "result"}),
		races: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dmls_api_commit_races_total",
			Help: "Group commits re-applied because another writer changed ml-model first.",
		}),
		speculation: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dmls_api_speculative_plans_total",
			Help: "Group commits planned on the workspace of the one before while it was being pushed, by outcome: kept when it landed, replanned when it did not.",
		}, []string{"outcome"}),
		replays: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dmls_api_idempotent_replays_total",
			Help: "Requests answered from the idempotency store.",
		}),
	}
	reg.MustRegister(m.requests, m.latency, m.inflight, m.queueDepth, m.batchSize, m.commits, m.races, m.speculation, m.replays)
	return m
}
