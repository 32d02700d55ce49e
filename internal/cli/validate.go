package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/diag"
)

func validateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "Check every spec of the workspace against the schemas",
		Long: `validate checks the whole workspace and reports every error, one per line
on stderr, as file:line:col: path: message. It also runs the generators and
upstream admission rules (Knative, KServe, the InferenceService CRD), whose findings point at the spec line
that produced the field. Exit 0 when valid, 1 on spec errors.`,
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
}
