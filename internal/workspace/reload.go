package workspace

import (
	"io/fs"
	"slices"

	"github.com/dmls-project/dmls/internal/schema"
	"github.com/dmls-project/dmls/internal/spec"
)

// Kept is what a load keeps for the next load of the same workspace with
// a few app folders changed (Reload): the platform and the environments,
// loaded, and the app of each valid app folder, before the checks across
// apps. It never changes once made. A server that changes a few apps of
// 1,000 per batch otherwise loaded the platform and the environments
// again (CUE), and read and hashed every app folder to find its cached
// app, on every batch.
type Kept struct {
	// ctx is the loader as loadContext left it.
	ctx *loader
	// apps are the valid app folders' apps, by folder.
	apps map[string]*spec.App
}

// LoadKept is Load that also returns what Reload needs of the load, nil
// when the platform or the environments did not load.
func LoadKept(fsys fs.FS, root string, opts Options) (*spec.Workspace, *Kept, error) {
	l, ev, err := loadContext(fsys, root, true)
	if err != nil {
		return nil, nil, err
	}
	var ctx *loader
	if !l.diags.HasErrors() && l.ws.Platform != nil {
		ctx = l.clone(nil)
	}
	l.keep = map[string]*spec.App{}
	ws, err := l.load(ev, opts)
	schema.ReleaseEvaluator(ev)
	if ctx == nil {
		return ws, nil, err
	}
	return ws, &Kept{ctx: ctx, apps: l.keep}, err
}

// Reload loads the workspace in fsys, which holds the files of k's load
// but in the app folders of changed: the platform and the environments
// are k's (the same values, so a platform changed after the load, as
// dmls serve's URL overrides do, stays changed), an app folder not in
// changed that was valid is k's app, and the others are loaded as Load
// does. The checks across apps (names, owners, quotas) run over every
// app, as Load runs them, so the findings are Load's.
func (k *Kept) Reload(fsys fs.FS, changed map[string]bool, opts Options) (*spec.Workspace, *Kept, error) {
	ev, err := schema.AcquireEvaluator()
	if err != nil {
		return nil, nil, err
	}
	l := k.ctx.clone(fsys)
	l.reuse = make(map[string]*spec.App, len(k.apps))
	for dir, a := range k.apps {
		if !changed[dir] {
			l.reuse[dir] = a
		}
	}
	l.keep = map[string]*spec.App{}
	ws, err := l.load(ev, opts)
	schema.ReleaseEvaluator(ev)
	return ws, &Kept{ctx: k.ctx, apps: l.keep}, err
}

// clone returns a loader that holds l's loaded context (platform,
// environments, their findings) to load the apps of fsys with, sharing
// nothing that a load changes.
func (l *loader) clone(fsys fs.FS) *loader {
	ws := *l.ws
	ws.Apps, ws.Warnings = nil, nil
	return &loader{fsys: fsys, root: l.root, ws: &ws, ctx: l.ctx, ctxDigest: l.ctxDigest,
		diags: slices.Clone(l.diags), envFiles: l.envFiles}
}
