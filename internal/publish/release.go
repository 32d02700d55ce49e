package publish

import (
	"context"
	"fmt"
	"slices"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/generators/catalog"
	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/gitops"
	"github.com/dmls-project/dmls/internal/spec"
)

// ReleaseOptions tune Release: the push's Options and the catalog's and
// Argo CD's steps.
type ReleaseOptions struct {
	Options
	// History calls use with the history of the repo that holds the
	// workspace, for the catalog's last changes (nil: not known), and
	// reports whether it did; false leaves the docs repo alone. It runs
	// while the other repos are pushed, and use makes the catalog, so
	// that History may hold the graph for use alone. A nil History makes
	// a catalog without last changes.
	History func(ctx context.Context, use func(*gitops.CommitGraph)) bool
	// Prefix is the workspace's folder in that repo.
	Prefix string
	// Pages keeps the catalog's app pages between releases (catalog.Memo);
	// nil keeps none.
	Pages *catalog.Memo
	// Notify tells Argo CD about the pushes (internal/refresh), unless
	// DryRun: it gets the repos pushed and the error that stopped the
	// others, if any. Nil notifies nobody.
	Notify func(results []Result, err error)
	// Deployed, when set, gets the config repos' results and the error
	// that stopped them as soon as they are pushed, before the catalog
	// goes to the docs repo: what Argo CD deploys is in git then, and the
	// catalog only describes it (dmls serve answers its jobs here, and
	// the docs push is not part of their latency).
	Deployed func(results []Result, err error)
	// Warn receives what went wrong without failing the release (a panic
	// while the catalog was made); nil drops it.
	Warn func(msg string, args ...any)
}

// Release is the one publish pipeline of dmls publish and dmls serve: from
// a built workspace, it makes the model catalog while it pushes the config
// repos (Publish), tells Deployed when they are in, then pushes the
// catalog to the docs repo (it describes what they deploy), then tells
// Argo CD. res is not changed: the catalog goes on a copy.
func Release(ctx context.Context, p *spec.Platform, res *build.Result, opts ReleaseOptions) ([]Result, error) {
	var cat generators.Tree
	var catPanic any
	made := make(chan struct{})
	go func() {
		defer close(made)
		defer func() { catPanic = recover() }()
		cat = releaseCatalog(ctx, p, res, opts)
	}()
	results, err := Publish(ctx, p, res.Repos(p), opts.Options)
	if opts.Deployed != nil {
		opts.Deployed(slices.Clone(results), err)
	}
	<-made
	if catPanic != nil {
		if opts.Warn != nil {
			opts.Warn("catalog not published: internal error", "commit", opts.SourceCommit, "panic", fmt.Sprint(catPanic))
		}
		cat = nil
	}
	if err == nil && cat != nil {
		docs := generators.Tree{}
		docs.Add(p.Repos[RepoDocs].Path, cat)
		o := opts.Options
		o.Repos = []string{RepoDocs}
		var more []Result
		more, err = Publish(ctx, p, map[string]generators.Tree{RepoDocs: docs}, o)
		results = append(results, more...)
	}
	if opts.Notify != nil && !opts.DryRun {
		opts.Notify(results, err)
	}
	return results, err
}

// releaseCatalog is the catalog of res, or nil to leave the docs repo
// alone.
func releaseCatalog(ctx context.Context, p *spec.Platform, res *build.Result, opts ReleaseOptions) generators.Tree {
	if _, ok := p.Repos[RepoDocs]; !ok {
		return nil
	}
	// A copy: the build result may be shared (dmls serve's snapshots).
	withCatalog := *res
	use := func(history *gitops.CommitGraph) { CatalogMemo(p, &withCatalog, history, opts.Prefix, opts.Pages) }
	if opts.History == nil {
		use(nil)
	} else if !opts.History(ctx, use) {
		return nil
	}
	return withCatalog.Catalog
}
