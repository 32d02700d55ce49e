// Command crdgen writes the Go types of a custom resource from its
// upstream CRD, as its config file says (internal/crdgen). `make
// generate-types` runs it for every config.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dmls-project/dmls/internal/crdgen"
)

func main() {
	config := flag.String("config", "", "the crdgen.yaml of a package")
	out := flag.String("o", "", "the Go file to write (default zz_generated.types.go next to the config)")
	flag.Parse()
	if *config == "" {
		fmt.Fprintln(os.Stderr, "usage: crdgen -config path/crdgen.yaml [-o file.go]")
		os.Exit(2)
	}
	if *out == "" {
		*out = filepath.Join(filepath.Dir(*config), crdgen.OutputFile)
	}
	c, err := crdgen.LoadConfig(*config)
	if err == nil {
		var src []byte
		if src, err = crdgen.Generate(c); err == nil {
			err = crdgen.WriteFile(*out, src)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "crdgen:", err)
		os.Exit(1)
	}
}
