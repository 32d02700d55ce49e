package cli

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/internal/cache"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/outdir"
	"github.com/dmls-project/dmls/internal/render"
	"github.com/dmls-project/dmls/internal/workspace"
)

// cacheFlags are the flags of the commands that use the on-disk cache.
type cacheFlags struct {
	dir string
	off bool
}

func (c *cacheFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&c.dir, "cache-dir", "", "keep per-app results in DIR (default $XDG_CACHE_HOME/dmls, or ~/.cache/dmls)")
	cmd.Flags().BoolVar(&c.off, "no-cache", false, "neither read nor write the cache")
}

// debugf prints a debug line on stderr when DMLS_DEBUG is set.
func (g *globals) debugf(format string, args ...any) {
	if os.Getenv("DMLS_DEBUG") != "" {
		fmt.Fprintf(g.stderr, "dmls: debug: "+format+"\n", args...)
	}
}

// openCache opens the cache the flags name, or returns nil to run without
// one. The cache may not be in out (which is replaced as a whole) or in
// the folders of the workspace that dmls reads. A default cache that
// cannot be opened is skipped silently; a --cache-dir that cannot, with a
// warning.
func (g *globals) openCache(c cacheFlags, out string) (*cache.Store, error) {
	if c.off {
		return nil, nil
	}
	dir := c.dir
	if dir == "" {
		d, err := cache.DefaultDir()
		if err != nil {
			g.debugf("%v", err)
			return nil, nil
		}
		dir = d
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, usageError{fmt.Errorf("--cache-dir %s: %w", dir, err)}
	}
	keep := map[string]string{}
	if out != "" {
		if o, err := filepath.Abs(out); err == nil {
			keep[o] = "the output folder " + out
		}
	}
	// Not in the workspace either: its folder is the user's git work tree,
	// where cache files would be committed with the specs.
	if w, err := filepath.Abs(g.workspace); err == nil {
		keep[w] = "the workspace " + g.workspace
	}
	// Nor a filesystem root, nor a folder that holds the workspace: the
	// cache writes entries/ and pruned/ at its top and removes what it
	// prunes.
	refuse := ""
	if filepath.Dir(abs) == abs {
		refuse = fmt.Sprintf("the cache folder %s is a filesystem root", dir)
	} else if w, err := filepath.Abs(g.workspace); err == nil && outdir.Within(w, abs) {
		refuse = fmt.Sprintf("the cache folder %s holds the workspace %s", dir, g.workspace)
	}
	if refuse != "" {
		if c.dir == "" {
			g.debugf("running without the cache: %s", refuse)
			return nil, nil
		}
		return nil, usageError{fmt.Errorf("%s; give a folder of its own to --cache-dir (default $XDG_CACHE_HOME/dmls), or --no-cache", refuse)}
	}
	for p, what := range keep {
		if outdir.Within(abs, p) {
			if c.dir == "" {
				g.debugf("running without the cache: %s is in %s", dir, what)
				return nil, nil
			}
			return nil, usageError{fmt.Errorf("the cache folder %s is in %s; give another --cache-dir or --no-cache", dir, what)}
		}
	}
	st, err := cache.Open(abs)
	if err != nil {
		if c.dir != "" {
			fmt.Fprintf(g.stderr, "dmls: warning: running without the cache: %v\n", err)
		} else {
			g.debugf("running without the cache: %v", err)
		}
		return nil, nil
	}
	st.Debug = g.debugf
	return st, nil
}

// snapshot reads the workspace for the cache; nil means run uncached.
// Close the workspace when done: the snapshot reads charts from it.
func (g *globals) snapshot() (*cache.Snapshot, io.Closer) {
	if st, err := os.Stat(g.workspace); err != nil || !st.IsDir() {
		return nil, nil // load reports it
	}
	fsys, closer, err := workspace.DirFS(g.workspace)
	if err != nil {
		return nil, nil
	}
	snap, err := cache.Read(fsys, g.workspace, cache.BinaryVersion(Version))
	if err != nil {
		closer.Close()
		g.debugf("running without the cache: %v", err)
		return nil, nil
	}
	return snap, closer
}

// sink takes output files one by one: an output folder or, for stdout, a
// tree written at the end.
type sink interface {
	Add(name string, b []byte) error
}

// treeSink collects files, from several goroutines.
type treeSink struct {
	mu    sync.Mutex
	files generators.Tree
}

func (t *treeSink) Add(name string, b []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.files[name] = b
	return nil
}

// renderCached renders the workspace through the cache, streaming each
// app's files to --out (or to stdout at the end). It returns false, having
// printed and written nothing, when the uncached path must run instead.
func (g *globals) renderCached(cf cacheFlags, envs []string, out string) (bool, error) {
	snap, closer := g.snapshot()
	if snap == nil {
		return false, nil
	}
	defer closer.Close()
	want := map[string]bool{}
	for _, e := range envs {
		want[e] = true
	}
	var s sink
	var stream *outdir.Stream
	var err error
	tree := &treeSink{files: generators.Tree{}}
	if out != "" {
		if stream, err = outdir.Create(out, outdir.Options{Workspace: g.workspace}); err != nil {
			return true, err
		}
		defer stream.Abort()
		defer g.onStop(stream.Abort)()
		s = stream
	} else {
		s = tree
	}
	store, err := g.openCache(cf, out)
	if err != nil {
		return true, err
	}
	bar := newProgress(g.stderr, "render")
	opts := cache.Options{
		Store: store, Render: true, Progress: bar.update, NoTree: true,
		Emit: func(a *cache.App) error {
			for _, env := range a.Envs {
				if len(want) == 0 || want[env] {
					if err := s.Add(appFile(env, a.Name), a.Rendered[env]); err != nil {
						return err
					}
				}
			}
			return nil
		},
	}
	if stream != nil && stream.Replacing() {
		// An app whose files the old output holds is kept from there.
		opts.Kept = func(a *cache.App) bool {
			for _, env := range a.Envs {
				if len(want) == 0 || want[env] {
					sum, ok := a.Sums[env]
					if !ok || !stream.Keep(appFile(env, a.Name), sum) {
						return false
					}
				}
			}
			return true
		}
	}
	r, err := cache.Run(snap, opts)
	bar.stop()
	if g.fellBack(err) {
		return false, nil
	}
	if err != nil {
		return true, err
	}
	g.debugf("cache: %d app(s) from %s, %d built", r.Hits, cacheDir(store), r.Misses)
	g.warn(r.LoadWarnings)
	known := map[string]bool{}
	for _, e := range r.Platform.Envs {
		known[e] = true
	}
	for _, e := range envs {
		if !known[e] {
			return true, usageError{fmt.Errorf("--env %s: no such environment", e)}
		}
	}
	g.warn(r.BuildWarnings)
	for name, b := range r.Platform.Rendered {
		env, _, _ := strings.Cut(name, "/")
		if len(want) == 0 || want[env] || env == render.PlatformName {
			if err := s.Add(name, b); err != nil {
				return true, err
			}
		}
	}
	if stream != nil {
		return true, stream.Commit()
	}
	return true, writeStream(g, tree.files)
}

func cacheDir(s *cache.Store) string {
	if s == nil {
		return "no cache"
	}
	return s.Dir()
}

// generateCached writes the config repos' trees through the cache,
// streaming each app's tree to out. It returns false, having printed and
// written nothing, when the uncached path must run instead.
func (g *globals) generateCached(cf cacheFlags, out string) (bool, error) {
	snap, closer := g.snapshot()
	if snap == nil {
		return false, nil
	}
	defer closer.Close()
	stream, err := outdir.Create(out, outdir.Options{Workspace: g.workspace})
	if err != nil {
		return true, err
	}
	defer stream.Abort()
	defer g.onStop(stream.Abort)()
	store, err := g.openCache(cf, out)
	if err != nil {
		return true, err
	}
	bar := newProgress(g.stderr, "generate")
	counts := map[string]int{}
	var prefix string
	var mu sync.Mutex
	r, err := cache.Run(snap, cache.Options{
		Store: store, Render: true, Progress: bar.update, Workspace: true,
		Emit: func(a *cache.App) error {
			t := generators.Tree{}
			t.Add(prefix, a.Tree)
			for p, b := range t {
				if err := stream.Add(layout.RepoK8sConfig+"/"+p, b); err != nil {
					return err
				}
			}
			mu.Lock()
			counts[layout.RepoK8sConfig] += len(t)
			mu.Unlock()
			return nil
		},
		Platform: func(p *cache.Platform) error { prefix = p.Prefix; return nil },
	})
	bar.stop()
	if g.fellBack(err) {
		return false, nil
	}
	if err != nil {
		return true, err
	}
	ws := r.Workspace
	if ws.Platform.Repos[layout.RepoK8sConfig].Path != prefix {
		return false, nil // a stale entry could only say otherwise
	}
	g.warn(r.LoadWarnings)
	g.warn(r.BuildWarnings)
	whole, err := cache.Whole(snap, r, ws, store)
	if err != nil {
		return true, err
	}
	repos := whole.Repos
	for _, name := range slices.Sorted(maps.Keys(repos)) {
		for _, p := range slices.Sorted(maps.Keys(repos[name])) {
			if err := stream.Add(name+"/"+p, repos[name][p]); err != nil {
				return true, err
			}
		}
		counts[name] += len(repos[name])
	}
	if err := stream.Commit(); err != nil {
		return true, err
	}
	for _, name := range slices.Sorted(maps.Keys(repos)) {
		fmt.Fprintf(g.stdout, "%s/%s: %d files\n", out, name, counts[name])
	}
	return true, nil
}

// fellBack reports whether a cached run gave way to the uncached one
// (cache.ErrFallback), and says why under --debug.
func (g *globals) fellBack(err error) bool {
	if errors.Is(err, cache.ErrFallback) {
		g.debugf("%v; running without the cache", err)
		return true
	}
	return false
}
