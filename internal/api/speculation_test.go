package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dmls-project/dmls/internal/apiclient"
)

// TestSpeculativePlanning holds the ml-model push of a batch and checks
// that the next batch is planned meanwhile, on the workspace the held
// batch leaves: a retrain of the app the held batch creates, which a
// plan on ml-model's tip would answer 404. When the held push lands, the
// plan is kept and committed on top of it. When another writer moved
// ml-model under the held batch, the held batch is planned again and so
// is the batch planned on it, and nothing more: every change is in
// ml-model once, on top of the other writer's.
//
// When ml-model refuses the held push (a hook), the held batch is
// answered 502, and the retrain is planned again on ml-model as it is,
// which has no spec-a: nothing planned on a push that did not land is
// committed.
func TestSpeculativePlanning(t *testing.T) {
	for _, c := range []string{"landed", "lost race", "refused"} {
		t.Run(c, func(t *testing.T) { testSpeculativePlanning(t, c) })
	}
}

func testSpeculativePlanning(t *testing.T, how string) {
	race := how == "lost race"
	r := startRepos(t)
	ts := newServer(t, r)
	open, release := newLatch(t)
	held := make(chan struct{})
	var mu sync.Mutex
	var attempts []int
	var holdOnce sync.Once
	armed := false
	ts.hooks.beforeCommit = func(_, attempt int) {
		mu.Lock()
		attempts = append(attempts, attempt)
		hold := armed
		mu.Unlock()
		if hold {
			holdOnce.Do(func() {
				close(held)
				<-open
			})
		}
	}
	plans := make(chan bool, 10)
	ts.hooks.afterPlan = func(_ int, speculative bool) { plans <- speculative }
	ts.Start()
	ts.waitReady(t)
	c := ts.client(researchToken)
	c.Retries = 0
	ctx := context.Background()

	// A first batch, committed as usual.
	must(c.SubmitTrainingJob(ctx, "ml-research", trainingJob("spec-0")))(t)
	mu.Lock()
	armed, attempts = true, nil
	mu.Unlock()
	drain(plans)

	create := submitAsync(c, "spec-a")
	select {
	case <-held:
	case <-time.After(time.Minute):
		t.Fatal("the batch of spec-a never committed")
	}
	if s := <-plans; s {
		t.Fatal("spec-a was planned on a batch in flight, with none in flight")
	}
	retrain := make(chan answer, 1)
	go func() {
		res, err := c.Retrain(ctx, "ml-research", "spec-a")
		retrain <- answer{res: res, err: err}
	}()
	select {
	case s := <-plans:
		if !s {
			t.Fatal("the retrain was planned on ml-model's tip while spec-a's push was held")
		}
	case <-time.After(time.Minute):
		t.Fatal("the retrain was not planned while spec-a's push was held")
	}
	if _, ok := r.git.Files(t, "ml-model", "")["apps/spec-a/app.json"]; ok {
		t.Fatal("spec-a is in ml-model while its push is held")
	}
	if race {
		_, err := r.pushForeign()
		if err != nil {
			t.Fatalf("the other writer: %v", err)
		}
	}
	if how == "refused" {
		r.git.SetHook(t, "ml-model", "pre-receive", "#!/bin/sh\necho 'frozen for an audit' >&2\nexit 1\n")
	}
	release()

	a, b := <-create, <-retrain
	if how == "refused" {
		var ae *apiclient.Error
		if !asError(a.err, &ae) || ae.Status != http.StatusBadGateway {
			t.Errorf("spec-a, whose push ml-model refused: %v, want 502", a.err)
		}
		if !asError(b.err, &ae) || ae.Status != http.StatusNotFound {
			t.Errorf("the retrain planned on spec-a's refused push: %+v, %v; want 404, planned again without spec-a", b.res, b.err)
		}
		if n := counter(ts.metrics.speculation.WithLabelValues("replanned")); n != 1 {
			t.Errorf("%v speculative plans planned again, want 1", n)
		}
		if ids := r.requestIDs(t); len(ids) != 1 {
			t.Errorf("%d changes in ml-model, want spec-0's alone: %v", len(ids), ids)
		}
		if _, ok := r.git.Files(t, "ml-model", "")["apps/spec-a/app.json"]; ok {
			t.Error("spec-a is in ml-model")
		}
		return
	}
	if a.err != nil || b.err != nil {
		t.Fatalf("spec-a: %v; retrain: %v", a.err, b.err)
	}
	if !b.res.Changed || b.res.Commit("ml-model") == "" || b.res.Commit("ml-model") == a.res.Commit("ml-model") {
		t.Errorf("the retrain: %+v, want a commit of its own after spec-a's %s", b.res, a.res.Commit("ml-model"))
	}
	if got := fmt.Sprint(runOf(t, r, "spec-a")); got != "2" {
		t.Errorf("spec-a's training run is %v in ml-model, want 2 (created, then retrained)", got)
	}
	mu.Lock()
	got := slices.Clone(attempts)
	mu.Unlock()
	want, kept, replanned, races := []int{1, 1}, 1.0, 0.0, 0.0
	if race {
		// spec-a again, on the other writer's commit, and the retrain
		// once, planned again on spec-a's new plan.
		want, kept, replanned, races = []int{1, 2, 1}, 1, 1, 1
	}
	if !slices.Equal(got, want) {
		t.Errorf("commit attempts %v, want %v", got, want)
	}
	if n := counter(ts.metrics.speculation.WithLabelValues("kept")); n != kept {
		t.Errorf("%v speculative plans kept, want %v", n, kept)
	}
	if n := counter(ts.metrics.speculation.WithLabelValues("replanned")); n != replanned {
		t.Errorf("%v speculative plans planned again, want %v", n, replanned)
	}
	if n := counter(ts.metrics.races); n != races {
		t.Errorf("%v races, want %v", n, races)
	}
	ids := r.requestIDs(t)
	if len(ids) != 3 {
		t.Errorf("%d changes in ml-model, want 3: %v", len(ids), ids)
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("request %s is in %d commits", id, n)
		}
	}
	if _, ok := r.git.Files(t, "ml-model", "")["apps/foreign/app.json"]; ok != race {
		t.Errorf("the other writer's app in ml-model: %v, want %v", ok, race)
	}
	r.waitConfig(t)
}

// runOf reads app's training run from the tip of ml-model.
func runOf(t *testing.T, r *repos, app string) any {
	t.Helper()
	tr, _ := r.appJSON(t, app)["training"].(map[string]any)
	return tr["run"]
}

func drain(ch chan bool) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// TestPanicInCommit checks that a panic while a batch is pushed answers
// its jobs 500, once, and that the writer goes on.
func TestPanicInCommit(t *testing.T) {
	r := startRepos(t)
	ts := newServer(t, r)
	var once sync.Once
	ts.hooks.beforeCommit = func(int, int) { once.Do(func() { panic("boom") }) }
	ts.Start()
	ts.waitReady(t)
	c := ts.client(researchToken)
	c.Retries = 0
	_, err := c.SubmitTrainingJob(context.Background(), "ml-research", trainingJob("boom"))
	var ae *apiclient.Error
	if !asError(err, &ae) || ae.Status != http.StatusInternalServerError || !strings.Contains(err.Error(), "internal error while committing") {
		t.Fatalf("the job of the batch that panicked: %v, want 500", err)
	}
	res := must(c.SubmitTrainingJob(context.Background(), "ml-research", trainingJob("after-boom")))(t)
	if !res.Changed || res.Commit("ml-model") == "" {
		t.Errorf("the batch after the panic: %+v", res)
	}
	r.waitConfig(t)
}

// TestLandedTipIsReadBeforeRejecting: a batch right after a push that
// landed plans on that push's commit without reading ml-model, since its
// own push's compare-and-swap tells whether that is still the tip. A
// batch that commits nothing has no such check: here another writer
// added an app after the push landed, and a retrain of it, planned on
// the landed commit alone, would have been answered 404.
func TestLandedTipIsReadBeforeRejecting(t *testing.T) {
	r := startRepos(t)
	ts := newServer(t, r)
	commitOpen, commitRelease := newLatch(t)
	committing := make(chan struct{})
	var commitOnce sync.Once
	ts.hooks.beforeCommit = func(jobs, attempt int) {
		if jobs == 2 && attempt == 1 {
			commitOnce.Do(func() {
				close(committing)
				<-commitOpen
			})
		}
	}
	pubOpen, pubRelease := newLatch(t)
	published := make(chan struct{})
	var pubArmed atomic.Bool
	var pubOnce sync.Once
	ts.hooks.beforePublish = func(batches int) {
		if batches > 0 && pubArmed.Load() {
			pubOnce.Do(func() {
				close(published)
				<-pubOpen
			})
		}
	}
	handled := make(chan struct{})
	var handledOnce sync.Once
	ts.hooks.beforeHandle = func(r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/retrain") {
			handledOnce.Do(func() { close(handled) })
		}
	}
	hold := newBatchHold(ts)
	ts.Start()
	ts.waitReady(t)
	c := ts.client(researchToken)
	c.Retries = 0
	ctx := context.Background()

	// land-0 alone, then land-1 and land-2 in one batch, so that a batch
	// of one after it waits for its push and its publish.
	hold.armed.Store(true)
	a0 := submitAsync(c, "land-0")
	<-hold.held
	a1, a2 := submitAsync(c, "land-1"), submitAsync(c, "land-2")
	waitQueue(t, ts.Server, 2)
	hold.resume <- struct{}{}
	if a := <-a0; a.err != nil {
		t.Fatal(a.err)
	}
	select {
	case <-committing:
	case <-time.After(time.Minute):
		t.Fatal("the batch of land-1 and land-2 never committed")
	}
	// The retrain of foreign is queued while that push is held: the
	// writer takes it at once and waits for that push to land.
	retrain := make(chan answer, 1)
	go func() {
		res, err := c.Retrain(ctx, "ml-research", "foreign")
		retrain <- answer{res: res, err: err}
	}()
	<-handled
	time.Sleep(200 * time.Millisecond)
	pubArmed.Store(true)
	commitRelease()
	select {
	case <-published:
	case <-time.After(time.Minute):
		t.Fatal("the batch of land-1 and land-2 was never published")
	}
	// The push landed; another writer adds foreign before the retrain's
	// batch, which waits for the publish, is planned.
	if _, err := r.pushForeign(); err != nil {
		t.Fatalf("the other writer: %v", err)
	}
	pubRelease()
	for _, ch := range []chan answer{a1, a2} {
		if a := <-ch; a.err != nil {
			t.Fatal(a.err)
		}
	}
	b := <-retrain
	if b.err != nil {
		t.Fatalf("the retrain of the app another writer added: %v", b.err)
	}
	if got := fmt.Sprint(runOf(t, r, "foreign")); got != "2" {
		t.Errorf("foreign's training run is %v in ml-model, want 2", got)
	}
	r.waitConfig(t)
}
