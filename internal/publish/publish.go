// Package publish commits the generated trees of a workspace to its config
// repos, one commit per repo that changed, and pushes them.
package publish

import (
	"context"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/internal/gitops"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/repourl"
	"github.com/dmls-project/dmls/internal/spec"
)

// TrailerSource names the workspace commit a config commit was made from.
const TrailerSource = "Dmls-Source-Commit"

// Options tune Publish.
type Options struct {
	// URLs override repo URLs of the platform by repo name (--repo NAME=URL).
	URLs map[string]string
	// DryRun reports what would change and pushes nothing.
	DryRun bool
	// Message is the first line of each commit message; empty means a
	// summary of what changed.
	Message string
	// SourceCommit is the workspace's git commit, recorded as a trailer.
	SourceCommit string
	Auth         gitops.Auth
	Author       gitops.Signature
	// Repos, when set, limits publishing to these repos, such as the ones
	// a change can touch; empty means every repo of the platform.
	Repos []string
	// Keep, when set, keeps each repo in memory between publishes (see
	// gitops.Repo), for a process that publishes again and again. The
	// trees passed to Publish must then not be changed afterwards.
	Keep *Repos
	// Parallel pushes the repos at once rather than one after another,
	// the catalog still last (after the others succeeded). A failure in
	// one repo then does not stop the others before the catalog; the
	// first error in name order is returned, with the repos that were
	// pushed.
	Parallel bool
}

// Repos keeps one gitops.Repo per target across publishes. The zero value
// is ready; safe for concurrent use.
type Repos struct {
	mu sync.Mutex
	m  map[gitops.Target]*gitops.Repo
}

// publish runs req on the target's Repo, or with gitops.Publish without rs.
func (rs *Repos) publish(ctx context.Context, req gitops.Request) (gitops.Result, error) {
	if rs == nil {
		return gitops.Publish(ctx, req)
	}
	rs.mu.Lock()
	rp := rs.m[req.Target]
	if rp == nil {
		var err error
		if rp, err = gitops.OpenRepo(req.Target, req.Auth); err != nil {
			rs.mu.Unlock()
			return gitops.Publish(ctx, req) // it reports the error
		}
		if rs.m == nil {
			rs.m = map[gitops.Target]*gitops.Repo{}
		}
		rs.m[req.Target] = rp
	}
	rs.mu.Unlock()
	return rp.Publish(ctx, req)
}

// Result is what happened in one repo.
type Result struct {
	gitops.Result
	Name string
	URL  string
}

// Publish writes each repo's tree into its repo. Repos are published one
// after another, in name order with the docs repo last (see
// Options.Parallel); the first error stops it, and the repos already
// pushed keep their (complete) commits.
func Publish(ctx context.Context, p *spec.Platform, trees map[string]generators.Tree, opts Options) ([]Result, error) {
	if err := checkURLs(p, opts.URLs); err != nil {
		return nil, err
	}
	// The catalog goes last: it describes what the other repos deploy,
	// and a docs repo that cannot be reached must not hold them back.
	names := slices.Sorted(maps.Keys(p.Repos))
	if i := slices.Index(names, RepoDocs); i >= 0 {
		names = append(slices.Delete(names, i, i+1), RepoDocs)
	}
	type push struct {
		name, url string
		req       gitops.Request
	}
	var pushes []push
	for _, name := range names {
		if len(opts.Repos) > 0 && !slices.Contains(opts.Repos, name) {
			continue
		}
		repo := p.Repos[name]
		managed := managedDirs(name, repo.Path)
		if name == layout.RepoKubeflowConfig && len(p.Components) == 0 {
			// A platform without components does not use kubeflow-config;
			// publishing would only need the repo to be reachable.
			managed = nil
		}
		tree, ok := trees[name]
		if !ok && name == RepoDocs {
			continue // no catalog built: leave the docs repo alone
		}
		if len(managed) == 0 && len(tree) == 0 {
			continue
		}
		url := repo.URL
		if u, ok := opts.URLs[name]; ok {
			url = u
		}
		req := gitops.Request{
			Target:  gitops.Target{Name: name, URL: url, Branch: repo.Branch},
			Files:   tree,
			Managed: managed,
			Auth:    opts.Auth,
			Author:  opts.Author,
			DryRun:  opts.DryRun,
			// The message lists what changed, in the very commit.
			Describe: func(r gitops.Result) string { return Message(opts.Message, repo.Path, r) },
		}
		if opts.SourceCommit != "" {
			req.Trailers = []gitops.Trailer{{Key: TrailerSource, Value: opts.SourceCommit}}
		}
		pushes = append(pushes, push{name: name, url: url, req: req})
	}
	var out []Result
	run := func(ps []push) error {
		results := make([]Result, len(ps))
		errs := make([]error, len(ps))
		one := func(i int) {
			res, err := opts.Keep.publish(ctx, ps[i].req)
			if err != nil {
				errs[i] = fmt.Errorf("publish to %s: %w", ps[i].name, err)
				return
			}
			results[i] = Result{Result: res, Name: ps[i].name, URL: repourl.Public(ps[i].url)}
		}
		if opts.Parallel && len(ps) > 1 {
			var wg sync.WaitGroup
			for i := range ps {
				wg.Add(1)
				go func() { defer wg.Done(); one(i) }()
			}
			wg.Wait()
		} else {
			for i := range ps {
				if one(i); errs[i] != nil {
					break
				}
			}
		}
		var first error
		for i := range ps {
			switch {
			case errs[i] != nil && first == nil:
				first = errs[i]
			case errs[i] == nil && results[i].Name != "":
				out = append(out, results[i])
			}
		}
		return first
	}
	// With Parallel, the repos before the catalog are pushed at once.
	i := len(pushes)
	if i > 0 && pushes[i-1].name == RepoDocs {
		i--
	}
	if err := run(pushes[:i]); err != nil {
		return out, err
	}
	if err := run(pushes[i:]); err != nil {
		return out, err
	}
	return out, nil
}

// OverrideURLs sets the URLs of the platform's repos from urls (repo name
// to URL), so that what is generated, such as Argo CD's repoURLs, names
// the repo that is actually published to. Call it before the build.
func OverrideURLs(p *spec.Platform, urls map[string]string) error {
	if err := checkURLs(p, urls); err != nil {
		return err
	}
	for name, url := range urls {
		r := p.Repos[name]
		r.URL = url
		p.Repos[name] = r
	}
	return nil
}

func checkURLs(p *spec.Platform, urls map[string]string) error {
	for name := range urls {
		if _, ok := p.Repos[name]; !ok {
			return fmt.Errorf("--repo %s: the platform has no repo of that name; its repos are %s", name, strings.Join(slices.Sorted(maps.Keys(p.Repos)), ", "))
		}
	}
	return nil
}

func managedDirs(repo, prefix string) []string {
	var out []string
	for _, d := range layout.ManagedDirs[repo] {
		out = append(out, path.Join(prefix, d))
	}
	return out
}

// Message writes a commit message that lists the apps and environments
// that changed, from the changed paths.
func Message(subject, prefix string, res gitops.Result) string {
	apps := map[string]map[string]bool{}
	other := map[string]map[string]bool{}
	var all []string
	all = append(all, res.Added...)
	all = append(all, res.Modified...)
	all = append(all, res.Deleted...)
	for _, p := range all {
		rel := strings.TrimPrefix(strings.TrimPrefix(p, prefix), "/")
		parts := strings.Split(rel, "/")
		app, env, ok := layout.AppOf(rel)
		switch {
		case ok && env != "":
			add(apps, app, env)
		case ok:
			add(apps, app, "all environments")
		case len(parts) >= 2:
			add(other, parts[0], parts[1])
		}
	}
	if subject == "" {
		names := slices.Sorted(maps.Keys(apps))
		switch {
		case len(names) == 0:
			subject = "dmls: update " + strings.Join(slices.Sorted(maps.Keys(other)), ", ")
		case len(names) <= 3:
			subject = "dmls: update " + strings.Join(names, ", ")
		default:
			subject = fmt.Sprintf("dmls: update %d apps", len(names))
		}
	}
	var b strings.Builder
	b.WriteString(subject)
	b.WriteString("\n\n")
	for _, name := range slices.Sorted(maps.Keys(apps)) {
		fmt.Fprintf(&b, "app %s: %s\n", name, strings.Join(slices.Sorted(maps.Keys(apps[name])), ", "))
	}
	for _, name := range slices.Sorted(maps.Keys(other)) {
		fmt.Fprintf(&b, "%s: %s\n", name, strings.Join(slices.Sorted(maps.Keys(other[name])), ", "))
	}
	fmt.Fprintf(&b, "\n%d added, %d changed, %d deleted\n", len(res.Added), len(res.Modified), len(res.Deleted))
	return b.String()
}

func add(m map[string]map[string]bool, k, v string) {
	if m[k] == nil {
		m[k] = map[string]bool{}
	}
	m[k][v] = true
}

// SourceCommit returns the commit checked out in dir, when dir is in a git
// work tree.
func SourceCommit(dir string) string {
	r, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return ""
	}
	head, err := r.Head()
	if err != nil {
		return ""
	}
	return head.Hash().String()
}
