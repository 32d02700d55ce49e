package preview

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/internal/cache"
	"github.com/dmls-project/dmls/internal/diff"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/render"
)

// Cache is how Cached reaches the on-disk cache of rendered apps.
type Cache struct {
	// Store keeps the results; nil still runs through package cache,
	// storing nothing.
	Store *cache.Store
	// Version is the dmls binary's cache version (cache.BinaryVersion).
	Version string
}

// Cached is Run through the on-disk cache: each side's apps come from the
// store when an earlier run (of render, generate or diff, on any
// revision) rendered the same inputs, and the rest are built and stored.
// Apps whose rendered output is the same on both sides are not compared,
// as Run skips apps whose inputs are the same. It returns an error
// wrapping cache.ErrFallback when the cache cannot answer for a side (a
// side that does not validate, apps that clash): Run must then, and
// reports what is wrong.
func Cached(base, head Revision, opts Options, c Cache) (*diff.Report, error) {
	if head.FS == nil {
		return nil, fmt.Errorf("%w: the head has no workspace", cache.ErrFallback)
	}
	h, err := cachedSide(head, opts, c)
	if err != nil {
		return nil, err
	}
	var b *sideFiles
	if base.FS != nil {
		if b, err = cachedSide(base, opts, c); err != nil {
			return nil, err
		}
	}
	if err := checkCachedFilters(opts, h, b); err != nil {
		return nil, err
	}
	var warnings []string
	for _, x := range append(slices.Clip(h.run.LoadWarnings), h.run.BuildWarnings...) {
		warnings = append(warnings, "head: "+x.String())
	}
	changed := map[string]bool{}
	for name, files := range h.apps {
		if b == nil || !sameFiles(b.apps[name], files) {
			changed[name] = true
		}
	}
	if b != nil {
		for name := range b.apps {
			if _, ok := h.apps[name]; !ok {
				changed[name] = true
			}
		}
	}
	hside := h.side(head.Rev, changed, opts)
	bside := &diff.Side{Rev: base.Rev, GPU: map[string]int{}}
	if b != nil {
		bside = b.side(base.Rev, changed, opts)
	}
	r, err := diff.Compare(bside, hside, diff.Options{Envs: opts.Envs, Apps: opts.Apps})
	if err != nil {
		return nil, err
	}
	r.Warnings = append(warnings, r.Warnings...)
	return r, nil
}

// sideFiles is what the cache gives of one revision.
type sideFiles struct {
	run *cache.Result
	// apps are the apps' rendered files per environment.
	apps map[string]map[string][]byte
	// argocd is the Argo CD tree of the whole workspace.
	argocd generators.Tree
}

func cachedSide(rev Revision, opts Options, c Cache) (*sideFiles, error) {
	snap, err := cache.Read(rev.FS, opts.Root, c.Version)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", cache.ErrFallback, err)
	}
	s := &sideFiles{apps: map[string]map[string][]byte{}}
	var mu sync.Mutex
	r, err := cache.Run(snap, cache.Options{
		Store: c.Store, Workers: opts.Workers, Render: true, Workspace: true,
		Emit: func(a *cache.App) error {
			mu.Lock()
			defer mu.Unlock()
			s.apps[a.Name] = a.Rendered
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	s.run = r
	whole, err := cache.Whole(snap, r, r.Workspace, c.Store)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", cache.ErrFallback, err)
	}
	s.argocd = whole.ArgoCD
	return s, nil
}

func sameFiles(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}

func checkCachedFilters(opts Options, sides ...*sideFiles) error {
	has := func(f func(*sideFiles) bool) bool {
		return slices.ContainsFunc(sides, func(s *sideFiles) bool { return s != nil && f(s) })
	}
	for _, e := range opts.Envs {
		if !has(func(s *sideFiles) bool { return slices.Contains(s.run.Platform.Envs, e) }) {
			return fmt.Errorf("--env %s: %w on either side", e, ErrFilter)
		}
	}
	for _, a := range opts.Apps {
		if !has(func(s *sideFiles) bool { _, ok := s.apps[a]; return ok }) {
			return fmt.Errorf("--app %s: %w on either side", a, ErrFilter)
		}
	}
	return nil
}

// side is the diff.Side of the revision, with the units side makes for
// an uncached one.
func (s *sideFiles) side(rev string, changed map[string]bool, opts Options) *diff.Side {
	d := &diff.Side{Rev: rev, Envs: s.run.Platform.Envs, GPU: map[string]int{}}
	src := func(dir string) string { return path.Join(s.run.Platform.Prefix, dir) }
	wantEnv := func(env string) bool { return len(opts.Envs) == 0 || slices.Contains(opts.Envs, env) }
	wantApp := func(app string) bool { return len(opts.Apps) == 0 || slices.Contains(opts.Apps, app) }
	// What the renderers add after each file's YAML.
	yamlOf := func(b []byte) []byte { return bytes.TrimSuffix(b, []byte("\n")) }
	for _, a := range s.run.Apps {
		for ns, n := range a.GPUs {
			d.GPU[ns] += n
		}
		if !changed[a.Name] || !wantApp(a.Name) {
			continue
		}
		for _, env := range a.Envs {
			if !wantEnv(env) {
				continue
			}
			d.Units = append(d.Units, diff.Unit{Key: env + "/" + a.Name, Kind: diff.KindApp, Env: env, App: a.Name, Title: a.Name + "/" + env,
				Source: src(layout.OverlayDir(a.Name, env)), YAML: yamlOf(s.apps[a.Name][env])})
		}
	}
	for _, env := range s.run.Platform.Envs {
		d.Units = append(d.Units, diff.Unit{Key: env + "/" + render.PlatformName, Kind: diff.KindPlatform, Env: env, Title: env + " platform",
			Source: src(layout.PlatformDir(env)), YAML: yamlOf(s.run.Platform.Rendered[render.PlatformEnvFile(env)])})
	}
	if y, ok := s.run.Platform.Rendered[render.APIServerFile]; ok {
		d.Units = append(d.Units, diff.Unit{Key: render.PlatformName + "/" + layout.APIServerName, Kind: diff.KindPlatform, Title: "dmls-api (platform)", Source: src(layout.APIServerDir), YAML: yamlOf(y)})
	}
	d.Units = append(d.Units, argoUnits(s.argocd, src, func(name string) bool { return slices.Contains(s.run.Platform.Envs, name) })...)
	return d
}

// argoUnits are the units of an Argo CD tree, a folder each: the folders
// hold one object per file, which kustomize only lists, so they are read
// as they are.
func argoUnits(tree generators.Tree, src func(string) string, isEnv func(string) bool) []diff.Unit {
	folders := map[string][]string{}
	for p := range tree {
		dir, file := path.Split(p)
		if file != layout.KustomizationFile {
			folders[strings.TrimSuffix(dir, "/")] = append(folders[strings.TrimSuffix(dir, "/")], p)
		}
	}
	var out []diff.Unit
	for _, dir := range slices.Sorted(maps.Keys(folders)) {
		files := folders[dir]
		slices.Sort(files)
		var y []byte
		for _, f := range files {
			y = append(y, "---\n"...)
			y = append(y, tree[f]...)
		}
		name := path.Base(dir)
		u := diff.Unit{Key: "_argocd/" + name, Kind: diff.KindArgoCD, Title: "Argo CD " + name, Source: src(dir), YAML: y}
		if isEnv(name) {
			u.Env = name
			u.Title = name + " Argo CD"
		}
		if name == "bootstrap" {
			u.Source = "" // applied once by hand
		}
		out = append(out, u)
	}
	return out
}

// IsFallback reports whether err from Cached means Run must answer.
func IsFallback(err error) bool { return errors.Is(err, cache.ErrFallback) }
