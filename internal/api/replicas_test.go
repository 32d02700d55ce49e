package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dmls-project/dmls/internal/apiclient"
	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/gitops"
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

// TestStaleCommitIsRefused commits twice from one read: the second commit
// must fail with gitops.ErrStale rather than undo the first.
func TestStaleCommitIsRefused(t *testing.T) {
	r := startRepos(t)
	st := newStore(gitops.Target{Name: "ml-model", URL: r.git.RepoURL("ml-model")}, "", nil, r.auth(), gitops.Signature{})
	ctx := context.Background()
	sn, err := st.read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	app := func(name string) []byte {
		return []byte(`{"name":"` + name + `","team":"ml-research","training":{"image":"registry.example.com/t:1","replicas":{"worker":{"replicas":1}}}}`)
	}
	next, err := st.commit(ctx, sn, map[string][]byte{"one": app("one")}, "one", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.commit(ctx, sn, map[string][]byte{"two": app("two")}, "two", nil, nil); !errors.Is(err, gitops.ErrStale) {
		t.Fatalf("a commit from a stale read: %v, want ErrStale", err)
	}
	// From the commit's own snapshot, and from a new read, it goes through.
	third, err := st.commit(ctx, next, map[string][]byte{"two": app("two")}, "two", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.commit(ctx, next, map[string][]byte{"three": app("three")}, "three", nil, nil); !errors.Is(err, gitops.ErrStale) {
		t.Fatalf("a commit from a superseded snapshot: %v, want ErrStale", err)
	}
	fresh, err := st.read(ctx)
	if err != nil || fresh.sha != third.sha {
		t.Fatalf("read %v %v", fresh, err)
	}
	if _, err := st.commit(ctx, fresh, map[string][]byte{"three": app("three")}, "three", nil, nil); err != nil {
		t.Fatal(err)
	}
	files := r.git.Files(t, "ml-model", "")
	for _, name := range []string{"one", "two", "three"} {
		if _, ok := files["apps/"+name+"/app.json"]; !ok {
			t.Errorf("%s is missing", name)
		}
	}
}

// TestIncrementalBuildMatchesBuild checks that the server's build, with
// URL overrides and apps from its caches, gives the same config repo trees
// as build.Workspace on a fresh load, and that a new snapshot evaluates
// only the app that changed.
func TestIncrementalBuildMatchesBuild(t *testing.T) {
	files := map[string][]byte{}
	for p, c := range seedWorkspace(t) {
		files[p] = []byte(c)
	}
	for i := range 3 {
		files[fmt.Sprintf("apps/job-%d/app.json", i)] = []byte(fmt.Sprintf(`{"name":"job-%d","team":"ml-serving","training":{"image":"registry.example.com/t:%d","replicas":{"worker":{"replicas":2}}}}`, i, i))
	}
	urls := map[string]string{"k8s-config": "https://git.example.com/other/k8s-config.git"}
	st := newStore(gitops.Target{URL: "unused"}, "", urls, gitops.Auth{}, gitops.Signature{})
	sn := st.install(1, "0000000000000000000000000000000000000000", files, nil)
	res, ws, err := sn.build()
	if err != nil {
		t.Fatal(err)
	}
	got := res.Repos(ws.Platform)

	full, err := workspace.Load(mapFS(files), "", workspace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := publish.OverrideURLs(full.Platform, urls); err != nil {
		t.Fatal(err)
	}
	want, err := build.Workspace(full, build.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for repo, tree := range want.Repos(full.Platform) {
		if len(tree) != len(got[repo]) {
			t.Errorf("%s: %d files, want %d", repo, len(got[repo]), len(tree))
		}
		for p, b := range tree {
			if !bytes.Equal(got[repo][p], b) {
				t.Errorf("%s: %s differs", repo, p)
			}
		}
	}
	// A second snapshot that changes one app loads only that app.
	files["apps/job-1/app.json"] = []byte(`{"name":"job-1","team":"ml-serving","training":{"image":"registry.example.com/t:9","replicas":{"worker":{"replicas":2}}}}`)
	sn2 := st.install(2, "1111111111111111111111111111111111111111", files, nil)
	for dir, e := range sn2.dirs {
		if reused := e.app == sn.dirs[dir].app && e.built == sn.dirs[dir].built; reused == (dir == "job-1") {
			t.Errorf("%s: reused %v", dir, reused)
		}
	}
}
