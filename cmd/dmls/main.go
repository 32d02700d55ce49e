// Command dmls runs GitOps for distributed machine learning on Kubernetes.
package main

import (
	"os"

	"github.com/dmls-project/dmls/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
