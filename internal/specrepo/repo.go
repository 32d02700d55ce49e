// Package specrepo is the ml-model repo as the API server sees it: the
// workspace at a commit, loaded and generated through digest caches, with
// each app folder's last good version and one cache of git history.
//
// A snapshot is loaded from the one whose files it changes (a batch's
// candidate from the snapshot it was planned on, a commit's from its
// parent, a read from the latest when only app folders differ): the
// platform, the environments and the unchanged valid apps are the older
// snapshot's (workspace.Kept), only the changed folders are loaded, and
// the checks across apps run over every app. At 1,000 apps the load of
// every batch otherwise evaluated the platform and the environments again
// and read and hashed every app folder, a fifth of what grew with the
// workspace (internal/submit's package doc has the profile).
package specrepo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"path"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dmls-project/dmls/generators/argocd"
	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/gitops"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/memfs"
	"github.com/dmls-project/dmls/internal/memo"
	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/internal/publish"
	"github.com/dmls-project/dmls/internal/spec"
	"github.com/dmls-project/dmls/internal/specops"
	"github.com/dmls-project/dmls/internal/workspace"
)

// specFile is the file the API writes for an app: apps/<app>/app.json.
const specFile = specops.FileName

// CacheApps bounds the loaded and the built apps a server keeps: enough
// for every app of a large workspace and the versions a batch tries out.
const CacheApps = 4096

// Repo reads the workspace from the ml-model repo and commits to it. It
// loads and generates with the digest caches of workspace.Load and
// build.Workspace, so a change to one app of hundreds costs one app's
// evaluation (plus the Argo CD tree, which spans every app). Safe for
// concurrent use.
type Repo struct {
	target gitops.Target
	auth   gitops.Auth
	author gitops.Signature
	// prefix is the workspace folder inside the repo; "" is the root.
	prefix string
	// urls override repo URLs of the platform (--repo NAME=URL), so that
	// what is generated names the repos that are published to. They are
	// the same for the server's life, so the caches need not key on them.
	urls   map[string]string
	loaded *memo.Cache[*spec.App]
	built  *memo.Cache[*build.App]
	// repo is ml-model, kept in memory between reads and commits; repos
	// are the config repos, kept between publishes.
	repo  *gitops.Repo
	repos publish.Repos
	// layout keeps the apps' Argo CD Applications and the checks of the
	// files outside the apps, so a batch lays out only what it changed.
	layout *build.Memo
	// onGit, setBroken and eval are Config's Observe, SetBroken and Eval.
	onGit     func(repo string, err error)
	setBroken func(broken map[string]string)
	eval      workspace.Guard
	// history is the one cache of git history (History).
	history *History
	// good holds, by app folder, the newest valid version of each app
	// the server has seen: a folder broken by hand in git keeps it in the
	// config repos (issue 8, section 7). Guarded by mu.
	good map[string]*Entry
	// searched are the broken folder contents (by hash) whose last good
	// version was looked for in history. Guarded by mu.
	searched map[string]string

	mu     sync.Mutex
	latest *Snapshot
	seq    uint64             // numbers reads in the order they started
	seen   map[string]seenApp // by app name
	flight *readFlight        // the read in progress for current, if any
}

// Entry is one app folder, loaded and generated, or its findings.
type Entry struct {
	Dir   string
	hash  string
	Files map[string][]byte // name → content, the folder's spec files
	App   *spec.App
	Built *build.App
	Diags diag.List
}

// Valid reports whether the app loaded and generated without findings.
func (e *Entry) Valid() bool { return e.App != nil && e.Built != nil && len(e.Diags) == 0 }

// Managed reports whether the API owns the app: its folder holds only
// app.json, named after the app.
func (e *Entry) Managed() bool {
	_, ok := e.Files[specFile]
	return ok && len(e.Files) == 1 && (e.App == nil || e.App.Name == e.Dir)
}

// Applications names the Argo CD Applications of the app, one per
// environment it runs in: none for a nil entry or one that did not load.
func (e *Entry) Applications() []string {
	out := []string{}
	if e == nil || e.App == nil {
		return out
	}
	for _, in := range e.App.Envs {
		out = append(out, argocd.ApplicationName(e.App.Name, in.Env.Name))
	}
	return out
}

// seenApp is the commit at which the server first saw an app's content.
type seenApp struct {
	hash   string
	commit string
}

// Snapshot is the workspace at one ml-model commit. It is never changed
// once made, but for at and seq, which a read that finds the tip unmoved
// advances (under the store's mu).
type Snapshot struct {
	seq uint64
	SHA string
	// at is when the snapshot was last read or made (unix nanoseconds).
	at    atomic.Int64
	Files map[string][]byte // workspace-relative paths
	// ws is the loaded workspace, with the URL overrides in its platform;
	// nil when the platform or the environments do not load.
	WS *spec.Workspace
	// dirs are the app folders; byName holds the valid apps by name.
	Dirs   map[string]*Entry
	ByName map[string]*Entry
	// errs are the findings by app folder; "" holds those about the
	// platform, the environments or the workspace as a whole.
	Errs map[string]diag.List
	// commits are the commits that last changed each app, by name.
	Commits map[string]string
	// unsafe are the symlinks and submodules of the tree, which files
	// leaves out (workspace path → what it is).
	unsafe map[string]string
	// lastGood are the last valid versions of the broken app folders
	// that the server has seen; a broken folder not in it has none.
	LastGood map[string]*Entry

	builds *memo.Cache[*build.App]
	layout *build.Memo
	// kept is what the load of the snapshot keeps for the next one
	// (workspace.Kept); nil when its platform or environments did not
	// load.
	kept       *workspace.Kept
	resultOnce sync.Once
	// resultDone is set once build ran (by the goroutine that ran it).
	resultDone bool
	result     *build.Result
	resultErr  error
}

// touch records that the snapshot was read (or made) at t.
func (sn *Snapshot) touch(t time.Time) { sn.at.Store(t.UnixNano()) }

// readAt returns when the snapshot was last read or made.
func (sn *Snapshot) readAt() time.Time { return time.Unix(0, sn.at.Load()) }

// Platform returns the platform with the URL overrides, or nil.
func (sn *Snapshot) Platform() *spec.Platform {
	if sn.WS == nil {
		return nil
	}
	return sn.WS.Platform
}

// Envs returns the environments in promotion order.
func (sn *Snapshot) Envs() []*spec.Environment {
	if sn.WS == nil {
		return nil
	}
	return sn.WS.Envs
}

// EntryByName returns the folder of app name, valid or not.
func (sn *Snapshot) EntryByName(name string) *Entry {
	if e, ok := sn.ByName[name]; ok {
		return e
	}
	if e, ok := sn.Dirs[name]; ok {
		return e
	}
	return nil
}

// WorkspaceErrors lists the findings outside the folders in skip: a
// workspace with errors cannot be published as a whole.
func (sn *Snapshot) WorkspaceErrors(skip map[string]bool) diag.List {
	var out diag.List
	for _, dir := range slices.Sorted(maps.Keys(sn.Errs)) {
		if dir == "" || !skip[dir] {
			out = append(out, sn.Errs[dir]...)
		}
	}
	return out
}

// Broken returns the app folders of sn that do not validate, sorted.
func (sn *Snapshot) Broken() []string {
	var out []string
	for _, dir := range slices.Sorted(maps.Keys(sn.Errs)) {
		if dir != "" && len(sn.Errs[dir]) > 0 {
			out = append(out, dir)
		}
	}
	return out
}

// Build generates the whole workspace with build.Workspace; the apps come
// from the build cache, filled when the snapshot was loaded. A broken app
// folder does not stop the others: it is built from its last good version
// (issue 8, section 7). A broken folder without one fails the build, as
// do findings about the platform or the environments: publishing without
// it would prune its Applications.
func (sn *Snapshot) Build() (*build.Result, *spec.Workspace, error) {
	sn.resultOnce.Do(func() {
		var missing diag.List
		for _, dir := range sn.Broken() {
			if _, ok := sn.LastGood[dir]; !ok {
				missing = append(missing, sn.Errs[dir]...)
			}
		}
		if d := append(sn.Errs[""], missing...); len(d) > 0 {
			sn.resultErr = d
			return
		}
		ws := sn.WS
		if len(sn.LastGood) > 0 {
			c := *sn.WS
			c.Apps = nil
			for _, e := range sn.ByName {
				c.Apps = append(c.Apps, e.App)
			}
			for _, g := range sn.LastGood {
				if _, dup := sn.ByName[g.App.Name]; !dup {
					c.Apps = append(c.Apps, g.App)
				}
			}
			slices.SortFunc(c.Apps, func(a, b *spec.App) int { return strings.Compare(a.Name, b.Name) })
			ws = &c
		}
		sn.result, sn.resultErr = build.Workspace(ws, build.Options{Cache: sn.builds, Memo: sn.layout})
		sn.resultDone = true
	})
	return sn.result, sn.WS, sn.resultErr
}

// Config configures a Repo.
type Config struct {
	// Target is ml-model (URL and branch); Prefix the workspace folder in
	// it, "" for the root.
	Target gitops.Target
	Prefix string
	// URLs override the URLs of the platform's repos by name (--repo
	// NAME=URL), in what is generated too. They are the same for the
	// Repo's life, so the caches need not key on them.
	URLs   map[string]string
	Auth   gitops.Auth
	Author gitops.Signature
	// Eval bounds the evaluation of each app; nil evaluates in this
	// process (workspace.Options.Guard).
	Eval workspace.Guard
	// Observe, when set, learns how each git operation on a repo went
	// (nil: it worked), and SetBroken the app folders that do not
	// validate at the latest snapshot, with their first findings.
	Observe   func(repo string, err error)
	SetBroken func(broken map[string]string)
}

// New returns the Repo of cfg. It does no I/O: Read reads the workspace.
func New(cfg Config) *Repo {
	s := &Repo{target: cfg.Target, prefix: cfg.Prefix, urls: cfg.URLs, auth: cfg.Auth, author: cfg.Author,
		eval: cfg.Eval, onGit: cfg.Observe, setBroken: cfg.SetBroken,
		loaded: memo.New[*spec.App](CacheApps), built: memo.New[*build.App](CacheApps), layout: build.NewMemo(CacheApps),
		seen: map[string]seenApp{}, history: newHistory(cfg.Target, cfg.Auth, cfg.Observe), good: map[string]*Entry{}, searched: map[string]string{}}
	// A target that cannot be opened fails each read and commit with its
	// error, through gitops.ReadTree and gitops.Publish.
	if rp, err := gitops.OpenRepo(cfg.Target, cfg.Auth); err == nil {
		s.repo = rp
	}
	return s
}

// Target is ml-model.
func (s *Repo) Target() gitops.Target { return s.target }

// Prefix is the workspace folder in ml-model, "" for the root.
func (s *Repo) Prefix() string { return s.prefix }

// History is the Repo's cache of git history.
func (s *Repo) History() *History { return s.history }

// ConfigRepos keeps the config repos in memory between publishes
// (publish.Options.Keep).
func (s *Repo) ConfigRepos() *publish.Repos { return &s.repos }

// WithLastGood gives next, a snapshot of no commit yet (WithChanges), the
// last good versions the Repo holds of its broken app folders, as a read
// would.
func (s *Repo) WithLastGood(next *Snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next.LastGood = map[string]*Entry{}
	for dir := range next.Errs {
		if g, ok := s.good[dir]; ok && dir != "" {
			next.LastGood[dir] = g
		}
	}
}

// repoPath turns a workspace path into a repository path.
func (s *Repo) repoPath(rel string) string {
	if s.prefix == "" {
		return rel
	}
	return path.Join(s.prefix, rel)
}

// Current returns the latest snapshot if it is younger than maxAge, and
// otherwise reads the repo; concurrent callers share one read.
func (s *Repo) Current(ctx context.Context, maxAge time.Duration) (*Snapshot, error) {
	s.mu.Lock()
	if sn := s.latest; sn != nil && time.Since(sn.readAt()) < maxAge {
		s.mu.Unlock()
		return sn, nil
	}
	f := s.flight
	if f == nil {
		f = &readFlight{done: make(chan struct{})}
		s.flight = f
		go func() {
			f.sn, f.err = s.Read(context.WithoutCancel(ctx))
			s.mu.Lock()
			s.flight = nil
			s.mu.Unlock()
			close(f.done)
		}()
	}
	s.mu.Unlock()
	select {
	case <-f.done:
		return f.sn, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type readFlight struct {
	done chan struct{}
	sn   *Snapshot
	err  error
}

// Read fetches the tip of ml-model and returns its snapshot, which
// becomes the latest unless a read that started later got there first.
func (s *Repo) Read(ctx context.Context) (*Snapshot, error) {
	s.mu.Lock()
	s.seq++
	seq := s.seq
	s.mu.Unlock()
	prefix := s.prefix
	if prefix == "" {
		prefix = gitops.RootPrefix
	}
	known := ""
	if latest := s.Latest(); latest != nil && latest.SHA != "" {
		known = latest.SHA
	}
	raw, sha, rawUnsafe, err := s.readTree(ctx, prefix, known)
	s.observeGit(err)
	if err != nil {
		return nil, fmt.Errorf("read the workspace from %s: %w", s.target.Name, err)
	}
	if raw == nil && sha == known {
		// The tip is the latest snapshot's commit: nothing to load.
		return s.refreshed(seq, sha), nil
	}
	files := make(map[string][]byte, len(raw))
	for p, b := range raw {
		if s.prefix != "" {
			p = strings.TrimPrefix(p, s.prefix+"/")
		}
		files[p] = b
	}
	unsafe := map[string]string{}
	for p, what := range rawUnsafe {
		if s.prefix != "" {
			p = strings.TrimPrefix(p, s.prefix+"/")
		}
		unsafe[p] = what
	}
	return s.install(seq, sha, files, unsafe), nil
}

// install loads the snapshot of files at sha and makes it the latest if
// no read that started later got there first. Loading happens outside the
// lock, so reads of the latest snapshot do not wait for it.
func (s *Repo) install(seq uint64, sha string, files map[string][]byte, unsafe map[string]string) *Snapshot {
	return s.installSnapshot(s.load(seq, sha, files, unsafe, s.Latest()), nil)
}

// installLoaded installs pre, a snapshot loaded (and built) before its
// commit existed, as the snapshot of commit sha: the files are the same,
// so nothing is loaded again, and its build is kept unless the last good
// versions of its broken folders changed meanwhile.
func (s *Repo) installLoaded(seq uint64, sha string, pre *Snapshot) *Snapshot {
	sn := &Snapshot{seq: seq, SHA: sha, Files: pre.Files, unsafe: pre.unsafe, WS: pre.WS,
		Dirs: pre.Dirs, ByName: pre.ByName, Errs: pre.Errs, builds: pre.builds, layout: pre.layout, kept: pre.kept}
	sn.touch(time.Now())
	return s.installSnapshot(sn, pre)
}

// installSnapshot makes the loaded snapshot sn the latest if no read that
// started later got there first. With pre, sn keeps the build of pre
// (whose files sn holds) if its broken folders have the same last good
// versions.
func (s *Repo) installSnapshot(sn *Snapshot, pre *Snapshot) *Snapshot {
	seq := sn.seq
	s.recoverGood(sn)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.latest == nil || seq > s.latest.seq {
		s.observe(sn)
		s.latest = sn
	}
	s.keepGood(sn)
	if sn.Commits == nil {
		sn.Commits = s.commitsOf(sn)
	}
	if pre != nil && pre.resultDone && maps.Equal(sn.LastGood, pre.LastGood) {
		// Nobody else has sn yet: the lock is held since it became the latest.
		sn.resultOnce.Do(func() { sn.result, sn.resultErr, sn.resultDone = pre.result, pre.resultErr, true })
	}
	return sn
}

// keepGood records the valid apps of sn as their folders' last good
// versions, forgets folders that are gone, and gives sn the last good
// versions of its broken folders. Called with mu held.
func (s *Repo) keepGood(sn *Snapshot) {
	for dir, e := range sn.Dirs {
		if e.Valid() {
			s.good[dir] = e
		}
	}
	if sn == s.latest {
		for dir := range s.good {
			if _, ok := sn.Dirs[dir]; !ok {
				delete(s.good, dir)
			}
		}
	}
	sn.LastGood = map[string]*Entry{}
	for dir := range sn.Errs {
		if g, ok := s.good[dir]; ok && dir != "" {
			sn.LastGood[dir] = g
		}
	}
	if s.setBroken != nil && sn == s.latest {
		broken := map[string]string{}
		for dir, d := range sn.Errs {
			if dir != "" && len(d) > 0 {
				broken[dir] = d[0].String()
			}
		}
		s.setBroken(broken)
	}
}

// goodDepth is how far back in ml-model's history a broken app's last
// good version is looked for.
const goodDepth = 256

// recoverGood finds, for each broken app folder of sn that the server has
// never seen valid (it started after the folder broke), the newest version
// in ml-model's history that loads and generates in sn's workspace, and
// keeps it as the folder's last good version. Each broken content is
// looked for once. Called before sn is published.
func (s *Repo) recoverGood(sn *Snapshot) {
	if sn.WS == nil || sn.SHA == "" {
		return
	}
	versions := map[string][]gitops.FolderVersion{}
	for _, dir := range sn.Broken() {
		s.mu.Lock()
		_, known := s.good[dir]
		hash := sn.Dirs[dir].hash
		searched := s.searched[dir] == hash
		s.searched[dir] = hash
		s.mu.Unlock()
		if known || searched {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		v, err := gitops.FolderHistory(ctx, s.target, s.auth, s.repoPath(path.Join(layout.AppsDir, dir)), goodDepth)
		cancel()
		if err == nil && len(v) > 0 {
			versions[dir] = v
		}
	}
	// Two broken apps may each be valid only beside the other's last good
	// version (two owners of one PVC), so try until nothing new is found.
	for progress := true; progress && len(versions) > 0; {
		progress = false
		for _, dir := range slices.Sorted(maps.Keys(versions)) {
			if s.tryVersions(sn, dir, versions[dir]) {
				delete(versions, dir)
				progress = true
			}
		}
	}
}

// tryVersions keeps the newest of versions of the folder dir that loads
// and generates in sn's workspace, with the other broken folders at their
// last good versions, and reports whether one did.
func (s *Repo) tryVersions(sn *Snapshot, dir string, versions []gitops.FolderVersion) bool {
	replace := func(files map[string][]byte, d string, with map[string][]byte) {
		folder := path.Join(layout.AppsDir, d)
		for p := range files {
			if strings.HasPrefix(p, folder+"/") {
				delete(files, p)
			}
		}
		for name, b := range with {
			files[path.Join(folder, name)] = b
		}
	}
	base := maps.Clone(sn.Files)
	s.mu.Lock()
	for _, other := range sn.Broken() {
		if g, ok := s.good[other]; ok && other != dir {
			replace(base, other, g.Files)
		}
	}
	s.mu.Unlock()
	folder := path.Join(s.repoPath(path.Join(layout.AppsDir, dir))) + "/"
	for _, v := range versions {
		files := maps.Clone(base)
		with := map[string][]byte{}
		for p, b := range v.Files {
			with[strings.TrimPrefix(p, folder)] = b
		}
		replace(files, dir, with)
		_, entries, errs, _ := s.loadFolders(files, nil, nil)
		if e := entries[dir]; e != nil && e.Valid() && len(errs) == 0 {
			s.mu.Lock()
			if _, ok := s.good[dir]; !ok {
				s.good[dir] = e
			}
			s.mu.Unlock()
			return true
		}
	}
	return false
}

// observe records the commit at which each app's content first appeared.
// Called with mu held.
func (s *Repo) observe(sn *Snapshot) {
	names := map[string]bool{}
	for name, e := range sn.ByName {
		names[name] = true
		if s.seen[name].hash != e.hash {
			s.seen[name] = seenApp{hash: e.hash, commit: sn.SHA}
		}
	}
	for name := range s.seen {
		if !names[name] {
			delete(s.seen, name)
		}
	}
	sn.Commits = s.commitsOf(sn)
}

func (s *Repo) commitsOf(sn *Snapshot) map[string]string {
	out := make(map[string]string, len(sn.ByName))
	for name, e := range sn.ByName {
		if seen, ok := s.seen[name]; ok && seen.hash == e.hash {
			out[name] = seen.commit
		} else {
			out[name] = sn.SHA
		}
	}
	return out
}

// load loads and generates every app of files, through the caches. With
// prev, a loaded snapshot whose files differ from files only in app
// folders, it loads only those folders again and takes the rest from
// prev (workspace.Kept.Reload), with the same findings.
func (s *Repo) load(seq uint64, sha string, files map[string][]byte, unsafe map[string]string, prev *Snapshot) *Snapshot {
	sn := &Snapshot{seq: seq, SHA: sha, Files: files, unsafe: unsafe,
		Dirs: map[string]*Entry{}, ByName: map[string]*Entry{}, Errs: map[string]diag.List{}, builds: s.built, layout: s.layout}
	sn.touch(time.Now())
	var changed map[string]bool
	if prev != nil && prev.kept != nil {
		var ok bool
		if changed, ok = changedDirs(prev.Files, files); !ok {
			prev = nil
		}
	} else {
		prev = nil
	}
	ws, entries, base, kept := s.loadFolders(files, prev, changed)
	sn.kept = kept
	// A symlink or submodule in git breaks the folder that holds it, as
	// the loader refuses symlinks on disk; one in an app folder breaks
	// only that app (issue 8, section 7).
	for _, p := range slices.Sorted(maps.Keys(unsafe)) {
		var d diag.List
		d.Add(provenance.Pos{File: p}, "", "is %s in git; dmls reads only regular files: replace it with the file itself", unsafe[p])
		if dir := dirOf(p); dir != "" {
			e := entries[dir]
			if e == nil {
				e = &Entry{Dir: dir, Files: map[string][]byte{}}
				entries[dir] = e
			}
			e.Diags = append(e.Diags, d...)
			e.App, e.Built = nil, nil
		} else if strings.HasPrefix(p, layout.PlatformName+".") || strings.HasPrefix(p, layout.OverlaysDir+"/") {
			base = append(base, d...)
		}
	}
	sn.WS = ws
	if len(base) > 0 {
		sn.Errs[""] = base
	}
	sn.Dirs = entries
	for _, dir := range slices.Sorted(maps.Keys(entries)) {
		e := entries[dir]
		switch {
		case len(e.Diags) > 0:
			sn.Errs[dir] = e.Diags
		case e.Valid():
			sn.ByName[e.App.Name] = e
		}
	}
	return sn
}

// loadFolders runs workspace.Load over files and generates each valid app
// with build.BuildApp, through the caches. It sorts the findings by app
// folder; those about no folder come back on their own. ws is nil when
// the platform or the environments do not load. With prev (whose kept
// is not nil), files are prev's but in the app folders of changed, and
// it reloads only those (workspace.Kept.Reload). kept is what the next
// load can start from, nil when ws is.
func (s *Repo) loadFolders(files map[string][]byte, prev *Snapshot, changed map[string]bool) (ws *spec.Workspace, entries map[string]*Entry, base diag.List, kept *workspace.Kept) {
	entries = map[string]*Entry{}
	if prev == nil {
		for dir, f := range appFolders(files, nil) {
			entries[dir] = &Entry{Dir: dir, hash: contentHash(f), Files: f}
		}
	} else {
		// An unchanged folder has prev's files, and its content hash.
		for dir, e := range prev.Dirs {
			if !changed[dir] && e.hash != "" {
				entries[dir] = &Entry{Dir: dir, hash: e.hash, Files: e.Files}
			}
		}
		for dir, f := range appFolders(files, changed) {
			entries[dir] = &Entry{Dir: dir, hash: contentHash(f), Files: f}
		}
	}
	opts := workspace.Options{Cache: s.loaded, Guard: s.eval}
	var err error
	if prev != nil {
		ws, kept, err = prev.kept.Reload(memfs.New(files), changed, opts)
	} else {
		ws, kept, err = workspace.LoadKept(memfs.New(files), "", opts)
	}
	if err != nil {
		d, ok := err.(diag.List)
		if !ok {
			d.Add(positionless, "", "%v", err)
		}
		for _, x := range d {
			if e := entries[dirOf(x.Pos.File)]; e != nil {
				e.Diags = append(e.Diags, x)
			} else {
				base = append(base, x)
			}
		}
	}
	if ws == nil || ws.Platform == nil {
		if len(base) == 0 {
			base.Add(positionless, "", "no platform in the workspace")
		}
		return nil, entries, base, nil
	}
	// A reloaded workspace has prev's platform, whose URLs are overridden
	// already (and which other snapshots' readers share).
	if prev == nil {
		if err := publish.OverrideURLs(ws.Platform, s.PlatformURLs(ws.Platform)); err != nil {
			base.Add(positionless, "", "%v", err)
			return nil, entries, base, nil
		}
	}
	// The apps not in the build cache (those a batch changed) are built in
	// parallel.
	var todo []*Entry
	for _, a := range ws.Apps {
		e := entries[a.Dir]
		if e == nil || len(e.Diags) > 0 {
			continue
		}
		e.App = a
		if b, ok := s.built.Get(a.Digest); ok {
			e.Built = b
			continue
		}
		todo = append(todo, e)
	}
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	var panicked atomic.Value
	for _, e := range todo {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			// A panic goes to the caller, as it did when apps were built
			// one after another (the writer answers the batch with 500).
			defer func() {
				if r := recover(); r != nil {
					panicked.CompareAndSwap(nil, fmt.Sprintf("build app %s: %v\n%s", e.Dir, r, debug.Stack()))
				}
			}()
			a := e.App
			b, err := build.BuildApp(ws.Platform, a)
			if err != nil {
				d, ok := err.(diag.List)
				if !ok {
					d.Add(diagPos(a.Dir), "", "%v", err)
				}
				e.Diags = d
				return
			}
			s.built.Put(a.Digest, b)
			e.Built = b
		}()
	}
	wg.Wait()
	if r := panicked.Load(); r != nil {
		panic(r)
	}
	return ws, entries, base, kept
}

// changedDirs returns the app folders whose files differ between old and
// files, and false when a file outside the app folders differs.
func changedDirs(old, files map[string][]byte) (map[string]bool, bool) {
	changed := map[string]bool{}
	mark := func(p string) bool {
		dir := dirOf(p)
		changed[dir] = true
		return dir != ""
	}
	for p, b := range files {
		if o, ok := old[p]; !ok || !bytes.Equal(o, b) {
			if !mark(p) {
				return nil, false
			}
		}
	}
	for p := range old {
		if _, ok := files[p]; !ok && !mark(p) {
			return nil, false
		}
	}
	return changed, true
}

var positionless = diagPos("")

func diagPos(dir string) (p provenance.Pos) {
	if dir != "" {
		p.File = path.Join(layout.AppsDir, dir)
	}
	return p
}

// WithChanges loads and generates the workspace of sn with the app
// folders in changes replaced (dir → app.json, nil to delete the folder),
// through the caches, as a snapshot of no commit yet.
func (s *Repo) WithChanges(sn *Snapshot, changes map[string][]byte) *Snapshot {
	return s.load(0, "", withChanges(sn.Files, changes), unsafeOutside(sn.unsafe, changes), sn)
}

// Check loads and generates candidate app folders (dir → spec files) in
// sn's workspace, through the caches, and returns their entries.
func (s *Repo) Check(sn *Snapshot, folders map[string]map[string][]byte) map[string]*Entry {
	files := maps.Clone(sn.Files)
	for dir, f := range folders {
		prefix := path.Join(layout.AppsDir, dir) + "/"
		for p := range files {
			if strings.HasPrefix(p, prefix) {
				delete(files, p)
			}
		}
		for name, b := range f {
			files[prefix+name] = b
		}
	}
	_, entries, base, _ := s.loadFolders(files, nil, nil)
	out := map[string]*Entry{}
	for dir := range folders {
		e := entries[dir]
		if len(base) > 0 {
			e.Diags = append(e.Diags, base...)
		}
		out[dir] = e
	}
	return out
}

// Commit writes the app folders in changes (dir → app.json, nil to delete
// the folder) onto sn as a compare-and-swap: it fails with gitops.ErrStale
// when the branch is no longer at sn, so that a change computed from sn
// never undoes a change made since. It returns the new commit's snapshot.
//
// checked, when not nil, is the workspace of the commit, loaded and built
// when the batch was checked; it becomes the new commit's snapshot.
func (s *Repo) Commit(ctx context.Context, sn *Snapshot, changes map[string][]byte, message string, trailers []gitops.Trailer, checked *Snapshot) (*Snapshot, error) {
	files := map[string][]byte{}
	var managed []string
	next := maps.Clone(sn.Files)
	for _, dir := range slices.Sorted(maps.Keys(changes)) {
		folder := path.Join(layout.AppsDir, dir)
		managed = append(managed, s.repoPath(folder))
		for p := range next {
			if strings.HasPrefix(p, folder+"/") {
				delete(next, p)
			}
		}
		if b := changes[dir]; b != nil {
			files[s.repoPath(path.Join(folder, specFile))] = b
			next[path.Join(folder, specFile)] = b
		}
	}
	expect := sn.SHA
	if expect == "" {
		expect = gitops.NoTip
	}
	res, err := s.publish(ctx, gitops.Request{
		Target:    s.target,
		Files:     files,
		Managed:   managed,
		Message:   message,
		Trailers:  trailers,
		Author:    s.author,
		Auth:      s.auth,
		ExpectTip: expect,
	})
	s.observeGit(err)
	if err != nil {
		return nil, err
	}
	s.history.committed(s.repo, sn.SHA, res.Commit, trailers, slices.Concat(res.Added, res.Modified, res.Deleted))
	s.mu.Lock()
	s.seq++
	seq := s.seq
	s.mu.Unlock()
	if checked != nil {
		return s.installLoaded(seq, res.Commit, checked), nil
	}
	return s.installSnapshot(s.load(seq, res.Commit, next, unsafeOutside(sn.unsafe, changes), sn), nil), nil
}

// observeGit tells Config.Observe how a git operation on ml-model went.
func (s *Repo) observeGit(err error) {
	if s.onGit != nil {
		s.onGit(layout.RepoMLModel, err)
	}
}

// unsafeOutside returns the entries of unsafe outside the app folders
// that changes replace.
func unsafeOutside(unsafe map[string]string, changes map[string][]byte) map[string]string {
	out := map[string]string{}
	for p, what := range unsafe {
		if _, replaced := changes[dirOf(p)]; !replaced || dirOf(p) == "" {
			out[p] = what
		}
	}
	return out
}

// appFolders groups the spec files of each app folder: what the loader
// reads, directly inside apps/<dir>/, without dot files. With only, it
// groups only the folders only holds.
func appFolders(files map[string][]byte, only map[string]bool) map[string]map[string][]byte {
	out := map[string]map[string][]byte{}
	for p, b := range files {
		rest, ok := strings.CutPrefix(p, layout.AppsDir+"/")
		if !ok {
			continue
		}
		dir, name, ok := strings.Cut(rest, "/")
		if !ok || strings.HasPrefix(dir, ".") || only != nil && !only[dir] {
			continue
		}
		if out[dir] == nil {
			out[dir] = map[string][]byte{}
		}
		if strings.Contains(name, "/") || strings.HasPrefix(name, ".") || !layout.IsSpecFile(name) {
			continue
		}
		out[dir][name] = b
	}
	return out
}

// dirOf returns the app folder of a finding's file, apps/<dir>/...
func dirOf(file string) string {
	rest, ok := strings.CutPrefix(file, layout.AppsDir+"/")
	if !ok {
		return ""
	}
	dir, _, _ := strings.Cut(rest, "/")
	return dir
}

// contentHash identifies a set of files by their names and contents.
func contentHash(files map[string][]byte) string {
	h := sha256.New()
	for _, p := range slices.Sorted(maps.Keys(files)) {
		fmt.Fprintf(h, "%s %d\n", p, len(files[p]))
		h.Write(files[p])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// PlatformURLs returns the URL overrides for the repos p names: the ones
// publish.Publish takes (the ml-model override may name a repo the
// platform does not list).
func (s *Repo) PlatformURLs(p *spec.Platform) map[string]string {
	out := map[string]string{}
	for name, u := range s.urls {
		if _, ok := p.Repos[name]; ok {
			out[name] = u
		}
	}
	return out
}

// Latest returns the newest snapshot, or nil before the first read.
func (s *Repo) Latest() *Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.latest
}

// readTree reads the tree under prefix at the tip of ml-model, through the
// in-memory repo when there is one; at the tip known it reads nothing and
// returns nil files.
func (s *Repo) readTree(ctx context.Context, prefix, known string) (map[string][]byte, string, map[string]string, error) {
	if s.repo != nil {
		return s.repo.ReadTreeSkipping(ctx, prefix, known)
	}
	return gitops.ReadTreeSkipping(ctx, s.target, s.auth, prefix)
}

// publish commits to ml-model, through the in-memory repo when there is one.
func (s *Repo) publish(ctx context.Context, req gitops.Request) (gitops.Result, error) {
	if s.repo != nil {
		return s.repo.Publish(ctx, req)
	}
	return gitops.Publish(ctx, req)
}

// refreshed returns the latest snapshot, read again at sha just now: if
// it is still at sha, a copy that is as fresh as a new read.
func (s *Repo) refreshed(seq uint64, sha string) *Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	sn := s.latest
	if sn.SHA != sha {
		return sn
	}
	sn.touch(time.Now())
	if seq > sn.seq {
		sn.seq = seq
	}
	return sn
}

// Doc returns the document of app name in sn: its app.json for an
// API-managed app, a read-only stand-in for a hand-written one, or a doc
// without data when there is no such app.
func (sn *Snapshot) Doc(name string) (*specops.Doc, error) {
	e := sn.EntryByName(name)
	if e == nil {
		return &specops.Doc{Name: name, Managed: true}, nil
	}
	if !e.Managed() {
		team := ""
		if e.App != nil {
			team = e.App.Team
		}
		return &specops.Doc{Name: name, Data: map[string]any{"name": name, "team": team}, Managed: false}, nil
	}
	data, err := specops.DecodeJSON(sn.Files[path.Join(layout.AppsDir, e.Dir, specFile)])
	if err != nil {
		return nil, err
	}
	return &specops.Doc{Name: name, Data: data, Managed: true}, nil
}

// withChanges returns files with the app folders of changes replaced by
// their new app.json (a nil one deletes the folder).
func withChanges(files map[string][]byte, changes map[string][]byte) map[string][]byte {
	out := maps.Clone(files)
	for dir, b := range changes {
		prefix := path.Join(layout.AppsDir, dir) + "/"
		for f := range out {
			if strings.HasPrefix(f, prefix) {
				delete(out, f)
			}
		}
		if b != nil {
			out[prefix+specFile] = b
		}
	}
	return out
}
