// Package evallimit bounds the time and memory of evaluating one app's CUE:
// by a watchdog in the CLI, which stops the command, and in dmls serve by
// a pool of worker processes, which are killed and replaced.
//
// CUE's evaluator cannot be cancelled from inside the process
// (cue-lang/cue#3752): a few lines of CUE (a comprehension over
// list.Range, a string doubled 24 times, a disjunction that multiplies)
// take gigabytes and minutes. A process can only be stopped whole, so the
// CLI stops itself, and the server evaluates each app first in a worker
// process that may die.
package evallimit

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Defaults, per app.
const (
	DefaultTimeout = 10 * time.Second
	DefaultMemory  = 1 << 30
)

// The flags that set the limits, named in the findings.
const (
	TimeoutFlag = "--eval-timeout"
	MemoryFlag  = "--eval-memory"
)

// Limits bound the evaluation of one app. A zero field is no bound.
type Limits struct {
	// Timeout is the longest the evaluation of one app may take.
	Timeout time.Duration
	// Memory bounds the heap of the process while an app evaluates, in
	// bytes: in a worker, the worker's heap; in the CLI, the command's.
	Memory int64
}

// Defaults are the default limits.
func Defaults() Limits { return Limits{Timeout: DefaultTimeout, Memory: DefaultMemory} }

// ParseMemory reads a memory limit as a Kubernetes quantity (1Gi, 512Mi,
// 268435456).
func ParseMemory(s string) (int64, error) {
	q, err := resource.ParseQuantity(s)
	if err != nil || q.Sign() < 0 {
		return 0, fmt.Errorf("%s %q: want a size such as 1Gi or 512Mi", MemoryFlag, s)
	}
	return q.Value(), nil
}

// timeText names the time limit, as a finding says it.
func (l Limits) timeText() string {
	return fmt.Sprintf("the time limit of %s per app (%s)", l.Timeout, TimeoutFlag)
}

// memoryText names the memory limit, as a finding says it.
func (l Limits) memoryText() string {
	return fmt.Sprintf("the memory limit of %s per app (%s)", formatBytes(l.Memory), MemoryFlag)
}

// formatBytes writes n as 1GiB, 256MiB or a number of bytes.
func formatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
