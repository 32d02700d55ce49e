// Package docgen generates dmls's reference pages from their sources of
// truth (the CLI reference in docs/cli from the cobra command tree, the
// spec reference from the CUE schemas) and checks the links of the docs.
package docgen

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/dmls-project/dmls/internal/cli"
)

// CLIDir is the CLI reference's folder, relative to the repository root.
const CLIDir = "docs/cli"

// header opens every page of the CLI reference.
const header = "<!-- Generated from the cobra commands by `make docs` (internal/docgen); do not edit. -->\n\n"

// machineDefaults are flag defaults that dmls computes from the machine it
// runs on, by command path and flag name. The pages name the rule instead
// of this machine's value, so that they are the same on every machine.
var machineDefaults = map[string]map[string]string{
	"dmls serve": {"eval-workers": "GOMAXPROCS"},
}

// Root is dmls's command tree as its reference pages show it: without
// cobra's dated "Auto generated" line, and with machine-dependent flag
// defaults replaced by the rule that computes them.
func Root() *cobra.Command {
	root := cli.Command()
	root.DisableAutoGenTag = true
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for name, rule := range machineDefaults[c.CommandPath()] {
			if f := c.Flags().Lookup(name); f != nil {
				f.DefValue = rule
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return root
}

// Tree runs gen, one of cobra/doc's Gen*Tree functions, on Root into a
// temporary folder and returns the files it wrote, by name. The man pages
// of make dist and the Markdown pages of docs/cli both come from here.
func Tree(gen func(root *cobra.Command, dir string) error) (map[string][]byte, error) {
	dir, err := os.MkdirTemp("", "dmls-docgen-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := gen(Root(), dir); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		files[e.Name()] = b
	}
	return files, nil
}

// CLIReference returns the pages of docs/cli, by file name: dmls.md for
// the root command and dmls_<sub>.md for each command below it.
func CLIReference() (map[string][]byte, error) {
	files, err := Tree(func(root *cobra.Command, dir string) error {
		return doc.GenMarkdownTreeCustom(root, dir, func(string) string { return header }, func(s string) string { return s })
	})
	if err != nil {
		return nil, fmt.Errorf("cli reference: %w", err)
	}
	return files, nil
}

// WriteCLIReference writes the CLI reference into dir and removes the
// Markdown pages there that no command makes any more.
func WriteCLIReference(dir string) error {
	files, err := CLIReference()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if err := writeFile(filepath.Join(dir, name), files[name]); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if _, ok := files[e.Name()]; !ok && e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".md") {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// WriteSpecReference writes the spec reference (SpecReference) to file.
func WriteSpecReference(file string) error {
	b, err := SpecReference()
	if err != nil {
		return err
	}
	return writeFile(file, b)
}

// writeFile writes data to a temporary file beside name and renames it into
// place, so that a page is never left half written.
func writeFile(name string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), name)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
