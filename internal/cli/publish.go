package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"

	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/gitops"
	"github.com/dmls-project/dmls/internal/publish"
	"github.com/dmls-project/dmls/internal/refresh"
	"github.com/dmls-project/dmls/internal/spec"
	"github.com/dmls-project/dmls/internal/status/kube"
)

func publishCmd(g *globals) *cobra.Command {
	var dryRun bool
	var message, kubeconfig, kubeContext string
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
			var printErr error
			printed := false
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
			history, prefix, err := gitops.OpenHistory(g.workspace)
			if err != nil {
				history = nil // not a checkout: the catalog says the last changes are not known
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			results, err := publish.Release(ctx, ws.Platform, res, publish.ReleaseOptions{
				Options: publish.Options{
					URLs: urls, DryRun: dryRun, Message: message, Auth: auth,
					SourceCommit: publish.SourceCommit(g.workspace),
				},
				History: func(_ context.Context, use func(*gitops.CommitGraph)) bool { use(history); return true },
				Prefix:  prefix,
				Warn: func(msg string, args ...any) {
					fmt.Fprintf(g.stderr, "dmls: warning: %s %v\n", msg, args)
				},
				// Argo CD hears of every push that went in, once the
				// results are printed.
				Notify: func(results []publish.Result, _ error) {
					printErr, printed = g.printPublish(results, dryRun), true
					g.notifyArgoCD(ctx, ws.Platform, res, results, kubeconfig, kubeContext)
				},
			})
			if !printed {
				printErr = g.printPublish(results, dryRun)
			}
			if printErr != nil && err == nil {
				err = printErr
			}
			return err
		},
	}
	c.Flags().BoolVar(&dryRun, "dry-run", false, "print the files that would be added, changed or deleted, and commit nothing")
	c.Flags().StringVar(&message, "message", "", "first line of the commit messages (default: a summary of the change)")
	c.Flags().StringArrayVar(&repos, "repo", nil, "override a config repo's URL: NAME=URL (repeatable); file:// URLs and paths to bare repos work too")
	c.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of Argo CD's cluster, for argocd.refresh.annotation (default $KUBECONFIG, ~/.kube/config)")
	c.Flags().StringVar(&kubeContext, "context", "", "kubeconfig context of Argo CD's cluster")
	return c
}

// notifyArgoCD tells Argo CD what the push changed, as argocd.refresh of
// platform.cue says. Failures are warnings: Argo CD's poll catches up.
func (g *globals) notifyArgoCD(ctx context.Context, p *spec.Platform, res *build.Result, results []publish.Result, kubeconfig, kubeContext string) {
	rc := p.ArgoCD.Refresh
	if rc == nil {
		return
	}
	n := &refresh.Notifier{Config: rc, Namespace: p.ArgoCD.Namespace, Applications: refresh.Applications(res.ArgoCD), Getenv: os.Getenv}
	if rc.Annotation {
		if cfg, err := kube.RESTConfig(kubeconfig, kubeContext); err == nil {
			n.Cluster, _ = dynamic.NewForConfig(cfg)
		}
	}
	refreshed, warnings := n.Notify(ctx, refresh.Pushes(p, results))
	for _, w := range warnings {
		fmt.Fprintf(g.stderr, "dmls: warning: %s\n", w)
	}
	if len(refreshed) > 0 && g.output == "text" {
		fmt.Fprintf(g.stdout, "argocd: refreshed %s\n", strings.Join(refreshed, ", "))
	}
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
