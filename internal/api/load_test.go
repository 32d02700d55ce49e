package api

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dmls-project/dmls/internal/apiclient"
	"github.com/dmls-project/dmls/internal/gittest"
)

// loadResult is what a load run measured.
type loadResult struct {
	elapsed  time.Duration
	p50, p99 time.Duration
	batches  float64
	// speculative is how many batches were planned on a batch whose push
	// was in flight, and kept that plan.
	speculative float64
}

// load submits n training jobs from clients concurrent clients against a
// fresh server whose workspace holds apps apps (at least the 2 of the
// seed; the others are API-managed training jobs, pre-0000, ...), checks
// that every submission is in git exactly once (its app.json in ml-model,
// its request id in exactly one commit) and that k8s-config holds what a
// full build of ml-model generates, and returns the timings.
func load(t testing.TB, n, clients, apps int, opts ...gittest.Option) loadResult {
	r := startReposWith(t, apps, opts...)
	ts := startServer(t, r)
	c := ts.client(researchToken)
	ctx := context.Background()

	latencies := make([]time.Duration, n)
	results := make([]*apiclient.Result, n)
	errs := make([]error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				results[i], errs[i] = c.SubmitTrainingJob(ctx, "ml-research", trainingJob(fmt.Sprintf("load-%04d", i)))
				latencies[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("submission %d: %v", i, err)
		}
	}

	files := r.git.Files(t, "ml-model", "")
	ids := r.requestIDs(t)
	for i, res := range results {
		if _, ok := files[fmt.Sprintf("apps/load-%04d/app.json", i)]; !ok {
			t.Errorf("load-%04d is not in ml-model", i)
		}
		if ids[res.RequestID] != 1 {
			t.Errorf("load-%04d (request %s) is in %d commits", i, res.RequestID, ids[res.RequestID])
		}
	}
	if len(ids) != n {
		t.Errorf("%d changes in ml-model's history, want %d", len(ids), n)
	}
	r.waitConfig(t)

	slices.Sort(latencies)
	var m dtoHistogram
	m.read(ts.metrics.batchSize)
	return loadResult{
		elapsed:     elapsed,
		p50:         latencies[n*50/100],
		p99:         latencies[min(n-1, n*99/100)],
		batches:     m.count,
		speculative: counter(ts.metrics.speculation.WithLabelValues("kept")),
	}
}

// TestLoadSmall is a small load run of the regular test suite: 60
// submissions from 10 clients.
func TestLoadSmall(t *testing.T) {
	res := load(t, 60, 10, 2)
	t.Logf("60 submissions in %v (%.1f/s) in %.0f batches; p50 %v, p99 %v",
		res.elapsed.Round(time.Millisecond), 60/res.elapsed.Seconds(), res.batches, res.p50.Round(time.Millisecond), res.p99.Round(time.Millisecond))
}

// BenchmarkSubmit500 fires 500 submissions from 25 concurrent clients at
// one server on a real git server (git http-backend over HTTP on
// loopback), with the workspace at 10 and at 1,000 apps before the first
// submission, checks that all 500 are in git exactly once, and reports
// throughput and the p50 and p99 latency of a submission (make bench-api).
func BenchmarkSubmit500(b *testing.B) { benchSubmit(b, 500, 25) }

// BenchmarkSubmitDeep is BenchmarkSubmit500 with 1,000 submissions from
// 100 clients: a queue deeper than a batch's clients, where
// BenchmarkSubmit500's 25 clients each wait for their answer before they
// send again, so that its throughput is bound by a batch's time more
// than by the CPU (make bench-api runs both).
func BenchmarkSubmitDeep(b *testing.B) { benchSubmit(b, 1000, 100) }

// remoteRTT is the round trip to the git host of BenchmarkSubmitRemote.
const remoteRTT = 50 * time.Millisecond

// BenchmarkSubmitRemote is BenchmarkSubmitDeep against a git server
// remoteRTT away (every request waits that long first), as a git host
// across a network is: there, a batch's pushes are mostly waiting, which
// the next batch's plan can overlap (internal/submit's Pipeline).
func BenchmarkSubmitRemote(b *testing.B) {
	benchSubmit(b, 1000, 100, gittest.WithLatency(remoteRTT))
}

// benchSubmit runs load(n, clients) at 10 and at 1,000 apps and reports
// its figures with the load average at the start.
func benchSubmit(b *testing.B, n, clients int, opts ...gittest.Option) {
	for _, apps := range []int{10, 1000} {
		b.Run(fmt.Sprintf("apps=%d", apps), func(b *testing.B) {
			// The load when the run starts: a figure taken on a busy
			// machine is not comparable (issue 25).
			b.ReportMetric(loadAverage(b), "load-1m")
			for range b.N {
				res := load(b, n, clients, apps, opts...)
				b.ReportMetric(float64(n)/res.elapsed.Seconds(), "req/s")
				b.ReportMetric(float64(res.p50.Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(res.p99.Microseconds())/1000, "p99-ms")
				b.ReportMetric(res.batches, "commits")
				b.ReportMetric(res.speculative, "speculative")
			}
		})
	}
}

// loadAverage is the machine's 1-minute load average (Linux), or -1.
func loadAverage(t testing.TB) float64 {
	t.Helper()
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f, err := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	if err != nil {
		return -1
	}
	return f
}
