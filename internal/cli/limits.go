package cli

import (
	"fmt"
	"os"
	"sync"

	"github.com/dmls-project/dmls/internal/evallimit"
	"github.com/dmls-project/dmls/internal/workspace"
)

// stopHooks undo what a command has half done (an output folder's
// temporary copy) when the watchdog ends the process.
type stopHooks struct {
	mu    sync.Mutex
	next  int
	hooks map[int]func()
}

// onStop runs f if the watchdog ends the process, until the returned
// function is called.
func (g *globals) onStop(f func()) (remove func()) {
	s := &g.stops
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hooks == nil {
		s.hooks = map[int]func(){}
	}
	id := s.next
	s.next++
	s.hooks[id] = f
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.hooks, id)
	}
}

func (s *stopHooks) run() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.hooks {
		f()
	}
}

// watchEvaluation bounds every app this command evaluates by g.limits:
// when one passes a limit, it prints the finding that names the app and
// the limit and ends the process, since CUE's evaluation cannot be
// cancelled; what the command half wrote (onStop) is removed first. It
// returns what stops watching.
func (g *globals) watchEvaluation() (stop func()) {
	w := evallimit.NewWatchdog(g.limits, func(job *workspace.AppJob, limit string) {
		for _, d := range job.LimitFinding(limit) {
			fmt.Fprintln(g.stderr, d.String())
		}
		fmt.Fprintf(g.stderr, "dmls: stopped: app %s passed %s\n", job.Dir, limit)
		g.stops.run()
		os.Exit(ExitError)
	})
	restore := workspace.SetDefaultGuard(w)
	return func() {
		restore()
		w.Stop()
	}
}
