// Command dmls runs GitOps for distributed machine learning on Kubernetes.
package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/dmls-project/dmls/internal/cli"
)

func main() {
	os.Exit(run())
}

// run is main with a CPU profile when DMLS_CPUPROFILE names a file, and
// a profile of what was allocated when DMLS_MEMPROFILE does, for `go tool
// pprof` (the lessons are kept in the package docs of internal/build and
// internal/render).
func run() int {
	if path := os.Getenv("DMLS_MEMPROFILE"); path != "" {
		defer func() {
			if err := writeHeapProfile(path); err != nil {
				fmt.Fprintf(os.Stderr, "dmls: DMLS_MEMPROFILE: %v\n", err)
			}
		}()
	}
	if path := os.Getenv("DMLS_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "dmls: DMLS_CPUPROFILE: %v\n", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(os.Stderr, "dmls: DMLS_CPUPROFILE: %v\n", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	return cli.Main(os.Args[1:], os.Stdout, os.Stderr)
}

// writeHeapProfile writes the allocations sampled so far to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
