package api

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dmls-project/dmls/internal/apiclient"
	"github.com/dmls-project/dmls/internal/gittest"
)

// TestPipelinedBatches holds the config publish of a first batch and
// checks that the next batches plan and commit to ml-model meanwhile;
// that a batch that loses the compare-and-swap to another writer is
// planned again, alone (not the batch being published, nor the one
// after); that the batches committed while a publish ran are published
// together by the next one; and that every change is in ml-model exactly
// once and answered once, after its config is published.
func TestPipelinedBatches(t *testing.T) {
	r := startRepos(t)
	ts := newServer(t, r)
	open, release := newLatch(t)
	publishes := make(chan int, 10)
	var once sync.Once
	ts.hooks.beforePublish = func(batches int) {
		publishes <- batches
		once.Do(func() { <-open })
	}
	var mu sync.Mutex
	var attempts []int
	ts.hooks.beforeCommit = func(_, attempt int) {
		mu.Lock()
		attempts = append(attempts, attempt)
		n := len(attempts)
		mu.Unlock()
		if n == 2 {
			// Another writer commits between the second batch's plan and
			// its commit.
			_, err := r.pushForeign()
			if err != nil {
				t.Errorf("the other writer: %v", err)
			}
		}
	}
	ts.Start()
	ts.waitReady(t)
	c := ts.client(researchToken)
	c.Retries = 0

	answers := map[string]chan answer{}
	submit := func(app string) { answers[app] = submitAsync(c, app) }
	inMLModel := func(app string) { waitMLModel(t, r, app) }

	submit("pipe-a")
	select {
	case n := <-publishes:
		if n != 1 {
			t.Fatalf("the first publish answers %d batches, want 1", n)
		}
	case <-time.After(time.Minute):
		t.Fatal("the first batch was never published")
	}
	// The first batch's publish is held: the next two batches commit.
	submit("pipe-b")
	inMLModel("pipe-b")
	submit("pipe-c")
	inMLModel("pipe-c")
	for app, ch := range answers {
		select {
		case a := <-ch:
			t.Fatalf("%s was answered before its config was published: %+v %v", app, a.res, a.err)
		default:
		}
	}
	mu.Lock()
	got := slices.Clone(attempts)
	mu.Unlock()
	if want := []int{1, 1, 2, 1}; !slices.Equal(got, want) {
		t.Errorf("commit attempts %v, want %v: only the batch that lost the race is planned again", got, want)
	}
	if n := counter(ts.metrics.races); n != 1 {
		t.Errorf("%v races, want 1", n)
	}

	release()
	select {
	case n := <-publishes:
		if n != 2 {
			t.Errorf("the second publish answers %d batches, want the 2 committed while the first was held", n)
		}
	case <-time.After(time.Minute):
		t.Fatal("no second publish")
	}
	var k8s []string
	for _, app := range []string{"pipe-a", "pipe-b", "pipe-c"} {
		a := <-answers[app]
		if a.err != nil {
			t.Fatalf("%s: %v", app, a.err)
		}
		if !a.res.Changed || a.res.Commit("ml-model") == "" || a.res.Commit("k8s-config") == "" {
			t.Errorf("%s: %+v", app, a.res)
		}
		for _, w := range a.res.Warnings {
			if strings.HasPrefix(w, "config ") {
				t.Errorf("%s: %s", app, w)
			}
		}
		k8s = append(k8s, a.res.Commit("k8s-config"))
	}
	if k8s[1] != k8s[2] || k8s[0] == k8s[1] {
		t.Errorf("k8s-config commits %v: want pipe-b and pipe-c published together, after pipe-a", k8s)
	}
	ids := r.requestIDs(t)
	for app, ch := range answers {
		select {
		case a := <-ch:
			t.Errorf("%s answered twice: %+v", app, a)
		default:
		}
	}
	if len(ids) != 3 {
		t.Errorf("%d changes in ml-model, want 3: %v", len(ids), ids)
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("request %s is in %d commits", id, n)
		}
	}
	if _, ok := r.git.Files(t, "ml-model", "")["apps/foreign/app.json"]; !ok {
		t.Error("the other writer's change was undone")
	}
	r.waitConfig(t)
}

// submitAsync submits a training job for app and returns where its answer
// comes.
func submitAsync(c *apiclient.Client, app string) chan answer {
	ch := make(chan answer, 1)
	go func() {
		res, err := c.SubmitTrainingJob(context.Background(), "ml-research", trainingJob(app))
		ch <- answer{res: res, err: err}
	}()
	return ch
}

// waitMLModel waits until app is in ml-model.
func waitMLModel(t *testing.T, r *repos, app string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if _, ok := r.git.Files(t, "ml-model", "")["apps/"+app+"/app.json"]; ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not reach ml-model while a publish was held", app)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBatchWaitsForPublish checks that the group commit follows the load:
// while a publish runs, a batch smaller than the last one waits for more
// changes rather than committing a few alone, and goes ahead, during the
// publish, once it has as many.
func TestBatchWaitsForPublish(t *testing.T) {
	r := startRepos(t)
	ts := newServer(t, r)
	open, release := newLatch(t)
	var publishes atomic.Int32
	ts.hooks.beforePublish = func(int) {
		if publishes.Add(1) == 2 {
			<-open
		}
	}
	hold := newBatchHold(ts)
	ts.Start()
	ts.waitReady(t)
	c := ts.client(researchToken)
	c.Retries = 0
	if a := <-submitAsync(c, "w-0"); a.err != nil {
		t.Fatal(a.err)
	}

	// w-1 alone, then w-2 to w-4 as one batch while w-1's publish is held.
	answers := map[string]chan answer{}
	hold.armed.Store(true)
	answers["w-1"] = submitAsync(c, "w-1")
	<-hold.held
	for _, app := range []string{"w-2", "w-3", "w-4"} {
		answers[app] = submitAsync(c, app)
	}
	waitQueue(t, ts.Server, 3)
	hold.resume <- struct{}{}
	waitMLModel(t, r, "w-4")

	// One change: fewer than the last batch's three, so it waits.
	answers["y-1"] = submitAsync(c, "y-1")
	waitQueueEmpty(t, ts.Server)
	time.Sleep(300 * time.Millisecond)
	if _, ok := r.git.Files(t, "ml-model", "")["apps/y-1/app.json"]; ok {
		t.Error("y-1 was committed alone while a publish ran and the last batch had 3 changes")
	}
	answers["y-2"] = submitAsync(c, "y-2")
	answers["y-3"] = submitAsync(c, "y-3")
	waitMLModel(t, r, "y-3")
	release()

	commit := map[string]string{}
	for app, ch := range answers {
		a := <-ch
		if a.err != nil {
			t.Fatalf("%s: %v", app, a.err)
		}
		commit[app] = a.res.Commit("ml-model")
	}
	if commit["w-2"] != commit["w-4"] || commit["w-3"] != commit["w-4"] || commit["w-1"] == commit["w-2"] {
		t.Errorf("ml-model commits %v: want w-1 alone and w-2 to w-4 together", commit)
	}
	if commit["y-1"] != commit["y-3"] || commit["y-2"] != commit["y-3"] || commit["y-1"] == commit["w-4"] {
		t.Errorf("ml-model commits %v: want y-1 to y-3 in one batch", commit)
	}
	r.waitConfig(t)
}

// waitQueueEmpty waits until the writer took every queued job.
func waitQueueEmpty(t *testing.T, s *Server) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for s.writer.QueueLen() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs still queued", s.writer.QueueLen())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// newLatch returns a channel that open closes, once; the test's end opens
// it too, so that a failed test leaves nothing held.
func newLatch(t testing.TB) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(ch) }) }
	t.Cleanup(open)
	return ch, open
}

// batchHold holds the writer before its next batch, once armed, until
// resume: the test queues what the batch after it takes.
type batchHold struct {
	armed        atomic.Bool
	held, resume chan struct{}
}

// newBatchHold installs a batchHold as ts's beforeBatch hook (before
// ts.Start).
func newBatchHold(ts *testServer) *batchHold {
	h := &batchHold{held: make(chan struct{}), resume: make(chan struct{})}
	ts.hooks.beforeBatch = func(int) {
		if h.armed.CompareAndSwap(true, false) {
			h.held <- struct{}{}
			<-h.resume
		}
	}
	return h
}

// pushForeign commits an app, foreign, to ml-model as another writer
// would.
func (r *repos) pushForeign() (string, error) {
	return r.git.PushChange("ml-model", gittest.Change{Files: map[string]string{"apps/foreign/app.json": `{
  "name": "foreign",
  "team": "ml-research",
  "training": {"image": "registry.example.com/trainer:1.0", "replicas": {"worker": {"replicas": 1}}}
}
`}})
}
