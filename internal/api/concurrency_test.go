package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dmls-project/dmls/internal/apiclient"
)

// gate blocks the writer before each batch until it is opened, so that a
// test can fill the queue.
type gate struct {
	entered chan int
	open    chan struct{}
	once    sync.Once
}

func newGate() *gate { return &gate{entered: make(chan int, 100), open: make(chan struct{})} }

func (g *gate) hook(jobs int) {
	g.entered <- jobs
	<-g.open
}

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

// waitQueue waits until n jobs wait in the queue.
func waitQueue(t *testing.T, s *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for s.writer.QueueLen() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs in the queue, want %d", s.writer.QueueLen(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type answer struct {
	res    *apiclient.Result
	err    error
	status int
}

// TestGroupCommit queues changes while the writer is busy and checks
// that they land in one ml-model commit, that each gets its own answer,
// and that an invalid change in the batch is rejected alone.
func TestGroupCommit(t *testing.T) {
	r := startRepos(t)
	g := newGate()
	ts := newServer(t, r)
	ts.Start()
	ts.waitReady(t)
	c := ts.client(researchToken)
	ctx := context.Background()
	must(c.SubmitTrainingJob(ctx, "ml-research", trainingJob("mnist")))(t)
	ts.hooks.beforeBatch = g.hook

	// The first change occupies the writer; the next four wait in the queue.
	answers := make([]answer, 5)
	var wg sync.WaitGroup
	send := func(i int, f func(opt apiclient.Option) (*apiclient.Result, error)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i].res, answers[i].err = f(apiclient.Status(&answers[i].status))
		}()
	}
	send(0, func(o apiclient.Option) (*apiclient.Result, error) { return c.Retrain(ctx, "ml-research", "mnist", o) })
	<-g.entered
	before := r.git.CommitCount(t, "ml-model", "")
	send(1, func(o apiclient.Option) (*apiclient.Result, error) {
		return c.SubmitTrainingJob(ctx, "ml-research", trainingJob("job-a"), o)
	})
	waitQueue(t, ts.Server, 1)
	send(2, func(o apiclient.Option) (*apiclient.Result, error) {
		return c.SetTrainingJob(ctx, "ml-research", "mnist", map[string]any{"replicas": map[string]any{"worker": map[string]any{"replicas": 0}}}, apiclient.SetOptions{}, o)
	})
	waitQueue(t, ts.Server, 2)
	send(3, func(o apiclient.Option) (*apiclient.Result, error) {
		return c.SetTrainingJob(ctx, "ml-research", "mnist", map[string]any{"image": "registry.example.com/trainer:3.0"}, apiclient.SetOptions{}, o)
	})
	waitQueue(t, ts.Server, 3)
	send(4, func(o apiclient.Option) (*apiclient.Result, error) { return c.Retrain(ctx, "ml-research", "mnist", o) })
	waitQueue(t, ts.Server, 4)
	g.release()
	wg.Wait()

	for i, want := range []int{202, 201, 400, 202, 202} {
		if answers[i].status != want {
			t.Errorf("change %d: status %d, want %d (%v)", i, answers[i].status, want, answers[i].err)
		}
	}
	// One commit for the first change, one for the batch of four.
	if n := r.git.CommitCount(t, "ml-model", "") - before; n != 2 {
		t.Errorf("two batches made %d ml-model commits, want 2", n)
	}
	sha := r.git.Head(t, "ml-model", "")
	if answers[0].res.Commit("ml-model") == sha {
		t.Error("the first change shares the batch's commit")
	}
	for _, i := range []int{1, 3, 4} {
		if got := answers[i].res.Commit("ml-model"); got != sha {
			t.Errorf("change %d: commit %s, want the batch's %s", i, got, sha)
		}
	}
	if answers[4].res.TrainingJob.Run != 3 {
		t.Errorf("run %d after two retrains, want 3", answers[4].res.TrainingJob.Run)
	}
	tr := r.appJSON(t, "mnist")["training"].(map[string]any)
	if tr["image"] != "registry.example.com/trainer:3.0" || fmt.Sprint(tr["replicas"]) != "map[worker:map[replicas:2]]" {
		t.Errorf("mnist after the batch: %v", tr)
	}
	msg := r.git.Messages(t, "ml-model", "")[0]
	if !strings.Contains(msg, "3 changes to job-a, mnist") || strings.Count(msg, "Dmls-Request-Id: ") != 3 {
		t.Errorf("commit message:\n%s", msg)
	}
}

// TestQueueFull fills the queue and checks 429 with Retry-After.
func TestQueueFull(t *testing.T) {
	r := startRepos(t)
	g := newGate()
	ts := newServer(t, r, func(c *Config) { c.QueueSize = 1; c.MaxBatch = 1 })
	ts.Start()
	ts.waitReady(t)
	ts.hooks.beforeBatch = g.hook
	defer g.release()
	c := ts.client(researchToken)
	ctx := context.Background()
	var wg sync.WaitGroup
	statuses := make([]int, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = c.SubmitTrainingJob(ctx, "ml-research", trainingJob(fmt.Sprintf("job-%d", i)), apiclient.Status(&statuses[i]))
		}()
		if i == 0 {
			<-g.entered
		} else {
			waitQueue(t, ts.Server, 1)
		}
	}
	status, h, body := ts.do(t, "POST", "/v1/teams/ml-research/trainingjobs", researchToken, []byte(`{"name":"job-2","training":{"image":"registry.example.com/t:1","replicas":{"worker":{"replicas":1}}}}`))
	if status != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Errorf("full queue: %d Retry-After %q: %s", status, h.Get("Retry-After"), body)
	}
	g.release()
	wg.Wait()
	if statuses[0] != 201 || statuses[1] != 201 {
		t.Errorf("queued changes: %v, want 201 201", statuses)
	}
}

// TestIdempotentReplay repeats a change with the same Idempotency-Key, in
// turn and at once, and checks that it gets the first body and makes one
// commit.
func TestIdempotentReplay(t *testing.T) {
	r := startRepos(t)
	ts := startServer(t, r)
	c := ts.client(researchToken)
	ctx := context.Background()
	must(c.SubmitTrainingJob(ctx, "ml-research", trainingJob("mnist")))(t)

	before := r.git.CommitCount(t, "ml-model", "")
	key := []string{"Idempotency-Key", "retrain-1"}
	s1, h1, b1 := ts.do(t, "POST", "/v1/teams/ml-research/trainingjobs/mnist/retrain", researchToken, nil, key...)
	s2, h2, b2 := ts.do(t, "POST", "/v1/teams/ml-research/trainingjobs/mnist/retrain", researchToken, nil, key...)
	if s1 != 202 || s2 != 202 || string(b1) != string(b2) {
		t.Errorf("replay differs:\n%d %s\n%d %s", s1, b1, s2, b2)
	}
	if h1.Get("Idempotent-Replayed") != "" || h2.Get("Idempotent-Replayed") != "true" {
		t.Errorf("Idempotent-Replayed: %q then %q", h1.Get("Idempotent-Replayed"), h2.Get("Idempotent-Replayed"))
	}
	if n := r.git.CommitCount(t, "ml-model", "") - before; n != 1 {
		t.Errorf("%d commits for one change sent twice", n)
	}

	// Ten at once with one key: one commit, one body.
	before = r.git.CommitCount(t, "ml-model", "")
	bodies := make([]string, 10)
	var wg sync.WaitGroup
	for i := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, b := ts.do(t, "POST", "/v1/teams/ml-research/trainingjobs/mnist/retrain", researchToken, nil, "Idempotency-Key", "retrain-2")
			bodies[i] = string(b)
		}()
	}
	wg.Wait()
	for i := range bodies {
		if bodies[i] != bodies[0] {
			t.Errorf("answer %d differs:\n%s\n%s", i, bodies[i], bodies[0])
		}
	}
	if n := r.git.CommitCount(t, "ml-model", "") - before; n != 1 {
		t.Errorf("%d commits for one change sent ten times at once", n)
	}
	if job := must(c.TrainingJob(ctx, "ml-research", "mnist"))(t); job.Run != 3 {
		t.Errorf("run %d, want 3", job.Run)
	}

	// Keys are per actor: another team's same key is another request.
	sc := ts.client(servingToken)
	var replayed bool
	must(sc.RolloutModel(ctx, "ml-serving", "ranker", apiclient.Rollout{Image: "registry.example.com/ranker:2.0"},
		apiclient.WithIdempotencyKey("retrain-1"), apiclient.Replayed(&replayed)))(t)
	if replayed {
		t.Error("another actor's key was replayed")
	}
}

// TestPanicIs500 makes a handler panic and checks 500, an audit line, and
// that the server answers the next request.
func TestPanicIs500(t *testing.T) {
	r := startRepos(t)
	ts := startServer(t, r)
	ts.hooks.beforeHandle = func(r *http.Request) {
		if r.Header.Get("X-Test-Panic") != "" {
			panic("boom")
		}
	}
	status, _, body := ts.do(t, "POST", "/v1/teams/ml-research/trainingjobs", researchToken, []byte(`{}`), "X-Test-Panic", "1", "Idempotency-Key", "p-1")
	if status != http.StatusInternalServerError || !strings.Contains(string(body), "internal error") {
		t.Errorf("panic: %d %s", status, body)
	}
	if strings.Contains(string(body), "boom") {
		t.Errorf("the panic value leaked: %s", body)
	}
	// The key of the failed request is free again, and the server is up.
	res := must(ts.client(researchToken).SubmitTrainingJob(context.Background(), "ml-research", trainingJob("mnist"), apiclient.WithIdempotencyKey("p-1")))(t)
	if !res.Changed {
		t.Error("the change after the panic did nothing")
	}
	lines := ts.audit.lines(t)
	if lines[0]["status"] != float64(500) || lines[0]["outcome"] != "failed" {
		t.Errorf("audit line of the panic: %v", lines[0])
	}
}

// TestNotReady checks 503 and /readyz before the server read ml-model.
func TestNotReady(t *testing.T) {
	r := startRepos(t)
	ts := newServer(t, r)
	status, h, _ := ts.do(t, "POST", "/v1/teams/ml-research/trainingjobs/x/retrain", researchToken, nil)
	if status != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
		t.Errorf("before start: %d Retry-After %q", status, h.Get("Retry-After"))
	}
	if status, _, _ := ts.do(t, "GET", "/readyz", "", nil); status != 503 {
		t.Errorf("/readyz before start: %d", status)
	}
	if status, _, _ := ts.do(t, "GET", "/healthz", "", nil); status != 200 {
		t.Errorf("/healthz: %d", status)
	}
	ts.Start()
	ts.waitReady(t)
	if status, _, _ := ts.do(t, "GET", "/readyz", "", nil); status != 200 {
		t.Errorf("/readyz after start: %d", status)
	}
}

// TestGracefulShutdown shuts the server down while changes wait and
// checks that every accepted change is committed and answered, and that
// changes after the start of the shutdown get 503.
func TestGracefulShutdown(t *testing.T) {
	r := startRepos(t)
	g := newGate()
	ts := newServer(t, r)
	ts.Start()
	ts.waitReady(t)
	ts.hooks.beforeBatch = g.hook
	defer g.release()
	c := ts.client(researchToken)
	ctx := context.Background()
	answers := make([]answer, 3)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i].res, answers[i].err = c.SubmitTrainingJob(ctx, "ml-research", trainingJob(fmt.Sprintf("job-%d", i)), apiclient.Status(&answers[i].status))
		}()
		if i == 0 {
			<-g.entered
		} else {
			waitQueue(t, ts.Server, i)
		}
	}
	done := make(chan error, 1)
	go func() { done <- ts.Shutdown(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for ts.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("still ready after Shutdown")
		}
		time.Sleep(5 * time.Millisecond)
	}
	status, h, _ := ts.do(t, "POST", "/v1/teams/ml-research/trainingjobs", researchToken, []byte(`{"name":"late","training":{"image":"registry.example.com/t:1","replicas":{"worker":{"replicas":1}}}}`))
	if status != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
		t.Errorf("change during shutdown: %d", status)
	}
	if status, _, _ := ts.do(t, "GET", "/readyz", "", nil); status != 503 {
		t.Errorf("/readyz during shutdown: %d", status)
	}
	g.release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	files := r.git.Files(t, "ml-model", "")
	for i, a := range answers {
		if a.status != 201 {
			t.Errorf("change %d: %d %v", i, a.status, a.err)
		}
		if _, ok := files[fmt.Sprintf("apps/job-%d/app.json", i)]; !ok {
			t.Errorf("job-%d is not in ml-model", i)
		}
	}
	if _, ok := files["apps/late/app.json"]; ok {
		t.Error("the change refused during shutdown was committed")
	}
}

// TestCommitRefused makes ml-model refuse pushes and checks that the
// change gets an error (502), not a silent drop, and that nothing reaches
// k8s-config.
func TestCommitRefused(t *testing.T) {
	r := startRepos(t)
	ts := startServer(t, r)
	k8s := r.git.Head(t, "k8s-config", "")
	r.git.SetHook(t, "ml-model", "pre-receive", "#!/bin/sh\necho 'frozen for an audit' >&2\nexit 1\n")
	_, err := ts.client(researchToken).SubmitTrainingJob(context.Background(), "ml-research", trainingJob("mnist"))
	var e *apiclient.Error
	if !asError(err, &e) || e.Status != http.StatusBadGateway || !strings.Contains(e.Error(), "nothing was committed") {
		t.Fatalf("refused push: %v", err)
	}
	if got := r.git.Head(t, "k8s-config", ""); got != k8s {
		t.Error("k8s-config changed although ml-model refused the change")
	}
}
