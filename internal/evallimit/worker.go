package evallimit

import (
	"bufio"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync"

	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/spec"
	"github.com/dmls-project/dmls/internal/workspace"
)

// workerEnv marks a process started as an evaluation worker; its value
// is the worker's Limits, in JSON. Every binary that starts a Pool (dmls,
// and the test binaries that test one) calls RunWorker first thing when
// IsWorker.
const workerEnv = "DMLS_INTERNAL_EVAL_WORKER"

// exitLimit is a worker's exit code after it passed a limit.
const exitLimit = 3

// result is a worker's answer to a job, or its first message (ready).
type result struct {
	Ready bool
	// Findings are the app's, when it could be evaluated: nil for a
	// valid app.
	Findings diag.List
	// Limit names the limit the app passed; the worker then exits.
	Limit string
	// Err says why the app could not be evaluated at all.
	Err string
}

// IsWorker reports whether this process was started as an evaluation
// worker, to run RunWorker instead of its own main.
func IsWorker() bool { return os.Getenv(workerEnv) != "" }

// Main runs a worker when this process was started as one, and else run:
// the TestMain of a test binary that starts a Pool is
// os.Exit(evallimit.Main(m.Run)).
func Main(run func() int) int {
	if IsWorker() {
		return RunWorker()
	}
	return run()
}

// RunWorker evaluates the jobs (workspace.AppJob, gob) that come on stdin
// and answers each on stdout, until stdin closes; it returns the exit
// code. Its limits come from the environment: a memory limit is set both
// as the kernel's limit of the data segment (RLIMIT_DATA, so that no
// allocation gets past it) and as a watchdog on the heap, which answers
// with the limit before it exits; the time limit by the same watchdog.
func RunWorker() int {
	var limits Limits
	if err := json.Unmarshal([]byte(os.Getenv(workerEnv)), &limits); err != nil {
		fmt.Fprintf(os.Stderr, "dmls eval worker: %s: %v\n", workerEnv, err)
		return 2
	}
	if limits.Memory > 0 {
		debug.SetMemoryLimit(limits.Memory)
		if err := limitData(limits.Memory + max(limits.Memory/2, 256<<20)); err != nil {
			fmt.Fprintf(os.Stderr, "dmls eval worker: memory limit: %v\n", err)
		}
	}
	dec := gob.NewDecoder(bufio.NewReader(os.Stdin))
	out := bufio.NewWriter(os.Stdout)
	enc := gob.NewEncoder(out)
	var mu sync.Mutex
	send := func(r *result) error {
		mu.Lock()
		defer mu.Unlock()
		if err := enc.Encode(r); err != nil {
			return err
		}
		return out.Flush()
	}
	w := NewWatchdog(limits, func(_ *workspace.AppJob, limit string) {
		_ = send(&result{Limit: limit})
		os.Exit(exitLimit)
	})
	defer w.Stop()
	if err := send(&result{Ready: true}); err != nil {
		return 2
	}
	var ev workspace.EvalApp
	for {
		var job workspace.AppJob
		if err := dec.Decode(&job); err != nil {
			if errors.Is(err, io.EOF) {
				return 0
			}
			fmt.Fprintf(os.Stderr, "dmls eval worker: read a job: %v\n", err)
			return 2
		}
		var r result
		w.Evaluate(&job, func() (*spec.App, diag.List) {
			d, err := ev.Eval(&job)
			if err != nil {
				r.Err = err.Error()
			}
			r.Findings = d
			return nil, nil
		})
		if err := send(&r); err != nil {
			return 2
		}
	}
}
