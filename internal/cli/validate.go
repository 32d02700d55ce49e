package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/gitrev"
	"github.com/dmls-project/dmls/internal/workspace"
)

func validateCmd(g *globals) *cobra.Command {
	var base string
	c := &cobra.Command{
		Use:   "validate",
		Short: "Check every spec of the workspace against the schemas",
		Long: `validate checks the whole workspace and reports every error, one per line
on stderr, as file:line:col: path: message. It also runs the generators and
upstream admission rules (Knative, KServe, the InferenceService CRD), whose findings point at the spec line
that produced the field. Exit 0 when valid, 1 on spec errors.

With --base REF (a git revision, as deployed), it also runs the checks that
only an update has, against the workspace at REF: Knative refuses a Service
whose revision template changed under its old revision name.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.checkOutput("text", "json", "yaml"); err != nil {
				return err
			}
			ws, err := g.load()
			var warnings diag.List
			if ws != nil {
				warnings = ws.Warnings
			}
			if err == nil {
				var res *build.Result
				res, err = g.generate(ws, build.Options{})
				if res != nil {
					warnings = append(warnings, res.Warnings...)
				}
				if err == nil && base != "" {
					var found diag.List
					found, err = g.updateFindings(base, res)
					if err == nil && len(found) > 0 {
						err = found
					}
				}
			}
			var d diag.List
			if err != nil && !errors.As(err, &d) {
				return err
			}
			switch g.output {
			case "json", "yaml":
				d.Sort()
				warnings.Sort()
				report := struct {
					Valid    bool              `json:"valid"`
					Errors   []diag.Diagnostic `json:"errors"`
					Warnings []diag.Diagnostic `json:"warnings"`
				}{len(d) == 0, d, warnings}
				if report.Errors == nil {
					report.Errors = []diag.Diagnostic{}
				}
				if report.Warnings == nil {
					report.Warnings = []diag.Diagnostic{}
				}
				if g.output == "json" {
					if err := g.printJSON(report); err != nil {
						return err
					}
				} else if err := g.printYAML(report); err != nil {
					return err
				}
				if len(d) > 0 {
					return silentExit{ExitError}
				}
				return nil
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%s: %d app(s) in %d environment(s) are valid\n", g.workspace, len(ws.Apps), len(ws.Envs))
			return nil
		},
	}
	c.Flags().StringVar(&base, "base", "", "also check the update from the workspace at this git revision (branch, tag, commit)")
	return c
}

// updateFindings loads and builds the workspace at git revision base and
// returns what updating it to res would have refused. A base without the
// workspace folder, or whose specs do not validate, has nothing to update:
// a warning says so.
func (g *globals) updateFindings(base string, res *build.Result) (diag.List, error) {
	repo, err := gitrev.Open(g.workspace)
	if err != nil {
		return nil, usageError{fmt.Errorf("--base reads the revision from git: %w", err)}
	}
	h, err := repo.Resolve(base)
	if err != nil {
		return nil, revisionError("base", base, repo, err)
	}
	fsys, err := repo.FS(h)
	if errors.Is(err, gitrev.ErrNoFolder) {
		fmt.Fprintf(g.stderr, "dmls: warning: the workspace folder %s does not exist at %s; nothing to update\n", repo.Sub, base)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	bws, err := workspace.Load(fsys, g.workspace, workspace.Options{})
	var bres *build.Result
	if err == nil {
		bres, err = build.Workspace(bws, build.Options{})
	}
	var d diag.List
	if errors.As(err, &d) {
		fmt.Fprintf(g.stderr, "dmls: warning: the workspace at %s does not validate (%d error(s)); the update checks are skipped\n", base, len(d.Errors()))
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("--base %s: %w", base, err)
	}
	return build.UpdateFindings(bres, res), nil
}
