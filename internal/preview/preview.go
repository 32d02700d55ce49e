// Package preview renders two revisions of a workspace and compares them
// with package diff, rendering on both sides only the apps whose inputs
// differ.
package preview

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"

	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/diff"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/memo"
	"github.com/dmls-project/dmls/internal/render"
	"github.com/dmls-project/dmls/internal/rules"
	"github.com/dmls-project/dmls/internal/spec"
	"github.com/dmls-project/dmls/internal/workspace"
)

// ErrFilter: --env or --app names nothing on either side.
var ErrFilter = errors.New("no such environment or app")

// Revision is one side of a preview.
type Revision struct {
	// FS is the workspace folder at this revision; nil when the revision
	// has none (the base then counts as empty).
	FS fs.FS
	// Rev names the revision for people.
	Rev string
}

// Options tune Run.
type Options struct {
	// Root names the workspace folder in findings; both sides use it, so
	// that their app digests compare.
	Root string
	// Envs and Apps limit the preview.
	Envs, Apps []string
	// Workers bounds parallel loading and building; 0 means GOMAXPROCS.
	Workers int
}

// maxWarnings bounds the spec errors of a broken base quoted in the report.
const maxWarnings = 10

// Run compares base with head. A head that does not validate is an error
// (a diag.List). A base that does not validate is compared as empty, so
// that the head shows as all new, with a warning in the report.
//
// Both sides share one cache of evaluated and built apps keyed by digest
// (the hash of everything an app's output depends on), so an app that is
// the same on both sides is evaluated and built once and rendered never;
// only apps whose digests differ are rendered, on both sides.
func Run(base, head Revision, opts Options) (*diff.Report, error) {
	wcache := memo.New[*spec.App](1 << 30)
	bcache := memo.New[*build.App](1 << 30)
	hws, err := workspace.Load(head.FS, opts.Root, workspace.Options{Cache: wcache, Workers: opts.Workers})
	if err != nil {
		return nil, err
	}
	var warnings []string
	var bws *spec.Workspace
	var bres *build.Result
	if base.FS != nil {
		bws, err = workspace.Load(base.FS, opts.Root, workspace.Options{Cache: wcache, Workers: opts.Workers})
		if err == nil {
			bres, err = build.Workspace(bws, build.Options{Cache: bcache, Workers: opts.Workers})
		}
		var d diag.List
		switch {
		case errors.As(err, &d):
			d = d.Errors()
			warnings = append(warnings, fmt.Sprintf("the base %s does not validate (%d error(s)); the head is shown as all new", base.Rev, len(d)))
			for i, x := range d {
				if i == maxWarnings {
					warnings = append(warnings, fmt.Sprintf("... and %d more", len(d)-maxWarnings))
					break
				}
				warnings = append(warnings, "base: "+x.String())
			}
			bws, bres = nil, nil
		case err != nil:
			return nil, fmt.Errorf("base %s: %w", base.Rev, err)
		}
	}
	if err := checkFilters(opts, hws, bws); err != nil {
		return nil, err
	}
	hres, err := build.Workspace(hws, build.Options{Cache: bcache, Workers: opts.Workers})
	if err != nil {
		return nil, err
	}
	return compare(Built{Rev: base.Rev, WS: bws, Res: bres}, Built{Rev: head.Rev, WS: hws, Res: hres}, warnings, opts)
}

// Built is one side of a preview, loaded and built already.
type Built struct {
	Rev string
	// WS and Res are the loaded and built workspace; nil on the base side
	// when it has none (it then counts as empty).
	WS  *spec.Workspace
	Res *build.Result
}

// Compare compares two sides loaded and built already, by a caller that
// keeps them (dmls serve's dry run: only the changed app was evaluated
// again), as Run compares the revisions it loads.
func Compare(base, head Built, opts Options) (*diff.Report, error) {
	if err := checkFilters(opts, head.WS, base.WS); err != nil {
		return nil, err
	}
	return compare(base, head, nil, opts)
}

func compare(base, head Built, warnings []string, opts Options) (*diff.Report, error) {
	bws, bres, hws, hres := base.WS, base.Res, head.WS, head.Res
	// The head's own warnings belong in its review.
	for _, x := range append(append(diag.List{}, hws.Warnings...), hres.Warnings...) {
		warnings = append(warnings, "head: "+x.String())
	}
	changed := changedApps(bws, hws)
	hside, err := side(head.Rev, hws, hres, changed, opts)
	if err != nil {
		return nil, fmt.Errorf("head: %w", err)
	}
	bside := &diff.Side{Rev: base.Rev, GPU: map[string]int{}}
	if bws != nil {
		if bside, err = side(base.Rev, bws, bres, changed, opts); err != nil {
			return nil, fmt.Errorf("base: %w", err)
		}
	}
	r, err := diff.Compare(bside, hside, diff.Options{Envs: opts.Envs, Apps: opts.Apps})
	if err != nil {
		return nil, err
	}
	r.Warnings = append(warnings, r.Warnings...)
	return r, nil
}

func checkFilters(opts Options, sides ...*spec.Workspace) error {
	for _, e := range opts.Envs {
		if !slices.ContainsFunc(sides, func(ws *spec.Workspace) bool { return ws != nil && ws.Env(e) != nil }) {
			return fmt.Errorf("--env %s: %w on either side", e, ErrFilter)
		}
	}
	for _, a := range opts.Apps {
		if !slices.ContainsFunc(sides, func(ws *spec.Workspace) bool { return ws != nil && ws.App(a) != nil }) {
			return fmt.Errorf("--app %s: %w on either side", a, ErrFilter)
		}
	}
	return nil
}

// changedApps are the apps whose digests differ, or that are on one side only.
func changedApps(base, head *spec.Workspace) map[string]bool {
	out := map[string]bool{}
	for _, a := range head.Apps {
		if base == nil || base.App(a.Name) == nil || base.App(a.Name).Digest != a.Digest {
			out[a.Name] = true
		}
	}
	if base != nil {
		for _, a := range base.Apps {
			if head.App(a.Name) == nil {
				out[a.Name] = true
			}
		}
	}
	return out
}

// side renders the units of one revision: the changed apps in every
// environment, the platform, and the Argo CD objects.
func side(rev string, ws *spec.Workspace, res *build.Result, changed map[string]bool, opts Options) (*diff.Side, error) {
	s := &diff.Side{Rev: rev, GPU: map[string]int{}}
	prefix := ""
	if r, ok := ws.Platform.Repos[layout.RepoK8sConfig]; ok {
		prefix = r.Path
	}
	src := func(dir string) string { return path.Join(prefix, dir) }
	wantEnv := func(env string) bool { return len(opts.Envs) == 0 || slices.Contains(opts.Envs, env) }
	wantApp := func(app string) bool { return len(opts.Apps) == 0 || slices.Contains(opts.Apps, app) }
	for _, env := range ws.Envs {
		s.Envs = append(s.Envs, env.Name)
	}
	for _, a := range res.Apps {
		for _, in := range a.App.Envs {
			s.GPU[in.Namespace] += rules.GPUs(in.Spec)
		}
		if !changed[a.App.Name] || !wantApp(a.App.Name) {
			continue
		}
		for _, in := range a.App.Envs {
			env := in.Env.Name
			if !wantEnv(env) {
				continue
			}
			dir := layout.OverlayDir(a.App.Name, env)
			y, _, err := a.Render(env)
			if err != nil {
				return nil, err
			}
			s.Units = append(s.Units, diff.Unit{Key: env + "/" + a.App.Name, Kind: diff.KindApp, Env: env, App: a.App.Name, Title: a.App.Name + "/" + env, Source: src(dir), YAML: y})
		}
	}
	for _, env := range ws.Envs {
		dir := layout.PlatformDir(env.Name)
		y, err := render.PlatformDir(res, dir, false)
		if err != nil {
			return nil, err
		}
		s.Units = append(s.Units, diff.Unit{Key: env.Name + "/" + render.PlatformName, Kind: diff.KindPlatform, Env: env.Name, Title: env.Name + " platform", Source: src(dir), YAML: y})
	}
	if render.HasAPIServer(res) {
		y, err := render.PlatformDir(res, layout.APIServerDir, false)
		if err != nil {
			return nil, err
		}
		s.Units = append(s.Units, diff.Unit{Key: render.PlatformName + "/" + layout.APIServerName, Kind: diff.KindPlatform, Title: "dmls-api (platform)", Source: src(layout.APIServerDir), YAML: y})
	}
	s.Units = append(s.Units, argoUnits(res.ArgoCD, src, func(name string) bool { return ws.Env(name) != nil })...)
	return s, nil
}
