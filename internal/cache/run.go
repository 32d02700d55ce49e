package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"maps"
	"runtime"
	"slices"
	"sort"
	"sync"

	"github.com/dmls-project/dmls/internal/apis/argocdv1alpha1"
	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/parallel"
	"github.com/dmls-project/dmls/internal/render"
	"github.com/dmls-project/dmls/internal/rules"
	"github.com/dmls-project/dmls/internal/spec"
	"github.com/dmls-project/dmls/internal/workspace"
)

// ErrFallback says that Run cannot answer for the workspace and the caller
// must run the whole pipeline without the cache: the workspace has errors
// (which that run reports, all of them, as usual), or two apps clash
// (a name, an object), which only a load of every app reports.
var ErrFallback = errors.New("the cache cannot answer")

// App is the cached result of one app: what render, generate and validate
// need of it. It is built from the app's files, the platform and
// environments and the dmls binary only, so it is valid wherever those
// are the same.
type App struct {
	Name, Team, Dir string
	// Envs are the environments the app runs in, in order.
	Envs []string
	// Rendered is the app's rendered output per environment (Options.Render).
	Rendered map[string][]byte
	// Sums are the SHA-256 digests of Rendered, per environment, kept
	// when Rendered is dropped (see Options.Kept).
	Sums map[string][sha256.Size]byte
	// Tree is the app's kustomize tree (build.App.Tree), unless NoTree.
	Tree map[string][]byte
	// NoTree says the entry was built without the kustomize tree (by
	// render, Options.NoTree): it serves only callers that use no Tree,
	// and one that does builds the app again and stores it whole.
	NoTree bool
	// Ignore are the Argo CD ignoreDifferences per environment.
	Ignore map[string][]argocdv1alpha1.ResourceIgnoreDifferences
	// Features are the Knative config-features the app's Services use.
	Features map[string]string
	// Jobs are the app's TFJob names per environment (build.Kept).
	Jobs map[string]string
	// TrainJobs are its TrainJob names per environment (build.Kept).
	TrainJobs map[string]string `json:",omitempty"`
	// GPUs are the GPUs the app's objects ask for, per namespace, for the
	// quota check of dmls diff.
	GPUs map[string]int
	// Quota is what the app takes of its team's quota, for the check
	// across all apps (rules.CheckQuotas).
	Quota []rules.QuotaUse
	// LoadWarnings and BuildWarnings are the app's findings that do not
	// fail it, from the loader and from the generated objects' checks.
	LoadWarnings, BuildWarnings []diag.Diagnostic
	// Owns are the objects the app generates, one "group/kind namespace
	// name" each, and its Applications, so that clashes between apps
	// that were never loaded together are found.
	Owns []string
	// Whole is the digest of what build.Whole reads of the app (Kept),
	// set when it is built, for platformKey: hashing those fields of
	// 1,000 apps again was 15 ms of every warm render.
	Whole [sha256.Size]byte
}

// Platform is the cached result of the workspace's platform and
// environments.
type Platform struct {
	// Envs are the environment names, in order.
	Envs []string
	// Rendered are the rendered platform files (Options.Render),
	// set by Run from an entry of their own: they depend on every app's
	// TFJobs too.
	Rendered map[string][]byte
	// Prefix is the k8s-config repo's path prefix.
	Prefix string
	// Charts are the workspace charts the platform's components name: the
	// rendered platform files depend on them.
	Charts []string
	// Quotas are the teams' quotas, for the check across all apps.
	Quotas []rules.QuotaLimit
	// LoadWarnings are the loader's warnings on the platform and
	// environment files.
	LoadWarnings []diag.Diagnostic
}

// Options tune Run.
type Options struct {
	// Store keeps the results; nil runs without a cache (and still
	// streams).
	Store *Store
	// Workers bounds parallel apps; 0 means GOMAXPROCS.
	Workers int
	// Chunk is how many apps that are not cached are loaded and built at
	// once, which bounds the memory; 0 means 256.
	Chunk int
	// Render renders each app in its environments and the platform's
	// files (internal/render's AppFiles and Platform) and keeps them.
	Render bool
	// Emit receives each app as soon as it is ready, in no set order and
	// from several goroutines at once. Its Rendered and Tree are dropped
	// after the call.
	Emit func(*App) error
	// Kept, when set, is offered each app that the workspace's index
	// (one entry for all apps, see index) holds, before its entry is
	// read: the app without Rendered and Tree, with Sums. Kept returns
	// true when the consumer holds the app's rendered files already (an
	// output folder that has them): Run then neither reads its entry nor
	// calls Emit for it. Otherwise Run reads the entry, or builds the
	// app, and emits it. Kept is called as Emit is. Run reads the index
	// only when Kept is set, and writes it, when it renders with NoTree,
	// if it is missing or stale (see staleIndex). Only a caller that
	// renders and uses no Tree may set Kept.
	Kept func(*App) bool
	// Progress, when set, is told how many apps of the total are done.
	Progress func(done, total int)
	// Platform, when set, receives the platform's result before any
	// app is emitted.
	Platform func(*Platform) error
	// Workspace asks for a loaded workspace with the platform and
	// environments (and no app) in Result.Workspace.
	Workspace bool
	// NoTree says the caller uses no App.Tree (render): the apps are then
	// built without their kustomize trees (build.Options.NoLayout), a
	// twelfth of a cold render's CPU, and stored so (App.NoTree). An entry
	// without a tree is a miss for a caller that wants one.
	NoTree bool
}

// Result is what Run returns.
type Result struct {
	Platform *Platform
	// Apps are sorted by name, without Rendered and Tree.
	Apps []*App
	// LoadWarnings and BuildWarnings are what the uncached pipeline
	// reports: the load's warnings, then the build's, each sorted.
	LoadWarnings, BuildWarnings diag.List
	// Workspace is the loaded workspace of the platform and
	// environments, without apps, when Options.Workspace asks for it.
	Workspace *spec.Workspace
	// Hits and Misses count the apps found in the store and built.
	Hits, Misses int
}

// Run builds every app of the snapshot, taking what it can from the store
// and storing what it builds, and hands each app to opts.Emit. It returns
// an error wrapping ErrFallback when the caller must run uncached.
func Run(snap *Snapshot, opts Options) (*Result, error) {
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	chunk := opts.Chunk
	if chunk <= 0 {
		chunk = 256
	}
	r := &Result{}
	total := len(snap.Apps)
	var mu sync.Mutex // guards r.Apps and done
	done := 0
	emit := func(a *App, kept bool) error {
		if opts.Emit != nil && !kept {
			if err := opts.Emit(a); err != nil {
				return err
			}
		}
		a.Rendered, a.Tree = nil, nil
		mu.Lock()
		defer mu.Unlock()
		r.Apps = append(r.Apps, a)
		done++
		if opts.Progress != nil {
			opts.Progress(done, total)
		}
		return nil
	}

	var plat Platform
	if opts.Store.Get(snap.Key, &plat) {
		r.Platform = &plat
	}
	// The platform before any app, so that Emit can use it; the
	// workspace when asked for.
	// Chunks build their apps only: the trees built from every app
	// (platform, Argo CD, Kubeflow) are built and checked once, below.
	bopts := build.Options{Workers: workers, AppsOnly: true, NoLayout: opts.NoTree}
	load := func(dirs []string) (*spec.Workspace, *build.Result, error) {
		ws, err := workspace.Load(snap.FS(dirs), snap.Root, workspace.Options{Workers: workers})
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrFallback, err)
		}
		// The trees of the whole workspace are built once, from every
		// app, by renderPlatform (build.Whole), not per chunk.
		res, err := build.Workspace(ws, bopts)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrFallback, err)
		}
		if r.Platform == nil {
			p, err := platformOf(ws, res, opts)
			if err != nil {
				return nil, nil, err
			}
			r.Platform = p
			if err := opts.Store.Put(snap.Key, p); err != nil {
				opts.Store.debug("%v", err)
			}
		}
		return ws, res, nil
	}
	var lastWS *spec.Workspace // any loaded workspace, for its platform and environments
	if r.Platform == nil || opts.Workspace {
		ws, _, err := load(nil)
		if err != nil {
			return nil, err
		}
		r.Workspace, lastWS = ws, ws
	}
	if opts.Platform != nil {
		if err := opts.Platform(r.Platform); err != nil {
			return nil, err
		}
	}
	// Cached apps first, in parallel: from the index those the consumer
	// holds, from their entries the others. The apps the index does not
	// hold go first, so that those to build (a changed app) are known and
	// built while the consumer takes the others.
	hit := make([]bool, total)
	var idx map[string]*App
	indexed := false
	useIndex := opts.Store != nil && opts.Kept != nil && opts.Render && opts.NoTree
	if useIndex {
		idx, indexed = readIndex(opts.Store, snap)
	}
	var inIndex, rest []int
	for i, a := range snap.Apps {
		if x := idx[a.Key]; x != nil && x.Dir == a.Dir {
			inIndex = append(inIndex, i)
		} else {
			rest = append(rest, i)
		}
	}
	// fromStore emits the apps at ix (indexes in snap.Apps) that the
	// store holds: from the index when the consumer holds their files,
	// else from their entries.
	fromStore := func(ix []int) error {
		if opts.Store == nil {
			return nil
		}
		errs := make([]error, len(ix))
		// Reading entries and writing their files waits on the disk
		// more than on the CPU.
		parallel.For(len(ix), 4*workers, func(j int) {
			i := ix[j]
			if x := idx[snap.Apps[i].Key]; x != nil && x.Dir == snap.Apps[i].Dir {
				a := *x
				a.fix()
				if opts.Kept(&a) {
					hit[i] = true
					errs[j] = emit(&a, true)
					return
				}
			}
			var a App
			if !opts.Store.Get(snap.Apps[i].Key, &a) || a.Dir != snap.Apps[i].Dir || a.NoTree && !opts.NoTree {
				return
			}
			a.fix()
			hit[i] = true
			errs[j] = emit(&a, false)
		})
		return errors.Join(errs...)
	}
	built := map[string]bool{} // the folders of the apps built here
	misses := func(ix []int) []AppFiles {
		var miss []AppFiles
		for _, i := range ix {
			if !hit[i] {
				miss = append(miss, snap.Apps[i])
				built[snap.Apps[i].Dir] = true
			}
		}
		r.Misses += len(miss)
		return miss
	}
	// buildApps builds the apps by chunks: load, build, render, store, emit,
	// forget.
	buildApps := func(miss []AppFiles) error {
		for start := 0; start < len(miss); start += chunk {
			part := miss[start:min(start+chunk, len(miss))]
			dirs := make([]string, len(part))
			keys := map[string]string{}
			for i, a := range part {
				dirs[i] = a.Dir
				keys[a.Dir] = a.Key
			}
			ws, res, err := load(dirs)
			if err != nil {
				return err
			}
			lastWS = ws
			if len(res.Apps) != len(part) {
				return fmt.Errorf("%w: %d of %d apps built", ErrFallback, len(res.Apps), len(part))
			}
			errs := make([]error, len(res.Apps))
			// The chunk's entries go to one pack (a file per app was a
			// file created and renamed per app), written once they are
			// all built.
			type entry struct {
				key string
				b   []byte
			}
			sealed := make([]entry, len(res.Apps))
			parallel.For(len(res.Apps), workers, func(i int) {
				b := res.Apps[i]
				a, err := appOf(b, opts)
				if err != nil {
					errs[i] = err
					return
				}
				if opts.Store != nil {
					b, err := sealValue(a)
					if err != nil {
						opts.Store.debug("%v", err)
					}
					sealed[i] = entry{keys[a.Dir], b}
				}
				errs[i] = emit(a, false)
				res.Apps[i] = nil
			})
			if err := errors.Join(errs...); err != nil {
				return err
			}
			pack := map[string][]byte{}
			for _, e := range sealed {
				if e.b != nil {
					pack[e.key] = e.b
				}
			}
			if err := opts.Store.putPack(pack); err != nil {
				opts.Store.debug("%v", err)
			}
		}
		return nil
	}
	if err := fromStore(rest); err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	var buildErr error
	toBuild := misses(rest)
	wg.Go(func() { buildErr = buildApps(toBuild) })
	err := fromStore(inIndex)
	wg.Wait()
	if err := errors.Join(buildErr, err); err != nil {
		return nil, err
	}
	// An app of the index whose entry is gone, when the consumer did not
	// hold it.
	if err := buildApps(misses(inIndex)); err != nil {
		return nil, err
	}
	r.Hits = total - r.Misses

	sort.Slice(r.Apps, func(i, j int) bool { return r.Apps[i].Name < r.Apps[j].Name })
	owner := map[string]string{}
	for i, a := range r.Apps {
		if i > 0 && r.Apps[i-1].Name == a.Name {
			return nil, fmt.Errorf("%w: two apps are named %s", ErrFallback, a.Name)
		}
		for _, o := range a.Owns {
			if prev, ok := owner[o]; ok {
				return nil, fmt.Errorf("%w: %s is generated by apps %s and %s", ErrFallback, o, prev, a.Name)
			}
			owner[o] = a.Name
		}
	}
	// The loader's check across apps, on what the entries keep of them.
	n := 0
	for _, a := range r.Apps {
		n += len(a.Quota)
	}
	uses := make([]rules.QuotaUse, 0, n) // 58,000 at 1,000 apps: grown, 12 ms of copying
	for _, a := range r.Apps {
		uses = append(uses, a.Quota...)
	}
	quota := rules.CheckQuotas(r.Platform.Envs, r.Platform.Quotas, uses)
	if quota.HasErrors() {
		return nil, fmt.Errorf("%w: %w", ErrFallback, quota.Err())
	}
	// The chunks built their apps only; the trees built from every app
	// (Argo CD Applications, guard rails, components) are checked here,
	// once: by renderPlatform, whose entry is only stored, under a key of
	// everything build.Whole reads, once Whole passed; or, without it,
	// for the apps built here, as each chunk's build would have.
	if opts.Render {
		files, err := renderPlatform(snap, r, opts, load, lastWS)
		if err != nil {
			return nil, err
		}
		r.Platform.Rendered = files
	} else if len(built) > 0 {
		var kept []build.Kept
		for _, a := range r.Apps {
			if built[a.Dir] {
				kept = append(kept, a.Kept())
			}
		}
		if _, err := build.Whole(lastWS, kept); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrFallback, err)
		}
	}
	r.LoadWarnings = append(r.LoadWarnings, r.Platform.LoadWarnings...)
	r.LoadWarnings = append(r.LoadWarnings, quota...)
	for _, a := range r.Apps {
		r.LoadWarnings = append(r.LoadWarnings, a.LoadWarnings...)
		r.BuildWarnings = append(r.BuildWarnings, a.BuildWarnings...)
	}
	r.LoadWarnings.Sort()
	r.BuildWarnings.Sort()
	// The index is written when it was read and is stale, or, unread
	// (no consumer to keep apps: a render into a new folder), when as
	// many apps were built as would make it stale.
	if opts.Store != nil && opts.Render && opts.NoTree &&
		(useIndex && staleIndex(idx, indexed, snap) || !useIndex && r.Misses > len(snap.Apps)/16) {
		writeIndex(opts.Store, snap, r)
	}
	return r, nil
}

// Kept is what build.Whole needs of the app.
func (a *App) Kept() build.Kept {
	return build.Kept{Name: a.Name, Team: a.Team, Envs: a.Envs, Ignore: a.Ignore, Features: a.Features, Jobs: a.Jobs, TrainJobs: a.TrainJobs, Quota: a.Quota}
}

// renderedPlatform is the entry of the rendered platform files.
type renderedPlatform struct {
	Files map[string][]byte
}

// renderPlatform returns the rendered platform files, from the store when
// the platform, the environments and every app's part in build.Whole
// (build.Kept, see platformKey) are the same: Whole both makes and checks
// the trees of the whole workspace, so an entry also stands for checks
// that passed.
func renderPlatform(snap *Snapshot, r *Result, opts Options, load func([]string) (*spec.Workspace, *build.Result, error), ws *spec.Workspace) (map[string][]byte, error) {
	key, err := platformKey(snap.Key, r.Apps, func(h hash.Hash) { snap.HashFiles(h, r.Platform.Charts) })
	if err != nil {
		return nil, err
	}
	kept := make([]build.Kept, len(r.Apps))
	for i, a := range r.Apps {
		kept[i] = a.Kept()
	}
	var e renderedPlatform
	if opts.Store.Get(key, &e) {
		return e.Files, nil
	}
	if ws == nil {
		w, _, err := load(nil)
		if err != nil {
			return nil, err
		}
		ws = w
	}
	// The trees of the whole workspace, as the uncached build makes them
	// (the guard rails name every TFJob; the components' settings merge
	// every app's Knative features). The files a run before checked
	// without findings, with the same binary, platform and environments
	// (snap.Key), are not checked again: a new app's rename or TFJob
	// changes a handful of the thousands of files.
	m := build.NewMemo(len(kept))
	checkedKey := checkedEntryKey(snap)
	var checked checkedFiles
	if !opts.Store.Get(checkedKey, &checked) {
		checked.Keys = nil
	}
	m.Seed(checked.Keys)
	res, err := build.WholeMemo(ws, kept, m)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFallback, err)
	}
	if err := opts.Store.Put(checkedKey, checkedFiles{m.Passed()}); err != nil {
		opts.Store.debug("%v", err)
	}
	files, err := render.Platform(ws, res, nil, false)
	if err != nil {
		return nil, err
	}
	if err := opts.Store.Put(key, renderedPlatform{files}); err != nil {
		opts.Store.debug("%v", err)
	}
	return files, nil
}

// checkedFiles is the entry of the whole-workspace files checked without
// findings (build.Memo.Passed).
type checkedFiles struct {
	Keys []string
}

// checkedEntryKey is the key of the checkedFiles entry of snap's binary,
// platform and environments.
func checkedEntryKey(snap *Snapshot) string {
	h := sha256.Sum256([]byte("dmls cache checked files v1\nworkspace " + snap.Key + "\n"))
	return hex.EncodeToString(h[:])
}

// platformKey is the key of the rendered platform files of the apps
// (sorted by name) in the workspace of key wsKey, whose charts charts
// hashes: everything build.Whole reads of the apps (App.Whole), so that
// an entry stands for Whole having passed on exactly these inputs.
func platformKey(wsKey string, apps []*App, charts func(hash.Hash)) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "dmls cache platform files v3\nworkspace %s\n", wsKey)
	charts(h)
	for _, a := range apps {
		sum := a.Whole
		if sum == ([sha256.Size]byte{}) {
			var err error
			if sum, err = wholeSum(a); err != nil {
				return "", err
			}
		}
		fmt.Fprintf(h, "app %x\n", sum)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// wholeSum is the digest of what build.Whole reads of a (build.Kept).
func wholeSum(a *App) ([sha256.Size]byte, error) {
	h := sha256.New()
	ignore, err := json.Marshal(a.Ignore)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	fmt.Fprintf(h, "app %q %q %q %s\n", a.Name, a.Team, a.Envs, ignore)
	for _, env := range a.Envs {
		if j, ok := a.Jobs[env]; ok {
			fmt.Fprintf(h, "job %q %q %q %q\n", a.Name, a.Team, env, j)
		}
		if j, ok := a.TrainJobs[env]; ok {
			fmt.Fprintf(h, "trainjob %q %q %q %q\n", a.Name, a.Team, env, j)
		}
	}
	for _, f := range slices.Sorted(maps.Keys(a.Features)) {
		fmt.Fprintf(h, "feature %q %q %q\n", a.Name, f, a.Features[f])
	}
	// Under Kueue the ResourceQuotas hold the services at max scale.
	for _, u := range a.Quota {
		if u.Kueue && u.What == "serving" {
			fmt.Fprintf(h, "serving %q %q %q %v %q\n", a.Name, u.Env, u.Res, u.Max, u.Amount)
		}
	}
	return [sha256.Size]byte(h.Sum(nil)), nil
}

// fix restores what the encoding does not keep: empty, not nil, lists.
func (a *App) fix() {
	if a.Ignore == nil {
		a.Ignore = map[string][]argocdv1alpha1.ResourceIgnoreDifferences{}
	}
	for _, env := range a.Envs {
		if a.Ignore[env] == nil {
			a.Ignore[env] = []argocdv1alpha1.ResourceIgnoreDifferences{}
		}
	}
}

// platformOf is the Platform of a loaded and built workspace: its load
// warnings are the workspace's less its apps'.
func platformOf(ws *spec.Workspace, res *build.Result, opts Options) (*Platform, error) {
	p := &Platform{Prefix: ws.Platform.Repos[layout.RepoK8sConfig].Path, Quotas: rules.QuotaLimits(ws)}
	for _, name := range slices.Sorted(maps.Keys(ws.Platform.Components)) {
		if c := ws.Platform.Components[name]; c.Chart != nil {
			p.Charts = append(p.Charts, c.Chart.Path)
		}
	}
	for _, e := range ws.Envs {
		p.Envs = append(p.Envs, e.Name)
	}
	apps := map[diag.Diagnostic]int{}
	for _, a := range ws.Apps {
		for _, d := range a.Warnings {
			apps[d]++
		}
	}
	for _, d := range ws.Warnings {
		if apps[d] > 0 {
			apps[d]--
			continue
		}
		p.LoadWarnings = append(p.LoadWarnings, d)
	}
	return p, nil
}

// appOf is the App of a built app.
func appOf(b *build.App, opts Options) (*App, error) {
	k := b.Kept() // once: it sums the app's quota uses
	a := &App{Name: b.App.Name, Team: b.App.Team, Dir: b.App.Dir, Tree: b.Tree, NoTree: opts.NoTree, Ignore: b.Ignore, Features: b.Features, Jobs: k.Jobs, TrainJobs: k.TrainJobs,
		LoadWarnings: b.App.Warnings, BuildWarnings: b.Warnings, Quota: k.Quota}
	for _, in := range b.App.Envs {
		env := in.Env.Name
		a.Envs = append(a.Envs, env)
		a.Owns = append(a.Owns, "argoproj.io/Application  "+spec.ApplicationName(a.Name, env))
		if n := rules.GPUs(in.Spec); n > 0 {
			if a.GPUs == nil {
				a.GPUs = map[string]int{}
			}
			a.GPUs[in.Namespace] += n
		}
		for _, o := range b.Objects[env] {
			ns := o.GetNamespace()
			if ns == "" && o.GetKind() != "Namespace" {
				ns = in.Namespace
			}
			gvk := o.GroupVersionKind()
			a.Owns = append(a.Owns, fmt.Sprintf("%s/%s %s %s", gvk.Group, gvk.Kind, ns, o.GetName()))
		}
	}
	sort.Strings(a.Owns)
	a.Owns = dedup(a.Owns)
	sum, err := wholeSum(a)
	if err != nil {
		return nil, err
	}
	a.Whole = sum
	if opts.Render {
		files, err := render.AppFiles(b)
		if err != nil {
			return nil, err
		}
		a.Rendered = files
		a.Sums = make(map[string][sha256.Size]byte, len(files))
		for env, y := range files {
			a.Sums[env] = sha256.Sum256(y)
		}
	}
	return a, nil
}

func dedup(s []string) []string {
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}
