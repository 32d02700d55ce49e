package workspace_test

import (
	"os"
	"reflect"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/dmls-project/dmls/internal/evallimit"
	"github.com/dmls-project/dmls/internal/synth"
	"github.com/dmls-project/dmls/internal/workspace"
)

func TestMain(m *testing.M) {
	// The evaluation pools of the tests start this binary as their workers.
	os.Exit(evallimit.Main(m.Run))
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

// benchmarkLoad loads a synthetic workspace of 200 apps, cold, b.N
// times, with guard (nil: in this process, unbounded), and reports the CPU
// per app, of this process and of the workers it started (counted when
// the pool stops them, at the end). Issue 18 asks what the pool costs;
// the lead runs these on an idle machine:
//
//	go test ./internal/workspace -run '^$' -bench 'BenchmarkLoad(InProcess|ThroughPool)' -benchtime 5x
func benchmarkLoad(b *testing.B, pool *evallimit.Pool) {
	const apps = 200
	fsys := synth.Workspace(apps)
	var guard workspace.Guard
	if pool != nil {
		guard = pool
	}
	cpu := func() time.Duration {
		var self, children syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
		_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
		return time.Duration(self.Utime.Nano() + self.Stime.Nano() + children.Utime.Nano() + children.Stime.Nano())
	}
	start := cpu()
	n := 0
	for b.Loop() {
		if _, err := workspace.Load(fsys, "ws", workspace.Options{Guard: guard}); err != nil {
			b.Fatal(err)
		}
		n++
	}
	if pool != nil {
		pool.Close()
	}
	b.ReportMetric(float64(cpu()-start)/float64(time.Millisecond)/float64(n*apps), "cpu-ms/app")
}

// BenchmarkLoadInProcess is the baseline of BenchmarkLoadThroughPool.
func BenchmarkLoadInProcess(b *testing.B) { benchmarkLoad(b, nil) }

// BenchmarkLoadThroughPool evaluates each app first in a worker process
// (as dmls serve does), then, valid, in this process.
func BenchmarkLoadThroughPool(b *testing.B) {
	benchmarkLoad(b, evallimit.NewPool(evallimit.Defaults(), runtime.GOMAXPROCS(0), nil))
}
