package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/spf13/cobra"

	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/gitops"
	"github.com/dmls-project/dmls/internal/publish"
)

func publishCmd(g *globals) *cobra.Command {
	var dryRun bool
	var message string
	var repos []string
	c := &cobra.Command{
		Use:   "publish",
		Short: "Commit the generated trees to the config repos and push",
		Long: `publish generates the workspace and makes the managed folders of each config
repo (apps/, platform/ and argocd/ under the repo's path prefix) hold exactly
that: new files are added, changed ones updated, files of removed apps and
environments deleted, and nothing outside those folders touched. It commits
only if the tree changed, and pushes. A push that loses a race against
another writer is retried on the new tip; a rejection by a hook or by
permissions is not.

Credentials come from the environment: DMLS_GIT_TOKEN (HTTPS token),
DMLS_GIT_USERNAME and DMLS_GIT_PASSWORD (basic auth), DMLS_GIT_SSH_KEY_FILE
(SSH), or DMLS_GIT_CREDENTIALS_FILE naming a file of KEY=value lines with
those keys. They never appear in output.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.checkOutput("text", "json", "yaml"); err != nil {
				return err
			}
			urls, err := g.repoFlags(repos)
			if err != nil {
				return err
			}
			auth, err := gitops.AuthFromEnv(os.Getenv)
			if err != nil {
				return err
			}
			ws, err := g.load()
			if err != nil {
				return err
			}
			// An overridden URL is the repo's URL for everything generated
			// too: Argo CD Applications must point where the tree goes.
			if err := publish.OverrideURLs(ws.Platform, urls); err != nil {
				return usageError{err}
			}
			res, err := g.generate(ws, build.Options{})
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			results, err := publish.Publish(ctx, ws.Platform, res.Repos(ws.Platform), publish.Options{
				URLs: urls, DryRun: dryRun, Message: message, Auth: auth,
				SourceCommit: publish.SourceCommit(g.workspace),
			})
			if perr := g.printPublish(results, dryRun); perr != nil && err == nil {
				err = perr
			}
			return err
		},
	}
	c.Flags().BoolVar(&dryRun, "dry-run", false, "print the files that would be added, changed or deleted, and commit nothing")
	c.Flags().StringVar(&message, "message", "", "first line of the commit messages (default: a summary of the change)")
	c.Flags().StringArrayVar(&repos, "repo", nil, "override a config repo's URL: NAME=URL (repeatable); file:// URLs and paths to bare repos work too")
	return c
}

func (g *globals) printPublish(results []publish.Result, dryRun bool) error {
	switch g.output {
	case "json":
		return g.printJSON(results)
	case "yaml":
		return g.printYAML(results)
	}
	for _, r := range results {
		switch {
		case !r.Changed:
			fmt.Fprintf(g.stdout, "%s: up to date at %s\n", r.Name, short(r.Commit))
		case dryRun:
			fmt.Fprintf(g.stdout, "%s: would change %d file(s)\n", r.Name, len(r.Added)+len(r.Modified)+len(r.Deleted))
		default:
			fmt.Fprintf(g.stdout, "%s: committed %s (%d added, %d changed, %d deleted)\n", r.Name, short(r.Commit), len(r.Added), len(r.Modified), len(r.Deleted))
		}
		if dryRun {
			for _, p := range r.Added {
				fmt.Fprintf(g.stdout, "  + %s\n", p)
			}
			for _, p := range r.Modified {
				fmt.Fprintf(g.stdout, "  ~ %s\n", p)
			}
			for _, p := range r.Deleted {
				fmt.Fprintf(g.stdout, "  - %s\n", p)
			}
		}
	}
	return nil
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	if sha == "" {
		return "(empty)"
	}
	return sha
}
