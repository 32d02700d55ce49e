package cli

import (
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// The garbage collector's settings for batch commands (render, generate,
// validate, diff): they allocate a great deal of short-lived garbage
// (CUE values, generated objects, YAML) over a live heap of well under
// 200 MB, and at Go's default (GOGC=100) a profile of rendering 1,000 apps
// spent about 30% of the CPU in the collector. A higher GOGC collects less
// often; the memory limit keeps the heap under the ceiling (peak
// RSS <= 1 GiB at 5,000 apps) by collecting sooner when it nears it.
const (
	batchGCPercent   = 800
	batchMemoryLimit = 640 << 20
)

// batchGC sets the collector for a batch command and returns what restores
// the previous settings. A user's GOGC or GOMEMLIMIT wins: nothing is
// changed when either is set.
func batchGC() (restore func()) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	percent := debug.SetGCPercent(batchGCPercent)
	limit := debug.SetMemoryLimit(batchMemoryLimit)
	return func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	}
}

// withBatchGC runs c's RunE under batchGC.
func withBatchGC(c *cobra.Command) *cobra.Command {
	run := c.RunE
	c.RunE = func(cmd *cobra.Command, args []string) error {
		defer batchGC()()
		return run(cmd, args)
	}
	return c
}
