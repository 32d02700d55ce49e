package api

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

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
	open := make(chan struct{})
	var opened sync.Once
	release := func() { opened.Do(func() { close(open) }) }
	// A failed test must not leave the writer held.
	t.Cleanup(release)
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
			_, err := r.git.PushChange("ml-model", gittest.Change{Files: map[string]string{"apps/foreign/app.json": `{
  "name": "foreign",
  "team": "ml-research",
  "training": {"image": "registry.example.com/trainer:1.0", "replicas": {"worker": {"replicas": 1}}}
}
`}})
			if err != nil {
				t.Errorf("the other writer: %v", err)
			}
		}
	}
	ts.Start()
	ts.waitReady(t)
	c := ts.client(researchToken)
	c.Retries = 0
	ctx := context.Background()

	answers := map[string]chan answer{}
	submit := func(app string) {
		ch := make(chan answer, 1)
		answers[app] = ch
		go func() {
			res, err := c.SubmitTrainingJob(ctx, "ml-research", trainingJob(app))
			ch <- answer{res: res, err: err}
		}()
	}
	inMLModel := func(app string) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			if _, ok := r.git.Files(t, "ml-model", "")["apps/"+app+"/app.json"]; ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not reach ml-model while the first publish was held", app)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

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
