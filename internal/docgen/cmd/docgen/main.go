// Command docgen writes dmls's generated reference pages (make docs): the
// CLI reference in docs/cli, one Markdown page per cobra command, and the
// spec reference in docs/spec-reference.md, from the CUE schemas.
//
//	go run ./internal/docgen/cmd/docgen -root .
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dmls-project/dmls/internal/docgen"
)

func main() {
	root := flag.String("root", ".", "the repository root, whose docs/ folder gets the pages")
	flag.Parse()
	err := docgen.WriteCLIReference(filepath.Join(*root, filepath.FromSlash(docgen.CLIDir)))
	if err == nil {
		err = docgen.WriteSpecReference(filepath.Join(*root, filepath.FromSlash(docgen.SpecReferencePath)))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "docgen: %v\n", err)
		os.Exit(1)
	}
}
