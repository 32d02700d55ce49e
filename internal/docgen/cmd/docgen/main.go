// Command docgen writes dmls's generated reference pages (make docs): the
// CLI reference in docs/cli, one Markdown page per cobra command.
//
//	go run ./internal/docgen/cmd/docgen -out docs/cli
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/dmls-project/dmls/internal/docgen"
)

func main() {
	out := flag.String("out", docgen.CLIDir, "the CLI reference's folder; its Markdown pages are replaced")
	flag.Parse()
	if err := docgen.WriteCLIReference(*out); err != nil {
		fmt.Fprintf(os.Stderr, "docgen: %v\n", err)
		os.Exit(1)
	}
}
