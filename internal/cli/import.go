package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/dmls-project/dmls/internal/importer"
)

func importCmd(g *globals) *cobra.Command {
	var opts importer.Options
	c := &cobra.Command{
		Use:   "import [-w DIR] [--app APP] [--team TEAM] [--env ENV] [--allow-lossy] FILE...",
		Short: "Adopt existing TFJob, Knative Service and InferenceService YAML as a dmls app",
		Long: `import reads multi-document YAML (kubeflow.org/v1 TFJob, serving.knative.dev/v1
Service, serving.kserve.io/v1beta1 InferenceService, v1 PersistentVolumeClaim;
ConfigMaps and Secrets are named, not imported) and writes the equivalent spec
files to apps/APP/ as formatted CUE with only non-default fields.

The import is checked before anything is written: the spec goes through the
same loader as validate, is rendered, and the render must equal the input
after each upstream type's defaulting (ignoring the labels, annotations and
namespace dmls adds). A field the spec cannot express fails the import with
its document and path; --allow-lossy lists them as warnings instead.

Without --app the app is named after the object. With --env the app must
exist, and only what differs from its own settings is written, as
apps/APP/overrides-ENV.cue. Nothing is written on any error.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var docs []importer.Doc
			var problems []importer.Problem
			for _, name := range args {
				b, err := readLimited(name)
				var ie *importer.Error
				if errors.As(err, &ie) {
					problems = append(problems, ie.Problems...)
					continue
				}
				if err != nil {
					return err
				}
				d, err := importer.Parse(name, b)
				if errors.As(err, &ie) {
					problems = append(problems, ie.Problems...)
					continue
				}
				if err != nil {
					return err
				}
				docs = append(docs, d...)
			}
			if len(problems) > 0 {
				return importFailed(g, &importer.Error{Problems: problems})
			}
			st, err := os.Stat(g.workspace)
			if err != nil || !st.IsDir() {
				return usageError{fmt.Errorf("workspace %s is not a folder", g.workspace)}
			}
			res, err := importer.Plan(os.DirFS(g.workspace), g.workspace, docs, opts)
			var ie *importer.Error
			if errors.As(err, &ie) {
				return importFailed(g, ie)
			}
			if err != nil {
				return err
			}
			if err := importer.Write(g.workspace, res); err != nil {
				return err
			}
			for _, w := range res.Warnings {
				fmt.Fprintf(g.stderr, "warning: %s\n", w)
			}
			for _, n := range sortedNames(res.Files) {
				fmt.Fprintf(g.stdout, "wrote %s\n", filepath.Join(g.workspace, filepath.FromSlash(res.Dir), n))
			}
			return nil
		},
	}
	c.Flags().StringVar(&opts.App, "app", "", "app name (default: the object's name)")
	c.Flags().StringVar(&opts.Team, "team", "", "team of a new app (default: the platform's only team)")
	c.Flags().StringVar(&opts.Env, "env", "", "import into this environment of an existing app, as its override")
	c.Flags().BoolVar(&opts.AllowLossy, "allow-lossy", false, "write the spec even when fields cannot be expressed; list them as warnings")
	c.Flags().BoolVar(&opts.KeepImported, "keep-imported", false, "keep the imported values that an environment's settings would change, as that environment's overrides (overrides.cue); without it each such change is reported")
	return c
}

// readLimited reads an input file, refusing one over the import limit
// without reading it all.
func readLimited(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, usageError{fmt.Errorf("input %s: %w", name, errors.Unwrap(err))}
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > importer.MaxFileBytes {
		return nil, importer.TooBig(name, st.Size())
	}
	b, err := io.ReadAll(io.LimitReader(f, importer.MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return b, nil
}

func importFailed(g *globals, e *importer.Error) error {
	for _, p := range e.Problems {
		fmt.Fprintf(g.stderr, "%s\n", p)
	}
	if e.Lossy {
		fmt.Fprintf(g.stderr, "dmls: import failed: %d field(s) a dmls spec cannot express; nothing written (--allow-lossy writes the spec without them)\n", len(e.Problems))
	} else {
		fmt.Fprintf(g.stderr, "dmls: import failed: %d problem(s); nothing written\n", len(e.Problems))
	}
	return silentExit{ExitError}
}

func sortedNames(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
