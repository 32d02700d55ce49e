package gates_test

import (
	"context"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/dmls-project/dmls/internal/gates"
	"github.com/dmls-project/dmls/internal/gates/promtest"
)

const ns = "ml"

// TestEvaluateAgainstPrometheus evaluates the default gates, and a few
// bad queries, against a real Prometheus scraping queue-proxy metrics
// that the test sets: one revision per case.
func TestEvaluateAgainstPrometheus(t *testing.T) {
	p := promtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	exp := p.Exporter

	// Every pod exists, with zero requests, before its first requests,
	// as a queue-proxy's series do, so that rate() counts them.
	for _, rev := range []string{"mnist-r6", "idle-r1", "slow-r1", "healthy-r1"} {
		exp.AddPod(ns, strings.Split(rev, "-")[0], rev)
	}
	for _, rev := range []string{"mnist-r7", "gone-r1"} {
		exp.AddPod(ns, strings.Split(rev, "-")[0], rev, 200, 500, 503)
	}
	exp.SetRequests(ns, "bad-r1", 0, 0)
	wait(t, ctx, p)
	exp.Observe(ns, "mnist-r6", 200, 20*time.Millisecond, 400) // the stable revision
	exp.Observe(ns, "mnist-r7", 200, 10*time.Millisecond, 1000)
	exp.Observe(ns, "mnist-r7", 500, 10*time.Millisecond, 5)
	exp.Observe(ns, "mnist-r7", 503, 10*time.Millisecond, 1)
	exp.SetRequests(ns, "bad-r1", 100, 10)
	exp.Observe(ns, "healthy-r1", 200, 10*time.Millisecond, 10) // no 5xx series at all
	exp.Observe(ns, "slow-r1", 200, 2500*time.Millisecond, 100)
	exp.Observe(ns, "gone-r1", 200, 10*time.Millisecond, 100)
	exp.Observe(ns, "gone-r1", 500, 10*time.Millisecond, 50)
	wait(t, ctx, p)
	wait(t, ctx, p)
	// gone-r1 scales to zero: its series go stale, but they had data in
	// the window, which the gates must still see.
	exp.RemovePod(ns, "gone-r1")
	wait(t, ctx, p)

	c := &gates.Client{URL: p.URL}
	defaults := gates.Defaults("knative", "")
	errorRate, latency := defaults[0], defaults[1]
	target := func(rev string) gates.Target {
		return gates.Target{Namespace: ns, Service: "mnist", Revision: rev, Stable: "mnist-r6", Runtime: "knative", Window: 2 * time.Minute} // longer than the test, so the first samples stay in it on a slow machine
	}
	now := time.Now()

	tests := []struct {
		name        string
		gate        gates.Gate
		revision    string
		want        gates.Verdict
		wantValue   float64 // checked when want is pass or fail, with tolerance
		tolerance   float64
		wantRefused bool
		wantErr     string
	}{
		{name: "error rate under max", gate: errorRate, revision: "mnist-r7", want: gates.Pass, wantValue: 6.0 / 1006, tolerance: 1e-9},
		{name: "error rate over max", gate: errorRate, revision: "bad-r1", want: gates.Fail, wantValue: 10.0 / 110, tolerance: 1e-9},
		{name: "error rate without a 5xx series", gate: errorRate, revision: "healthy-r1", want: gates.Pass, wantValue: 0, tolerance: 0},
		{name: "error rate of a pod gone during the window", gate: errorRate, revision: "gone-r1", want: gates.Fail, wantValue: 50.0 / 150, tolerance: 1e-9},
		{name: "no series: empty vector", gate: errorRate, revision: "absent-r1", want: gates.NoData, wantErr: "empty vector"},
		{name: "no requests: NaN", gate: errorRate, revision: "idle-r1", want: gates.NoData, wantErr: "NaN"},
		// 1000 requests at 10ms, 6 at 10ms: p99 inside the (0.005, 0.01] bucket.
		{name: "latency under max", gate: latency, revision: "mnist-r7", want: gates.Pass, wantValue: 0.01, tolerance: 0.005},
		// 100 requests at 2.5s: p99 interpolated inside (1, 2.5].
		{name: "latency over max", gate: latency, revision: "slow-r1", want: gates.Fail, wantValue: 2.485, tolerance: 0.001},
		{name: "latency with no requests: NaN", gate: latency, revision: "idle-r1", want: gates.NoData, wantErr: "NaN"},
		{name: "canary against stable", revision: "mnist-r7", want: gates.Pass, wantValue: 1006.0 / 400, tolerance: 1e-9,
			gate: gates.Gate{Name: "traffic-ratio", Max: 3, Query: `sum(increase(http_server_request_duration_seconds_count[$window]) * on (job, instance) group_left () target_info{kn_revision_name="$revision"})` +
				` / sum(increase(http_server_request_duration_seconds_count[$window]) * on (job, instance) group_left () target_info{kn_revision_name="$stable"})`}},
		{name: "syntax error: refused", revision: "mnist-r7", want: gates.Error, wantRefused: true, wantErr: "bad_data",
			gate: gates.Gate{Name: "broken", Query: `sum(rate(http_server_request_duration_seconds_count[$window])`, Max: 1}},
		{name: "unknown variable: refused", revision: "mnist-r7", want: gates.Error, wantRefused: true, wantErr: "bad_data",
			gate: gates.Gate{Name: "typo", Query: `sum(rate(http_server_request_duration_seconds_count{kn_revision_name="$revison"}[$windw]))`, Max: 1}},
		{name: "more than one series: refused", revision: "mnist-r7", want: gates.Error, wantRefused: true, wantErr: "must return one value",
			gate: gates.Gate{Name: "ungrouped", Query: `target_info{k8s_namespace_name="$namespace"}`, Max: 1}},
		{name: "a range vector: refused", revision: "mnist-r7", want: gates.Error, wantRefused: true, wantErr: "matrix",
			gate: gates.Gate{Name: "range", Query: `promtest_generation[$window]`, Max: 1}},
		{name: "a scalar", revision: "mnist-r7", want: gates.Fail, wantValue: 2, tolerance: 0,
			gate: gates.Gate{Name: "scalar", Query: `scalar(vector(2))`, Max: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.Evaluate(ctx, tt.gate, target(tt.revision), now)
			if r.Verdict != tt.want || r.Refused != tt.wantRefused {
				t.Fatalf("verdict %s refused %v, want %s refused %v (value %v, err %q, query %s)", r.Verdict, r.Refused, tt.want, tt.wantRefused, r.Value, r.Err, r.Query)
			}
			if tt.wantErr != "" && !strings.Contains(r.Err, tt.wantErr) {
				t.Errorf("err %q, want it to say %q", r.Err, tt.wantErr)
			}
			hasData := tt.want == gates.Pass || tt.want == gates.Fail
			if r.HasData != hasData {
				t.Errorf("HasData %v, want %v", r.HasData, hasData)
			}
			if hasData && math.Abs(r.Value-tt.wantValue) > tt.tolerance {
				t.Errorf("value %v, want %v ± %v", r.Value, tt.wantValue, tt.tolerance)
			}
			if !hasData && r.Value != 0 {
				t.Errorf("value %v without data, want 0", r.Value)
			}
			if r.Gate != tt.gate.Name || r.Max != tt.gate.Max || r.Query != gates.Expand(tt.gate.Query, target(tt.revision)) {
				t.Errorf("evidence %q %v %q does not name the gate, its max and its expanded query", r.Gate, r.Max, r.Query)
			}
		})
	}

	t.Run("at Prometheus's now", func(t *testing.T) {
		r := c.Evaluate(ctx, errorRate, target("mnist-r7"), time.Time{})
		if r.Verdict != gates.Pass || math.Abs(r.Value-6.0/1006) > 1e-9 {
			t.Errorf("got %+v, want a pass at 6/1006", r)
		}
	})

	// Last: Prometheus stops. Asking again must say so as an error to
	// retry, not a refusal.
	t.Run("prometheus down", func(t *testing.T) {
		p.Stop()
		r := c.Evaluate(ctx, errorRate, target("mnist-r7"), now)
		if r.Verdict != gates.Error || r.Refused || r.HasData {
			t.Fatalf("got %+v, want an error that is not a refusal", r)
		}
		if !strings.Contains(r.Err, "connection refused") {
			t.Errorf("err %q, want it to say the connection was refused", r.Err)
		}
	})
}

func wait(t *testing.T, ctx context.Context, p *promtest.Prom) {
	t.Helper()
	if err := p.WaitScraped(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestEvaluateUnreachable covers a Prometheus that cannot be asked: a
// closed port and a server that never answers are errors to retry, and
// no message carries the credentials.
func TestEvaluateUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	silent := l.Addr().String() // accepts connections, never answers
	done := make(chan struct{})
	t.Cleanup(func() { l.Close(); <-done })
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, conn)
		}
	}()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	const token, password = "tok-s3cr3t-value", "pw-s3cr3t-value"
	g := gates.Defaults("knative", "")[0]
	target := gates.Target{Namespace: ns, Revision: "mnist-r7", Window: time.Minute}
	tests := []struct {
		name    string
		client  gates.Client
		wantErr string
		refused bool
	}{
		{name: "closed port", client: gates.Client{URL: "http://admin:" + password + "@" + closedAddr, BearerToken: token}, wantErr: "connection refused"},
		{name: "no answer within the timeout", client: gates.Client{URL: "http://admin:" + password + "@" + silent + "/prom/", BearerToken: token, Timeout: 300 * time.Millisecond}, wantErr: "did not answer within 300ms"},
		{name: "not a URL", client: gates.Client{URL: "prometheus:9090", BearerToken: token}, wantErr: "not an http(s) URL", refused: true},
		{name: "bad URL with a password", client: gates.Client{URL: "http://admin:" + password + "@bad host/", BearerToken: token}, wantErr: `the Prometheus URL "http://bad host/" is not`, refused: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			r := tt.client.Evaluate(context.Background(), g, target, time.Now())
			if r.Verdict != gates.Error || r.Refused != tt.refused {
				t.Fatalf("got verdict %s refused %v, want error refused %v (%s)", r.Verdict, r.Refused, tt.refused, r.Err)
			}
			if !strings.Contains(r.Err, tt.wantErr) {
				t.Errorf("err %q, want it to say %q", r.Err, tt.wantErr)
			}
			if strings.Contains(r.Err, token) || strings.Contains(r.Err, password) || strings.Contains(r.Err, "admin") {
				t.Errorf("err %q carries a credential", r.Err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s; the timeout is %s", d, tt.client.Timeout)
			}
		})
	}
}
