//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/dmls-project/dmls/internal/api"
	"github.com/dmls-project/dmls/internal/apiclient"
	"github.com/dmls-project/dmls/internal/gates"
	"github.com/dmls-project/dmls/internal/gates/promtest"
	"github.com/dmls-project/dmls/internal/gittest"
	"github.com/dmls-project/dmls/internal/pipeline"
)

const releaseToken = "e2e-release-token-0123456789"

// releaseReplica is one dmls serve replica of a release test.
type releaseReplica struct {
	name string
	url  string
	stop func()
}

// startReleaseReplica runs an API server with the release reconciler:
// live status from the e2e cluster, the gates on prom, and the Lease in
// leaseNS, passing every second.
func startReleaseReplica(t *testing.T, srv *gittest.Server, promURL, leaseNS, name string) *releaseReplica {
	t.Helper()
	clusters := clusterStatus(t)
	s := newAPIServer(t, srv, api.Config{
		Tokens:          researchTokens(t, releaseToken),
		Status:          clusters,
		Prometheus:      &gates.Client{URL: promURL},
		Lease:           &pipeline.Lease{Client: clusters.ArgoCD, Namespace: leaseNS, Name: "dmls-release", Identity: name, Duration: 5 * time.Second},
		ReleaseInterval: time.Second,
		ReadMaxAge:      100 * time.Millisecond,
	})
	url, stop := serveAPI(t, s)
	return &releaseReplica{name: name, url: url, stop: stop}
}

// releaseRig is a release pipeline under test: the repos, two replicas of
// dmls serve, a real Prometheus, and the traffic its exporter counts.
type releaseRig struct {
	t        *testing.T
	ctx      context.Context
	c        *Cluster
	srv      *gittest.Server
	prom     *promtest.Prom
	replicas []*releaseReplica
	client   *apiclient.Client
	apps     appLister
	again    func()
	leaseNS  string

	mu      sync.Mutex
	traffic map[[2]string]int // namespace, revision → status code of its requests
}

func newReleaseRig(t *testing.T, ctx context.Context) *releaseRig {
	c := connect(t)
	srv := apiRepos(t, func(platform string) string { return withoutComponents(t, platform) }, stubChart)
	repoSecret(t, c, srv, "k8s-config")
	r := &releaseRig{t: t, ctx: ctx, c: c, srv: srv, prom: promtest.Start(t), traffic: map[[2]string]int{},
		leaseNS: newNamespace(t, c, "dmls-release"), apps: c.Dynamic.Resource(applicationGVR).Namespace(ArgoCDNamespace)}
	for _, name := range []string{"replica-a", "replica-b"} {
		r.replicas = append(r.replicas, startReleaseReplica(t, srv, r.prom.URL, r.leaseNS, name))
	}
	r.client = &apiclient.Client{BaseURL: r.replicas[1].url, Token: releaseToken}
	onFailure(t, func() string {
		return "the release trailers in ml-model:\n" + strings.Join(r.releaseLog(), "\n")
	})
	// Requests reach the revisions the test plays Knative for.
	tctx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	go func() {
		for tctx.Err() == nil {
			r.mu.Lock()
			for k, code := range r.traffic {
				r.prom.Exporter.Observe(k[0], k[1], code, 20*time.Millisecond, 5)
			}
			r.mu.Unlock()
			time.Sleep(200 * time.Millisecond)
		}
	}()
	return r
}

// submit submits an app with a release policy: trained in dev, canaries
// of 10s, dev → staging after 2s, staging → prod on approval; every
// environment serves run r1. Then a schedule whose last tick is long
// past, so that the reconciler starts run r2 at once.
func (r *releaseRig) submit(app string) {
	t, ctx := r.t, r.ctx
	res := map[string]any{"cpu": "100m", "memory": "256Mi", "limits": map[string]any{"cpu": "1", "memory": "1Gi"}}
	if _, err := r.client.SubmitTrainingJob(ctx, "ml-research", apiclient.TrainingJobSubmission{Name: app, Training: map[string]any{
		"image":    "registry.example.com/ml-research/mnist:1.0.0",
		"output":   map[string]any{"storageUri": "pvc://models/" + app},
		"replicas": map[string]any{"worker": map[string]any{"replicas": 1, "resources": res}},
	}}); err != nil {
		t.Fatalf("submit the training job: %v", err)
	}
	run1 := map[string]any{"serving": map[string]any{"model": map[string]any{"run": 1}}}
	if _, err := r.client.SubmitModelService(ctx, "ml-research", apiclient.ModelServiceSubmission{
		Name:    app,
		Serving: map[string]any{"model": map[string]any{"fromTraining": true}, "resources": res, "autoscaling": map[string]any{"minScale": 1}},
		Release: map[string]any{
			"canary": map[string]any{"percent": 10, "duration": "10s"},
			"promotion": []any{
				map[string]any{"from": "dev", "to": "staging", "after": "2s"},
				map[string]any{"from": "staging", "to": "prod", "approval": true},
			},
		},
		Overrides: map[string]any{"dev": run1, "staging": run1, "prod": run1},
	}); err != nil {
		t.Fatalf("submit the model service: %v", err)
	}
	bootstrap(t, r.c, r.srv, "k8s-config")
	r.again = rebootstrap(t, r.c, r.srv, "k8s-config")

	// Run r1 ended long ago; then the schedule comes, its last tick half
	// an hour back, after scheduledAt, so the reconciler starts run r2 at
	// once (the ticks missed since run once). A tick while r1 ran would
	// be skipped (whileRunning: skip). The schedule is daily, so that no
	// tick comes during the test: every five minutes, a tick at a
	// five-minute boundary started run r3 under a test waiting for r2.
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	r.trainingSucceeds(app, 1, time.Now().Add(-2*time.Hour))
	tick := time.Now().Add(-30 * time.Minute).In(berlin)
	patch := map[string]any{"schedule": map[string]any{"cron": fmt.Sprintf("%d %d * * *", tick.Minute(), tick.Hour()), "timeZone": "Europe/Berlin"},
		"scheduledAt": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}
	if _, err := r.client.SetTrainingJob(ctx, "ml-research", app, patch, apiclient.SetOptions{}); err != nil {
		t.Fatalf("set the schedule: %v", err)
	}
}

func (r *releaseRig) eventually(what string, timeout time.Duration, cond func() (bool, string)) {
	r.t.Helper()
	eventually(r.ctx, r.t, r.apps, what, timeout, func() (bool, string) {
		r.again()
		refreshApps(r.ctx, r.apps)
		return cond()
	})
}

// view is the app's pipeline, as the API says.
func (r *releaseRig) view(app string) *apiclient.ReleaseView {
	v, err := r.client.Release(r.ctx, "ml-research", app)
	if err != nil {
		r.t.Fatalf("release view: %v", err)
	}
	return v
}

func releaseEnv(v *apiclient.ReleaseView, env string) apiclient.ReleaseEnvironment {
	for _, e := range v.Environments {
		if e.Env == env {
			return e
		}
	}
	return apiclient.ReleaseEnvironment{}
}

// trainingSucceeds plays the training operator: run's TFJob in dev
// succeeded at finished.
func (r *releaseRig) trainingSucceeds(app string, run int, finished time.Time) {
	t, ctx := r.t, r.ctx
	name := fmt.Sprintf("%s-r%d", app, run)
	tfjobs := r.c.Dynamic.Resource(tfjobGVR).Namespace("ml-research-dev")
	r.eventually("the TFJob "+name+" in dev", 3*time.Minute, func() (bool, string) {
		_, err := tfjobs.Get(ctx, name, metav1.GetOptions{})
		return err == nil, fmt.Sprint(err)
	})
	for _, ns := range []string{"ml-research-staging", "ml-research-prod"} {
		if _, err := r.c.Dynamic.Resource(tfjobGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
			t.Errorf("%s trains too: only dev (trainIn) runs the training job", ns)
		}
	}
	job, err := tfjobs.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := finished.UTC().Format(time.RFC3339)
	cond := func(typ string) map[string]any {
		return map[string]any{"type": typ, "status": "True", "reason": "TFJob" + typ, "lastUpdateTime": now, "lastTransitionTime": now}
	}
	job.Object["status"] = map[string]any{"conditions": []any{cond("Created"), cond("Succeeded")}, "startTime": now, "completionTime": now,
		"replicaStatuses": map[string]any{"Worker": map[string]any{"succeeded": int64(1)}}}
	if _, err := tfjobs.UpdateStatus(ctx, job, metav1.UpdateOptions{FieldManager: FieldManager}); err != nil {
		t.Fatalf("update TFJob status: %v", err)
	}
}

// revisionReady plays Knative in env: once Argo CD synced the Service
// with run's revision, that revision is Ready, and takes requests that
// answer code.
func (r *releaseRig) revisionReady(app, env string, run, code int) {
	t, ctx := r.t, r.ctx
	ns := "ml-research-" + env
	rev := fmt.Sprintf("%s-r%d", app, run)
	ksvcs := r.c.Dynamic.Resource(kserviceGVR).Namespace(ns)
	var svc *unstructured.Unstructured
	r.eventually(fmt.Sprintf("Argo CD syncs %s's Service with revision %s", env, rev), 3*time.Minute, func() (bool, string) {
		var err error
		if svc, err = ksvcs.Get(ctx, app, metav1.GetOptions{}); err != nil {
			return false, err.Error()
		}
		got := str(svc, "spec", "template", "metadata", "name")
		return got == rev, "template " + got
	})
	now := time.Now().UTC().Format(time.RFC3339)
	svc.Object["status"] = map[string]any{
		"observedGeneration": svc.GetGeneration(),
		"conditions": []any{
			map[string]any{"type": "ConfigurationsReady", "status": "True", "lastTransitionTime": now},
			map[string]any{"type": "Ready", "status": "True", "lastTransitionTime": now},
			map[string]any{"type": "RoutesReady", "status": "True", "lastTransitionTime": now},
		},
		"latestCreatedRevisionName": rev,
		"latestReadyRevisionName":   rev,
	}
	if _, err := ksvcs.UpdateStatus(ctx, svc, metav1.UpdateOptions{FieldManager: FieldManager}); err != nil {
		t.Fatalf("update Service status: %v", err)
	}
	r.prom.Exporter.AddPod(ns, app, rev, 200, 500)
	r.mu.Lock()
	r.traffic[[2]string{ns, rev}] = code
	r.mu.Unlock()
}

// waitStep waits until the API says env of app is at step with serving.
func (r *releaseRig) waitStep(app, env, step string, serving int) apiclient.ReleaseEnvironment {
	r.t.Helper()
	var e apiclient.ReleaseEnvironment
	r.eventually(fmt.Sprintf("%s: %s %s, serving r%d", app, env, step, serving), 3*time.Minute, func() (bool, string) {
		e = releaseEnv(r.view(app), env)
		return e.Step == step && e.Serving == serving && e.Canary == nil, fmt.Sprintf("%+v", e)
	})
	return e
}

// leader is the replica that holds the Lease.
func (r *releaseRig) leader() *releaseReplica {
	l, err := r.c.Dynamic.Resource(pipeline.LeaseResource).Namespace(r.leaseNS).Get(r.ctx, "dmls-release", metav1.GetOptions{})
	if err != nil {
		r.t.Fatalf("the release Lease: %v", err)
	}
	holder := str(l, "spec", "holderIdentity")
	for _, rp := range r.replicas {
		if rp.name == holder {
			return rp
		}
	}
	r.t.Fatalf("the Lease is held by %q, no replica of the test", holder)
	return nil
}

// releaseLog is the release trailers of ml-model's history, oldest first.
func (r *releaseRig) releaseLog() []string {
	var out []string
	msgs := r.srv.Messages(r.t, "ml-model", "")
	slices.Reverse(msgs)
	for _, m := range msgs {
		for _, line := range strings.Split(m, "\n") {
			if strings.HasPrefix(line, "Dmls-Release") || strings.HasPrefix(line, "Dmls-Schedule") {
				out = append(out, line)
			}
		}
	}
	return out
}

// wantLog checks that the trailers hold each of want, in order.
func wantLog(t *testing.T, log []string, want ...string) {
	t.Helper()
	i := 0
	for _, l := range log {
		if i < len(want) && strings.Contains(l, want[i]) {
			i++
		}
	}
	if i < len(want) {
		t.Errorf("git log lacks %q (after the ones before it); the release trailers:\n%s", want[i], strings.Join(log, "\n"))
	}
}

// TestReleaseToProduction drives a model from a scheduled run, through a
// dev canary whose gates hold on a real Prometheus, a staging promotion
// after its soak and a prod approval, to all of prod's traffic; the
// leader is stopped on the way and the other replica goes on. git log
// alone then says why prod serves r2.
func TestReleaseToProduction(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	r := newReleaseRig(t, ctx)
	const app = "mnist-rel"
	r.submit(app)

	r.trainingSucceeds(app, 2, time.Now())
	r.revisionReady(app, "dev", 2, 200)
	r.waitStep(app, "dev", "none", 2)

	// The leader stops (its Lease is given up); the other replica takes
	// over from what git and the cluster hold.
	l := r.leader()
	l.stop()
	for _, rp := range r.replicas {
		if rp != l {
			r.client.BaseURL = rp.url
		}
	}

	r.revisionReady(app, "staging", 2, 200)
	r.waitStep(app, "staging", "none", 2)
	e := r.waitStep(app, "prod", "approval", 1)
	if e.Run != 2 || e.From != "staging" {
		t.Fatalf("prod waits for %+v", e)
	}
	if _, err := r.client.ReleaseAction(ctx, "ml-research", app, "approve", "prod"); err != nil {
		t.Fatalf("approve: %v", err)
	}
	r.revisionReady(app, "prod", 2, 200)
	r.waitStep(app, "prod", "none", 2)
	prod := r.c.Dynamic.Resource(kserviceGVR).Namespace("ml-research-prod")
	r.eventually("Argo CD sends all of prod's traffic to r2", 2*time.Minute, func() (bool, string) {
		svc, err := prod.Get(ctx, app, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		l, _, _ := unstructured.NestedSlice(svc.Object, "spec", "traffic")
		for _, x := range l {
			if m, _ := x.(map[string]any); m["revisionName"] == app+"-r2" && fmt.Sprint(m["percent"]) == "100" ||
				m["latestRevision"] == true && fmt.Sprint(m["percent"]) == "100" && str(svc, "spec", "template", "metadata", "name") == app+"-r2" {
				return true, ""
			}
		}
		return false, mustYAML(l)
	})

	wantLog(t, r.releaseLog(),
		"Dmls-Schedule: app="+app,
		"Dmls-Release: app="+app+" env=dev step=canary run=r2 stable=r1 percent=10",
		"Dmls-Release-Run: app="+app+" run=r2 succeeded=",
		"Dmls-Release: app="+app+" env=dev step=full run=r2",
		"Dmls-Release-Gate: app="+app+" env=dev error-rate pass",
		"Dmls-Release-Gate: app="+app+" env=dev latency-p99 pass",
		"Dmls-Release: app="+app+" env=staging step=canary run=r2 stable=r1 percent=10 from=dev",
		"Dmls-Release: app="+app+" env=staging step=full run=r2",
		"Dmls-Release: app="+app+" env=prod step=canary run=r2 stable=r1 percent=10 from=staging",
		"Dmls-Release-Approver: app="+app+" env=prod e2e",
		"Dmls-Release: app="+app+" env=prod step=full run=r2",
	)
	// Two replicas, each step once.
	seen := map[string]int{}
	for _, l := range r.releaseLog() {
		if strings.HasPrefix(l, "Dmls-Release: ") {
			seen[l]++
		}
	}
	for l, n := range seen {
		if n > 1 {
			t.Errorf("%q committed %d times", l, n)
		}
	}
	r.oneScheduledRun()
	metrics := scrape(t, r.client.BaseURL+"/metrics")
	for _, want := range []string{`dmls_release_decisions_total{kind="full"}`, `dmls_release_gate_evaluations_total{verdict="pass"}`, "dmls_release_success_to_production_seconds_count 1"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestReleaseGateFailsInStaging: the run passes dev, but its revision
// answers 5xx in staging; the error-rate gate fails, staging rolls back
// to r1, r2 is rejected, and prod never sees it.
func TestReleaseGateFailsInStaging(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	r := newReleaseRig(t, ctx)
	const app = "mnist-bad"
	r.submit(app)

	r.trainingSucceeds(app, 2, time.Now())
	r.revisionReady(app, "dev", 2, 200)
	r.waitStep(app, "dev", "none", 2)
	r.revisionReady(app, "staging", 2, 500)
	e := r.waitStep(app, "staging", "none", 1)
	if !strings.Contains(e.Reason, "r2 was rolled back and rejected") {
		t.Errorf("staging: %+v", e)
	}
	if v := r.view(app); !slices.Equal(v.Rejected, []int{2}) {
		t.Errorf("rejected %v, want [2]", v.Rejected)
	}
	if e := releaseEnv(r.view(app), "prod"); e.Serving != 1 || e.Step != "none" {
		t.Errorf("prod: %+v", e)
	}
	staging := r.c.Dynamic.Resource(kserviceGVR).Namespace("ml-research-staging")
	r.eventually("Argo CD sends staging's traffic back to r1", 2*time.Minute, func() (bool, string) {
		svc, err := staging.Get(ctx, app, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		l, _, _ := unstructured.NestedSlice(svc.Object, "spec", "traffic")
		for _, x := range l {
			if m, _ := x.(map[string]any); m["revisionName"] == app+"-r1" && fmt.Sprint(m["percent"]) == "100" {
				return true, ""
			}
		}
		return false, mustYAML(l)
	})
	wantLog(t, r.releaseLog(),
		"Dmls-Release: app="+app+" env=dev step=full run=r2",
		"Dmls-Release: app="+app+" env=staging step=canary run=r2",
		"Dmls-Release: app="+app+" env=staging step=rollback run=r2 rejected=true",
		"Dmls-Release-Gate: app="+app+" env=staging error-rate fail",
		"Dmls-Release-Reason: app="+app+" env=staging r2 rolled back in staging: gate error-rate is",
	)
	for _, l := range r.releaseLog() {
		if strings.Contains(l, "env=prod") {
			t.Errorf("prod was touched: %s", l)
		}
	}
	r.oneScheduledRun()
}

// oneScheduledRun checks what submit's schedule is for: one scheduled run,
// r2, and no tick during the test.
func (r *releaseRig) oneScheduledRun() {
	r.t.Helper()
	var runs []string
	for _, l := range r.releaseLog() {
		if strings.HasPrefix(l, "Dmls-Schedule: ") {
			runs = append(runs, l)
		}
	}
	if len(runs) != 1 || !strings.HasSuffix(runs[0], " run=r2") {
		r.t.Errorf("scheduled runs %q, want r2 alone", runs)
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestReleaseLease: one replica leads at a time. A leader that stops
// renewing (killed) loses the lease after its duration, and one that
// shuts down gives it up at once.
func TestReleaseLease(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	ns := newNamespace(t, c, "dmls-lease")
	clock := time.Now()
	now := func() time.Time { return clock }
	a := &pipeline.Lease{Client: c.Dynamic, Namespace: ns, Name: "dmls-release", Identity: "a", Duration: 10 * time.Second, Now: now}
	b := &pipeline.Lease{Client: c.Dynamic, Namespace: ns, Name: "dmls-release", Identity: "b", Duration: 10 * time.Second, Now: now}
	step := func(l *pipeline.Lease, want bool, what string) {
		t.Helper()
		got, err := l.Acquire(ctx)
		if err != nil || got != want {
			t.Fatalf("%s: %s leads %v (%v), want %v", what, l.Identity, got, err, want)
		}
	}
	step(a, true, "a free lease")
	step(b, false, "a lease held")
	clock = clock.Add(5 * time.Second)
	step(a, true, "a renewal")
	clock = clock.Add(9 * time.Second)
	step(b, false, "a lease renewed 9s ago")
	clock = clock.Add(2 * time.Second) // a was killed: no renewal for 11s
	step(b, true, "an expired lease")
	step(a, false, "a lease another took over")
	b.Release(ctx)
	step(a, true, "a lease given up")
}
