package cli

import (
	"runtime/debug"
	"testing"
)

func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// TestBatchGC checks that batch commands raise GOGC under a memory limit,
// restore both afterwards, and leave them alone when the user set GOGC or
// GOMEMLIMIT.
func TestBatchGC(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	percent, limit := gcPercent(), debug.SetMemoryLimit(-1)
	restore := batchGC()
	if got := gcPercent(); got != batchGCPercent {
		t.Errorf("GOGC in a batch command = %d, want %d", got, batchGCPercent)
	}
	if got := debug.SetMemoryLimit(-1); got != batchMemoryLimit {
		t.Errorf("memory limit in a batch command = %d, want %d", got, batchMemoryLimit)
	}
	restore()
	if gcPercent() != percent || debug.SetMemoryLimit(-1) != limit {
		t.Errorf("after the command: GOGC %d, limit %d; want %d and %d restored", gcPercent(), debug.SetMemoryLimit(-1), percent, limit)
	}
	for _, env := range []string{"GOGC", "GOMEMLIMIT"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, map[string]string{"GOGC": "150", "GOMEMLIMIT": "2GiB"}[env])
			restore := batchGC()
			defer restore()
			if gcPercent() != percent || debug.SetMemoryLimit(-1) != limit {
				t.Errorf("with %s set, batchGC changed the collector: GOGC %d, limit %d", env, gcPercent(), debug.SetMemoryLimit(-1))
			}
		})
	}
}
