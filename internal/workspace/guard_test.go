package workspace_test

import (
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/dmls-project/dmls/internal/evallimit"
	"github.com/dmls-project/dmls/internal/workspace"
)

func TestMain(m *testing.M) {
	// The pool of TestPoolFindsWhatLoadFinds starts this binary as its
	// workers.
	if evallimit.IsWorker() {
		os.Exit(evallimit.RunWorker())
	}
	os.Exit(m.Run())
}

// TestPoolFindsWhatLoadFinds holds a load whose apps are evaluated first
// in worker processes (dmls serve) to a load in this process, on every
// workspace the tests have: the same apps, findings and positions. A
// broken app's findings come from the worker, so this holds the worker's
// evaluation (workspace.EvalApp) to the loader's.
func TestPoolFindsWhatLoadFinds(t *testing.T) {
	pool := evallimit.NewPool(evallimit.Limits{Timeout: time.Minute, Memory: 1 << 30}, 2, nil)
	defer pool.Close()
	names, workspaces := workspace.CorpusForTests(t)
	for i, fsys := range workspaces {
		in, ierr := workspace.Load(fsys, "ws", workspace.Options{Workers: 2})
		out, perr := workspace.Load(fsys, "ws", workspace.Options{Workers: 2, Guard: pool})
		if (ierr == nil) != (perr == nil) || (ierr != nil && ierr.Error() != perr.Error()) {
			t.Errorf("%s: errors differ:\nin-process: %v\nworker:     %v", names[i], ierr, perr)
			continue
		}
		if !reflect.DeepEqual(in, out) {
			t.Errorf("%s: the pool loads a different workspace", names[i])
		}
	}
	if st := pool.Stats(); st.Jobs < 40 || st.Broken < 20 || st.Killed != 0 {
		t.Errorf("pool stats %+v: want at least 40 apps evaluated in workers, 20 of them broken, none killed", st)
	}
}
