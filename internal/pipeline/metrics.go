package pipeline

import "github.com/prometheus/client_golang/prometheus"

// metrics are the reconciler's Prometheus metrics.
type metrics struct {
	// decisions counts the steps committed, by kind (deploy, canary,
	// full, rollback, resume, scheduled-run).
	decisions *prometheus.CounterVec
	// gates counts gate evaluations by verdict.
	gates *prometheus.CounterVec
	// toProduction is the time from a run's success to all of the
	// traffic of the chain's last environment.
	toProduction prometheus.Histogram
	// leader is 1 while this replica holds the lease.
	leader prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dmls_release_decisions_total", Help: "Release pipeline steps committed, by kind.",
		}, []string{"kind"}),
		gates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dmls_release_gate_evaluations_total", Help: "Canary gate evaluations, by verdict (pass, fail, nodata, error).",
		}, []string{"verdict"}),
		toProduction: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "dmls_release_success_to_production_seconds", Help: "Time from a training run's success to all traffic in the last environment of its chain.",
			Buckets: prometheus.ExponentialBuckets(60, 2, 14),
		}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dmls_release_leader", Help: "1 while this replica leads the release reconciler.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.decisions, m.gates, m.toProduction, m.leader)
	}
	return m
}
