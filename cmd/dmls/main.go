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

// run is main with a CPU profile when DMLS_CPUPROFILE names a file, for
// `go tool pprof` (the lessons are kept in the package docs of
// internal/build and internal/render).
func run() int {
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
