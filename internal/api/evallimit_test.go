package api

import (
	"context"
	"log/slog"
	"os"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/dmls-project/dmls/internal/apiclient"
	"github.com/dmls-project/dmls/internal/evallimit"
	"github.com/dmls-project/dmls/internal/gittest"
)

func TestMain(m *testing.M) {
	// The evaluation pools of the tests start this binary as their workers.
	os.Exit(evallimit.Main(m.Run))
}

// TestCUEBombIsIsolated is issue 18, section 2: a CUE bomb committed by
// hand to ml-model (before, 23 s of another team's CPU) does not stop
// another team's submission. The server evaluates each app first in a
// worker process under the limits; the bomb's worker is killed and
// replaced, and the app is a broken app whose finding names the app, its
// file and the limit. The bombs are the CLI's (eval-limits.txtar).
func TestCUEBombIsIsolated(t *testing.T) {
	ar, err := txtar.ParseFile("../cli/testdata/script/eval-limits.txtar")
	if err != nil {
		t.Fatal(err)
	}
	bombs := map[string]string{}
	for _, f := range ar.Files {
		if name, ok := strings.CutPrefix(f.Name, "bombs/"); ok {
			app := "bomb-" + strings.TrimSuffix(name, ".cue")
			src := strings.Replace(string(f.Data), `name: "x"`, `name: "`+app+`"`, 1)
			bombs["apps/"+app+"/app.cue"] = strings.Replace(src, `team: "research"`, `team: "ml-research"`, 1)
		}
	}
	if len(bombs) < 5 {
		t.Fatalf("found %d bombs in eval-limits.txtar, want 5", len(bombs))
	}
	r := startRepos(t)
	limits := evallimit.Limits{Timeout: 2 * time.Second, Memory: 256 << 20}
	pool := evallimit.NewPool(limits, 2, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	defer pool.Close()
	ts := startServer(t, r, func(c *Config) { c.Eval = pool })
	ctx := context.Background()
	sc := ts.client(servingToken)

	// The apps are good at first (so that, broken, they keep their last
	// good config, as TestBrokenAppIsIsolated's do); then bombs replace
	// them, by hand.
	good := map[string]string{}
	for file := range bombs {
		app := path.Base(path.Dir(file))
		good[file] = `name: "` + app + `"
team: "ml-research"
training: {image: "registry.example.com/t:1", replicas: worker: replicas: 1}
`
	}
	r.git.Push(t, "ml-model", gittest.Change{Files: good, Message: "good apps"})
	must(sc.RolloutModel(ctx, "ml-serving", "ranker", apiclient.Rollout{Image: "registry.example.com/ranker:1.5"}))(t)
	if pool.Stats().Jobs < int64(len(bombs)) || pool.Stats().Killed != 0 {
		t.Fatalf("pool stats %+v: the good apps were not evaluated in workers", pool.Stats())
	}
	r.git.Push(t, "ml-model", gittest.Change{Files: bombs, Message: "bombs, by hand"})

	res, err := sc.RolloutModel(ctx, "ml-serving", "ranker", apiclient.Rollout{Image: "registry.example.com/ranker:2.0"})
	if err != nil {
		t.Fatalf("another team's change beside the bombs: %v", err)
	}
	warnings := strings.Join(res.Warnings, "\n")
	for file := range bombs {
		app := path.Base(path.Dir(file))
		if !strings.Contains(warnings, "app "+app+" in ml-model does not validate") ||
			!strings.Contains(warnings, file+":1:1: app "+app+": evaluating its CUE passed the ") {
			t.Errorf("the warnings do not name %s and the limit it passed:\n%s", file, warnings)
		}
	}
	for _, limit := range []string{"the time limit of 2s per app (--eval-timeout)", "the memory limit of 256MiB per app (--eval-memory)"} {
		if !strings.Contains(warnings, limit) {
			t.Errorf("no bomb passed %s:\n%s", limit, warnings)
		}
	}
	if !strings.Contains(strings.Join(values(r.git.Files(t, "k8s-config", ""), "apps/ranker/"), ""), "ranker:2.0") {
		t.Error("the rollout did not reach k8s-config")
	}
	killed := pool.Stats().Killed
	if killed != int64(len(bombs)) {
		t.Errorf("%d workers killed, want one per bomb (%d)", killed, len(bombs))
	}

	// The next change does not wait out the limits again: the pool
	// remembers what passed them.
	start := time.Now()
	must(sc.RolloutModel(ctx, "ml-serving", "ranker", apiclient.Rollout{Image: "registry.example.com/ranker:3.0"}))(t)
	if k := pool.Stats().Killed; k != killed {
		t.Errorf("the bombs were evaluated again: %d workers killed, want %d", k, killed)
	}
	t.Logf("first change beside %d bombs answered; the next in %s", len(bombs), time.Since(start))
}
