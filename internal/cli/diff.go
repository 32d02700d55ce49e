package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/dmls-project/dmls/internal/cache"
	"github.com/dmls-project/dmls/internal/diff"
	"github.com/dmls-project/dmls/internal/gitrev"
	"github.com/dmls-project/dmls/internal/preview"
	"github.com/dmls-project/dmls/internal/workspace"
)

// ExitTrouble is what dmls diff --exit-code returns on an error, so that
// it differs from 1, "there are changes".
const ExitTrouble = 2

func diffCmd(g *globals) *cobra.Command {
	var base, head, format string
	var envs, apps []string
	var exitCode bool
	var cf cacheFlags
	c := &cobra.Command{
		Use:   "diff --base REF",
		Short: "Show what a change of the specs changes in the cluster",
		Long: `diff renders the workspace as it is at git revision REF and as it is in the
working tree (or at --head REF), with this dmls binary, and compares them
object by object: for each environment and app the objects added, removed
and changed, with a unified diff of each, a summary of what they mean
(workers, GPUs, canary, re-training, quotas), the risks (a deleted volume
claim, an app leaving production, a canary jump over 50 points, GPUs beyond
a quota), and the Argo CD Applications that will sync.

REF is read from the repository's objects without a checkout; the workspace
may be a subfolder of the repository. Objects match by kind, namespace and
name, so moving things around or editing comments is no change. Only the
apps whose inputs differ are compared, and apps come from the on-disk cache
(as for render) when an earlier run, on any revision, rendered the same
inputs.

--format text colours its output when stdout is a terminal (and NO_COLOR is
unset); markdown is for a pull-request comment and stays under GitHub's
65,536-character limit; json is for other tools. With --exit-code, dmls
exits 1 when there are changes and 2 on an error, as git diff does.

A base whose workspace does not validate is shown as empty, so that the head
shows as all new, with a warning.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			err := runDiff(g, cf, base, head, format, envs, apps, exitCode)
			var se silentExit
			if err == nil || !exitCode || errors.As(err, &se) {
				return err
			}
			printError(g.stderr, err)
			return silentExit{ExitTrouble}
		},
	}
	c.Flags().StringVar(&base, "base", "", "the git revision to compare with (branch, tag, commit, HEAD~1, ...)")
	c.Flags().StringVar(&head, "head", "", "compare with this git revision instead of the working tree")
	c.Flags().StringVar(&format, "format", "text", "output format: text, markdown or json")
	c.Flags().BoolVar(&exitCode, "exit-code", false, "exit 1 when there are changes, 0 when there are none")
	c.Flags().StringSliceVar(&envs, "env", nil, "compare only these environments (repeatable)")
	c.Flags().StringSliceVar(&apps, "app", nil, "compare only these apps (repeatable)")
	cf.add(c)
	return c
}

func runDiff(g *globals, cf cacheFlags, base, head, format string, envs, apps []string, exitCode bool) error {
	switch format {
	case "text", "markdown", "json":
	default:
		return usageError{fmt.Errorf("--format %s: use text, markdown or json", format)}
	}
	if base == "" {
		return usageError{errors.New("--base REF is required: the git revision to compare with, for example origin/main")}
	}
	if _, err := os.Stat(g.workspace); err != nil {
		return usageError{fmt.Errorf("workspace %s: %w", g.workspace, errors.Unwrap(err))}
	}
	repo, err := gitrev.Open(g.workspace)
	if err != nil {
		return usageError{fmt.Errorf("dmls diff reads --base from git: %w", err)}
	}
	var warnings []string
	at := func(flag, rev string) (preview.Revision, error) {
		h, err := repo.Resolve(rev)
		if err != nil {
			return preview.Revision{}, revisionError(flag, rev, repo, err)
		}
		name := fmt.Sprintf("%s (%s)", rev, h.String()[:7])
		fsys, err := repo.FS(h)
		if errors.Is(err, gitrev.ErrNoFolder) {
			warnings = append(warnings, fmt.Sprintf("the workspace folder %s does not exist at %s; it is shown as all new", repo.Sub, name))
			return preview.Revision{Rev: name}, nil
		}
		if err != nil {
			return preview.Revision{}, err
		}
		return preview.Revision{FS: fsys, Rev: name}, nil
	}
	b, err := at("base", base)
	if err != nil {
		return err
	}
	wfs, closer, err := workspace.DirFS(g.workspace)
	if err != nil {
		return err
	}
	defer closer.Close()
	h := preview.Revision{FS: wfs, Rev: "working tree"}
	if head != "" {
		if h, err = at("head", head); err != nil {
			return err
		}
		if h.FS == nil {
			return fmt.Errorf("--head %s: the workspace folder %s does not exist there", head, repo.Sub)
		}
	}
	opts := preview.Options{Root: g.workspace, Envs: envs, Apps: apps}
	r, err := g.diffCached(cf, b, h, opts)
	if preview.IsFallback(err) {
		g.debugf("%v; running without the cache", err)
		r, err = preview.Run(b, h, opts)
	}
	if errors.Is(err, preview.ErrFilter) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	r.Warnings = append(warnings, r.Warnings...)
	if format != "text" {
		for _, w := range r.Warnings {
			fmt.Fprintf(g.stderr, "dmls: warning: %s\n", w)
		}
	}
	switch format {
	case "markdown":
		err = diff.Markdown(g.stdout, r, diff.CommentLimit)
	case "json":
		err = diff.JSON(g.stdout, r)
	default:
		err = diff.Text(g.stdout, r, isTerminal(g.stdout))
	}
	if err != nil {
		return err
	}
	if exitCode && r.Changed() {
		return silentExit{ExitError}
	}
	return nil
}

// isTerminal reports whether w is a terminal that takes colours.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	return term.IsTerminal(int(f.Fd()))
}

// diffCached is preview.Cached with the cache the flags name; an error
// wrapping cache.ErrFallback asks for preview.Run.
func (g *globals) diffCached(cf cacheFlags, base, head preview.Revision, opts preview.Options) (*diff.Report, error) {
	if cf.off {
		return nil, fmt.Errorf("%w: --no-cache", cache.ErrFallback)
	}
	store, err := g.openCache(cf, "")
	if err != nil {
		return nil, err
	}
	return preview.Cached(base, head, opts, preview.Cache{Store: store, Version: cache.BinaryVersion(Version)})
}

// revisionError explains a revision of flag that repo could not resolve
// to a commit.
func revisionError(flag, rev string, repo *gitrev.Repo, err error) error {
	if errors.Is(err, gitrev.ErrNotCommit) {
		return usageError{fmt.Errorf("--%s: %w", flag, err)}
	}
	return usageError{fmt.Errorf("--%s %s: %w; name a branch, tag or commit of the repository at %s (git fetch first for a remote branch)", flag, rev, gitrev.ErrNoRevision, repo.Root)}
}
