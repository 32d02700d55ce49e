package api

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/dmls-project/dmls/internal/apiclient"
	"github.com/dmls-project/dmls/internal/gittest"
	"github.com/dmls-project/dmls/internal/rules"
	"github.com/dmls-project/dmls/internal/workspace"
)

// podsInUse loads files and returns the pods team uses in each
// environment, at min scale: what rules.CheckQuotas sums.
func podsInUse(t *testing.T, files map[string]string, team string) map[string]int {
	t.Helper()
	dir := t.TempDir()
	for p, b := range files {
		noErr(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755))
		noErr(t, os.WriteFile(filepath.Join(dir, p), []byte(b), 0o644))
	}
	ws, err := workspace.LoadDir(dir, workspace.Options{})
	noErr(t, err)
	out := map[string]int{}
	for _, e := range ws.Envs {
		out[e.Name] = 0
	}
	for _, a := range ws.Apps {
		for _, u := range rules.QuotaUses(a) {
			if u.Team == team && u.Res == "pods" && !u.Max {
				out[u.Env] += u.Count
			}
		}
	}
	return out
}

// TestQuotaUnderConcurrency is issue 18, section 3: three one-pod
// submissions at once, with room for two, gave one 201 and two 409s
// ("errors outside this change; fix them in git first"), which tell a
// client to stop. A batch that breaks a quota is split greedily in
// arrival order: the first two fit and are committed, the third gets 422
// naming the quota and the app.
func TestQuotaUnderConcurrency(t *testing.T) {
	r := startRepos(t)
	files := seedWorkspace(t)
	used := podsInUse(t, files, "ml-research")
	env := "dev" // the environment where the team uses the most pods
	for e, n := range used {
		if n > used[env] || n == used[env] && e < env {
			env = e
		}
	}
	limit := used[env] + 2 // room for two one-pod jobs there
	platform := strings.Replace(files["platform.cue"], "pods: 100000", fmt.Sprintf("pods: %d", limit), 1)
	if platform == files["platform.cue"] {
		t.Fatal("no quota to narrow in platform.cue")
	}
	r.git.Push(t, "ml-model", gittest.Change{Files: map[string]string{"platform.cue": platform}, Message: "narrow the quota"})

	ts := startServer(t, r)
	c, ctx, g := ts.client(researchToken), context.Background(), newGate()
	one := func(name string) apiclient.TrainingJobSubmission {
		s := trainingJob(name)
		s.Envs = []string{env}
		s.Training.(map[string]any)["replicas"] = map[string]any{"worker": map[string]any{"replicas": 1}}
		return s
	}
	// A first change holds the writer while the three queue up, so
	// that they are one batch, in a known order.
	ts.hooks.beforeBatch = g.hook
	answers := make([]answer, 4)
	var wg sync.WaitGroup
	send := func(i int, name string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i].res, answers[i].err = c.SubmitTrainingJob(ctx, "ml-research", one(name), apiclient.Status(&answers[i].status))
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		answers[0].res, answers[0].err = ts.client(servingToken).SubmitTrainingJob(ctx, "ml-serving", trainingJob("holder"), apiclient.Status(&answers[0].status))
	}()
	<-g.entered
	for i, name := range []string{"edge-a", "edge-b", "edge-c"} {
		send(i+1, name)
		waitQueue(t, ts.Server, i+1)
	}
	g.release()
	wg.Wait()
	for i, want := range []int{201, 201, 201, 422} {
		if answers[i].status != want {
			t.Errorf("change %d: status %d, want %d (%v)", i, answers[i].status, want, answers[i].err)
		}
	}
	if err := answers[3].err; err == nil || !strings.Contains(err.Error(), "app edge-c does not fit teams.ml-research.quota.pods") ||
		!strings.Contains(err.Error(), fmt.Sprintf("over the quota of %d", limit)) {
		t.Errorf("the 422 does not name the app and the quota: %v", err)
	}
	files2 := r.git.Files(t, "ml-model", "")
	for app, want := range map[string]bool{"edge-a": true, "edge-b": true, "edge-c": false} {
		if _, ok := files2["apps/"+app+"/app.json"]; ok != want {
			t.Errorf("apps/%s in ml-model: %v, want %v", app, ok, want)
		}
	}
	// Then, with the quota full, one more alone gets 422 too, never 409.
	var status int
	_, err := c.SubmitTrainingJob(ctx, "ml-research", one("edge-d"), apiclient.Status(&status))
	if status != 422 || err == nil || !strings.Contains(err.Error(), "app edge-d does not fit teams.ml-research.quota.pods") {
		t.Errorf("a submission over a full quota: %d %v, want 422", status, err)
	}
	// A change that frees room is accepted.
	if _, err := c.DeleteTrainingJob(ctx, "ml-research", "edge-a"); err != nil {
		t.Errorf("delete: %v", err)
	}
	if _, err := c.SubmitTrainingJob(ctx, "ml-research", one("edge-d")); err != nil {
		t.Errorf("a submission after room was made: %v", err)
	}
}
