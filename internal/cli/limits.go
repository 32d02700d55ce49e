package cli

import (
	"fmt"
	"os"

	"github.com/dmls-project/dmls/internal/evallimit"
	"github.com/dmls-project/dmls/internal/workspace"
)

// watchEvaluation bounds every app this command evaluates by g.limits:
// when one passes a limit, it prints the finding that names the app and
// the limit and ends the process, since CUE's evaluation cannot be
// cancelled. Loads run before any output is written, so none is left
// half-written. It returns what stops watching.
func (g *globals) watchEvaluation() (stop func()) {
	w := evallimit.NewWatchdog(g.limits, func(job *workspace.AppJob, limit string) {
		for _, d := range job.LimitFinding(limit) {
			fmt.Fprintln(g.stderr, d.String())
		}
		fmt.Fprintf(g.stderr, "dmls: stopped: app %s passed %s\n", job.Dir, limit)
		os.Exit(ExitError)
	})
	restore := workspace.SetDefaultGuard(w)
	return func() {
		restore()
		w.Stop()
	}
}
