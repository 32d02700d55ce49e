package parallel

import (
	"sync/atomic"
	"testing"
)

// TestFor runs every index once, with at most workers at a time.
func TestFor(t *testing.T) {
	for _, tc := range []struct{ n, workers int }{{0, 2}, {1, 4}, {100, 3}, {5, 10}} {
		seen := make([]atomic.Int32, tc.n)
		var running, most atomic.Int32
		For(tc.n, tc.workers, func(i int) {
			r := running.Add(1)
			for {
				m := most.Load()
				if r <= m || most.CompareAndSwap(m, r) {
					break
				}
			}
			seen[i].Add(1)
			running.Add(-1)
		})
		for i := range seen {
			if got := seen[i].Load(); got != 1 {
				t.Errorf("n=%d: index %d ran %d times", tc.n, i, got)
			}
		}
		if m := most.Load(); int(m) > tc.workers {
			t.Errorf("n=%d: %d ran at once, want at most %d", tc.n, m, tc.workers)
		}
	}
}
