package api

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/dmls-project/dmls/internal/apiclient"
	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/publish"
	"github.com/dmls-project/dmls/internal/workspace"
)

// requestIDs counts the Dmls-Request-Id trailers in ml-model's history.
func (r *repos) requestIDs(t testing.TB) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, m := range r.git.Messages(t, "ml-model", "") {
		for _, line := range strings.Split(m, "\n") {
			if id, ok := strings.CutPrefix(line, "Dmls-Request-Id: "); ok {
				out[id]++
			}
		}
	}
	return out
}

// expectedConfig generates the k8s-config tree from the tip of ml-model,
// as dmls publish would.
func (r *repos) expectedConfig(t testing.TB) map[string]string {
	t.Helper()
	files := map[string][]byte{}
	for p, c := range r.git.Files(t, "ml-model", "") {
		files[p] = []byte(c)
	}
	ws, err := workspace.Load(mapFS(files), "", workspace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := publish.OverrideURLs(ws.Platform, map[string]string{"k8s-config": r.git.RepoURL("k8s-config"), "kubeflow-config": r.git.RepoURL("kubeflow-config"), "ml-model": r.git.RepoURL("ml-model"), "docs": r.git.RepoURL("docs")}); err != nil {
		t.Fatal(err)
	}
	res, err := build.Workspace(ws, build.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for p, b := range res.Repos(ws.Platform)[layout.RepoK8sConfig] {
		out[p] = string(b)
	}
	return out
}

// waitConfig waits until k8s-config holds what ml-model's tip generates.
func (r *repos) waitConfig(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		want := r.expectedConfig(t)
		got := r.git.Files(t, "k8s-config", "")
		if maps.Equal(want, got) {
			return
		}
		if time.Now().After(deadline) {
			var diff []string
			for p := range want {
				if got[p] != want[p] {
					diff = append(diff, p)
				}
			}
			for p := range got {
				if _, ok := want[p]; !ok {
					diff = append(diff, p+" (extra)")
				}
			}
			slices.Sort(diff)
			t.Fatalf("k8s-config differs from what ml-model generates: %v", diff)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestTwoServers runs two servers against one set of repos, as two
// replicas would, and sends both new apps and retrains of one shared app
// at once. Their pushes race; every change must land exactly once, none
// may undo another, and k8s-config must end up generated from the final
// specs.
func TestTwoServers(t *testing.T) {
	r := startRepos(t)
	s1 := startServer(t, r)
	s2 := startServer(t, r)
	ctx := context.Background()
	c1 := s1.client(researchToken)
	c1.Retries = 0
	c2 := s2.client(researchToken)
	c2.Retries = 0
	must(c1.SubmitTrainingJob(ctx, "ml-research", trainingJob("shared")))(t)

	const apps, retrains = 8, 6
	var mu sync.Mutex
	var results []*apiclient.Result
	var errs []error
	var wg sync.WaitGroup
	record := func(res *apiclient.Result, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
			return
		}
		results = append(results, res)
	}
	for i := range apps {
		for j, c := range []*apiclient.Client{c1, c2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				record(c.SubmitTrainingJob(ctx, "ml-research", trainingJob(fmt.Sprintf("app-%d-%d", j, i))))
			}()
		}
	}
	for range retrains {
		for _, c := range []*apiclient.Client{c1, c2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				record(c.Retrain(ctx, "ml-research", "shared"))
			}()
		}
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	files := r.git.Files(t, "ml-model", "")
	for i := range apps {
		for j := range 2 {
			if _, ok := files[fmt.Sprintf("apps/app-%d-%d/app.json", j, i)]; !ok {
				t.Errorf("app-%d-%d is not in ml-model", j, i)
			}
		}
	}
	if run := r.appJSON(t, "shared")["training"].(map[string]any)["run"]; fmt.Sprint(run) != fmt.Sprint(1+2*retrains) {
		t.Errorf("shared is at run %v after %d retrains, want %d: a retrain was lost or doubled", run, 2*retrains, 1+2*retrains)
	}
	ids := r.requestIDs(t)
	for _, res := range results {
		if ids[res.RequestID] != 1 {
			t.Errorf("request %s (%s %s) is in %d commits", res.RequestID, res.Operation, res.App, ids[res.RequestID])
		}
	}
	if len(ids) != len(results)+1 {
		t.Errorf("%d changes in ml-model, want %d", len(ids), len(results)+1)
	}
	r.waitConfig(t)
	t.Logf("ml-model races re-applied: %v and %v", counter(s1.metrics.races), counter(s2.metrics.races))
}

func mapFS(files map[string][]byte) fstest.MapFS {
	fsys := fstest.MapFS{}
	for p, b := range files {
		fsys[p] = &fstest.MapFile{Data: b}
	}
	return fsys
}
