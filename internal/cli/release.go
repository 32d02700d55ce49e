package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/dmls-project/dmls/internal/apiclient"
)

// approveCmd approves the promotion into an environment.
func approveCmd(g *globals) *cobra.Command {
	return releaseActionCmd(g, "approve", "approve APP --env ENV",
		"Approve the release step that waits for an approval into ENV, through the API",
		`approve lets the run that waits for an approval into ENV go in (as a canary,
or whole where nothing serves yet). The commit names you as the approver. Anyone
who may change the app may approve; it fails (409) when no step waits there.`)
}

// releaseCmd groups the release pipeline's commands.
func releaseCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "release",
		Short: "See and steer an app's release pipeline (release in its spec) through the API",
	}
	c.AddCommand(releaseStatusCmd(g),
		releaseActionCmd(g, "approve", "approve APP --env ENV", "Approve the release step into ENV (as dmls approve)", ""),
		releaseActionCmd(g, "abort", "abort APP --env ENV", "Abort the canary under way in ENV: traffic back to the stable run, the run rejected", ""),
		releaseActionCmd(g, "resume", "resume APP --env ENV", "Hand ENV back to the pipeline after a change made outside it (a hand edit, dmls canary, promote or rollback)", ""))
	return c
}

func releaseActionCmd(g *globals, action, use, short, long string) *cobra.Command {
	f := &clientFlags{g: g}
	var env string
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if env == "" {
				return usageError{errors.New("--env ENV is required")}
			}
			return f.run(func(ctx context.Context, c *apiclient.Client, team string) (any, error) {
				return c.ReleaseAction(ctx, team, args[0], action, env)
			})
		},
	}
	c.Flags().StringVar(&env, "env", "", "the environment")
	f.register(c)
	return c
}

func releaseStatusCmd(g *globals) *cobra.Command {
	f := &clientFlags{g: g}
	c := &cobra.Command{
		Use:   "status APP",
		Short: "Show an app's release pipeline: what each environment serves, the step under way with its gates, and what waits for whom",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(func(ctx context.Context, c *apiclient.Client, team string) (any, error) {
				return c.Release(ctx, team, args[0])
			})
		},
	}
	f.register(c)
	return c
}

// printRelease writes a release pipeline as text.
func printRelease(g *globals, v *apiclient.ReleaseView) {
	fmt.Fprintf(g.stdout, "%s/%s release: %v\n", v.Team, v.App, v.Chain)
	if t := v.Training; t != nil {
		fmt.Fprintf(g.stdout, "  training: r%d %s %s\n", t.Run, t.State, t.FinishedAt)
	}
	if len(v.Rejected) > 0 {
		fmt.Fprintf(g.stdout, "  rejected: %v\n", v.Rejected)
	}
	if !v.Managed {
		fmt.Fprintf(g.stdout, "  the app is written by hand: the pipeline decides, but commits only to apps the API owns\n")
	}
	for _, e := range v.Environments {
		serving := "nothing"
		if e.Serving > 0 {
			serving = "r" + strconv.Itoa(e.Serving)
		}
		if e.Canary != nil {
			serving += fmt.Sprintf(", canary r%d at %d%%", e.Canary.Run, e.Canary.Percent)
		}
		fmt.Fprintf(g.stdout, "  %s: serves %s\n    %s: %s\n", e.Env, serving, e.Step, e.Reason)
		for _, gt := range e.Gates {
			fmt.Fprintf(g.stdout, "    gate %s: %s %g (max %g)%s\n", gt.Name, gt.Verdict, gt.Value, gt.Max, suffix(gt.Error))
		}
	}
}

func suffix(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}
