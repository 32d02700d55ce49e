package evallimit

import (
	"runtime"
	"runtime/metrics"
	"sync"
	"time"

	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/spec"
	"github.com/dmls-project/dmls/internal/workspace"
)

// tick is how often a watchdog looks at the clock and the heap.
const tick = 20 * time.Millisecond

// Watchdog watches the apps this process evaluates: when one takes past
// the time limit, or the heap passes the memory limit while apps
// evaluate, it calls its breach function once, with the app and the limit
// passed. It cannot stop the evaluation, so that function ends the process.
// It is a workspace.Guard.
type Watchdog struct {
	limits Limits
	breach func(job *workspace.AppJob, limit string)
	once   sync.Once

	mu       sync.Mutex
	inflight map[*workspace.AppJob]time.Time

	stop chan struct{}
	done chan struct{}
}

var _ workspace.Guard = (*Watchdog)(nil)

// NewWatchdog starts a watchdog; Stop stops it.
func NewWatchdog(limits Limits, breach func(job *workspace.AppJob, limit string)) *Watchdog {
	w := &Watchdog{limits: limits, breach: breach, inflight: map[*workspace.AppJob]time.Time{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

// Evaluate evaluates the app in this process, watched.
func (w *Watchdog) Evaluate(job *workspace.AppJob, eval func() (*spec.App, diag.List)) (*spec.App, diag.List) {
	w.begin(job)
	defer w.end(job)
	return eval()
}

func (w *Watchdog) begin(job *workspace.AppJob) {
	w.mu.Lock()
	w.inflight[job] = time.Now()
	w.mu.Unlock()
}

func (w *Watchdog) end(job *workspace.AppJob) {
	w.mu.Lock()
	delete(w.inflight, job)
	w.mu.Unlock()
}

// Stop stops watching.
func (w *Watchdog) Stop() {
	close(w.stop)
	<-w.done
}

func (w *Watchdog) run() {
	defer close(w.done)
	t := time.NewTicker(tick)
	defer t.Stop()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	heap := func() int64 {
		metrics.Read(sample)
		return int64(sample[0].Value.Uint64())
	}
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		job, since := w.oldest()
		if job == nil {
			continue
		}
		if w.limits.Timeout > 0 && since > w.limits.Timeout {
			w.fire(job, w.limits.timeText())
			continue
		}
		// The heap counts garbage not yet collected: over the limit,
		// collect and look again, so that only live memory fails.
		if m := w.limits.Memory; m > 0 && heap() > m {
			runtime.GC()
			if heap() > m {
				if job, _ = w.oldest(); job != nil {
					w.fire(job, w.limits.memoryText())
				}
			}
		}
	}
}

// oldest returns the app that has evaluated longest, and for how long.
func (w *Watchdog) oldest() (*workspace.AppJob, time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var job *workspace.AppJob
	var start time.Time
	for j, t := range w.inflight {
		if job == nil || t.Before(start) || t.Equal(start) && j.Dir < job.Dir {
			job, start = j, t
		}
	}
	if job == nil {
		return nil, 0
	}
	return job, time.Since(start)
}

func (w *Watchdog) fire(job *workspace.AppJob, limit string) {
	w.once.Do(func() { w.breach(job, limit) })
}
