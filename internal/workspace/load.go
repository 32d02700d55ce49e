// Package workspace loads a dmls workspace: it checks every spec file
// against the CUE schemas and yields the typed model of each app in each
// environment, with the provenance of every field.
//
// # Speed: what the profile taught
//
// Apps load in parallel, each worker with its own CUE context and schema
// (a context is not safe for concurrent use). A CPU profile of
// BenchmarkLoad1000Apps (internal/build) showed where a cold load goes:
// CUE evaluation, not I/O. It used to evaluate every app five times
// against #App (its files, the base, each of three environments), each
// environment rebuilt from JSON (CUE → JSON → Go maps → JSON → CUE) and
// decoded by cue.Value.Decode: 11.2 s of CPU per load of 1,000 apps, 76%
// of it building the instances, 18% in Decode, 14% in GC.
//
// So the fast path (fast.go) evaluates once what it must and no more:
//   - the app's files unified with #App, the check that places every
//     error at the user's file:line:col, is the only evaluation of the
//     whole app; the base is decoded straight from that value;
//   - an environment evaluates only the fields its layers touched, each
//     against that field's own schema (#App.training.replicas, not #App),
//     and shares every other field with the base. The layers are Go data
//     merged as before: an override replaces a value (lists whole), which
//     CUE unification cannot express, since 2 & 4 is a conflict there;
//   - on any failure it steps aside, and the full path (the five
//     evaluations) reports the findings exactly as before.
//
// That took a load of 1,000 apps from 11.2 s to 5.3 s of CPU. What is left
// is CUE itself: the one unification of each app's files with #App is
// about 60% of a load, Decode about 20%, and the small per-environment
// evaluations the rest. A whole cold `dmls render` spends more in build
// (the admission check against the upstream CRD schemas, YAML) than here.
package workspace

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"cuelang.org/go/cue"

	"github.com/dmls-project/dmls/internal/admission"
	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/memo"
	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/internal/repourl"
	"github.com/dmls-project/dmls/internal/rules"
	"github.com/dmls-project/dmls/internal/schema"
	"github.com/dmls-project/dmls/internal/spec"
)

// Options tune Load.
type Options struct {
	// Workers bounds how many apps are evaluated at once; 0 means GOMAXPROCS.
	Workers int
	// Cache, when set, keeps valid apps by Digest across loads, so that a
	// long-running process re-evaluates only apps whose files, platform,
	// environments or schemas changed.
	Cache *memo.Cache[*spec.App]

	// Guard bounds the evaluation of each app; nil means the process's
	// default (SetDefaultGuard), if any.
	Guard Guard

	// legacy turns off the fast path of loadApp, for tests that compare
	// the two.
	legacy bool
}

// Load reads the workspace in fsys. root is how the user names the
// workspace folder; it prefixes file names in findings. Spec errors come
// back as a diag.List holding every finding; the Workspace then holds what
// was valid.
func Load(fsys fs.FS, root string, opts Options) (*spec.Workspace, error) {
	l, ev, err := loadContext(fsys, root, true)
	if err != nil {
		return nil, err
	}
	ws, err := l.load(ev, opts)
	// Not deferred: an evaluator that a panic left half way is not reused.
	schema.ReleaseEvaluator(ev)
	return ws, err
}

// load loads the apps of the workspace whose context l loaded with ev.
func (l *loader) load(ev *schema.Evaluator, opts Options) (*spec.Workspace, error) {
	if l.diags.HasErrors() || l.ws.Platform == nil {
		l.ws.Warnings = l.diags.Warnings()
		return l.ws, l.diags.Err()
	}
	l.cache = opts.Cache
	l.legacy = opts.legacy
	l.guard = opts.Guard
	if l.guard == nil {
		if g := defaultGuard.Load(); g != nil {
			l.guard = *g
		}
	}
	l.loadApps(ev, opts)
	l.checkOwners()
	l.diags = append(l.diags, rules.Quotas(l.ws)...)
	l.ws.Warnings = l.diags.Warnings()
	n := len(l.ws.Warnings)
	for _, a := range l.ws.Apps {
		n += len(a.Warnings)
	}
	l.ws.Warnings = slices.Grow(l.ws.Warnings, n-len(l.ws.Warnings))
	for _, a := range l.ws.Apps {
		l.ws.Warnings = append(l.ws.Warnings, a.Warnings...)
	}
	l.ws.Warnings.Sort()
	return l.ws, l.diags.Err()
}

// loadContext loads what every app of the workspace in fsys is evaluated
// against: the platform (with its components' charts when components is
// set) and the environments. It records their spec files, so that an app
// can be evaluated elsewhere (AppJob).
func loadContext(fsys fs.FS, root string, components bool) (*loader, *schema.Evaluator, error) {
	l := &loader{fsys: fsys, root: root, ws: &spec.Workspace{Root: root, EnvProv: map[string]provenance.Map{}}, envFiles: map[string]provenance.Pos{}}
	ev, err := schema.AcquireEvaluator()
	if err != nil {
		return nil, nil, err
	}
	if l.checkSealed(); l.diags.HasErrors() {
		return l, ev, nil
	}
	h := sha256.New()
	fmt.Fprintf(h, "schemas %s\nroot %s\n", schema.Digest(), root)
	l.recording = true
	l.loadPlatform(ev, h)
	if l.ws.Platform != nil && components {
		l.checkComponents(h)
	}
	l.loadEnvs(ev, h)
	l.recording = false
	l.ctxDigest = contextDigest(root, l.ctx)
	l.ws.Digest = hex.EncodeToString(h.Sum(nil))
	return l, ev, nil
}

// LoadDir loads the workspace in the folder dir. Every read goes through
// one os.Root opened on dir, so that no path, by symlink or otherwise, can
// read a file outside it; dir names the workspace in findings.
func LoadDir(dir string, opts Options) (*spec.Workspace, error) {
	fsys, closer, err := DirFS(dir)
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return Load(fsys, dir, opts)
}

// DirFS opens the workspace folder dir as a file system confined to it by
// an os.Root: no path, by symlink or otherwise, reads outside dir. Every
// reader of a workspace on disk uses it; close the Closer when done.
func DirFS(dir string) (fs.FS, io.Closer, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("workspace %s: %w", dir, unwrapPathError(err))
	}
	return r.FS(), r, nil
}

// checkSealed refuses a symlinked platform spec, apps/ or overlays/: the
// workspace is one folder, and its specs are its own files. (os.Root would
// refuse a link that leads outside anyway, with a less helpful message; a
// link that stays inside is refused too, so that what is validated is
// plainly what is in the folder.)
func (l *loader) checkSealed() {
	entries, err := fs.ReadDir(l.fsys, ".")
	if err != nil {
		l.diags.Add(provenance.Pos{File: l.root}, "", "cannot read the workspace: %v", unwrapPathError(err))
		return
	}
	for _, e := range entries {
		name := e.Name()
		isSpec := layout.IsPlatformFile(name)
		if !isSpec && name != layout.AppsDir && name != layout.OverlaysDir {
			continue
		}
		if e.Type()&fs.ModeSymlink == 0 {
			if !isSpec && !e.IsDir() {
				l.diags.Add(l.filePos(name), "", "%s must be a folder", name)
			}
			continue
		}
		what := "the platform spec"
		if !isSpec {
			what = "the " + name + "/ folder"
		}
		to := ""
		if target, err := fs.ReadLink(l.fsys, name); err == nil {
			to = " to " + target
		}
		l.diags.Add(l.filePos(name), "", "%s is a symlink%s; the workspace must hold its own files, so move or copy it into %s", what, to, l.root)
	}
}

type loader struct {
	cache  *memo.Cache[*spec.App]
	legacy bool
	guard  Guard
	// ctx are the platform's and environments' spec files, recorded
	// while recording is set; ctxDigest names them.
	ctx       []File
	ctxDigest string
	recording bool
	fsys      fs.FS
	root      string
	ws        *spec.Workspace
	diags     diag.List
	// envFiles are the environments' spec files, by name.
	envFiles map[string]provenance.Pos
	// reuse holds, for Reload, the apps of the folders not to load again;
	// keep, when set, receives the app of each valid folder (Kept).
	reuse, keep map[string]*spec.App
}

// display names a file as the user sees it.
func (l *loader) display(rel string) string { return displayPath(l.root, rel) }

// displayPath names the file rel of the workspace root as the user sees it.
func displayPath(root, rel string) string {
	return filepath.Join(root, filepath.FromSlash(rel))
}

func (l *loader) filePos(rel string) provenance.Pos {
	return provenance.Pos{File: l.display(rel)}
}

// readSpec reads and parses one spec file.
func (l *loader) readSpec(ev *schema.Evaluator, rel string, h interface{ Write([]byte) (int, error) }) (cue.Value, diag.List) {
	src, d := l.readFile(rel, h)
	if len(d) > 0 {
		return cue.Value{}, d
	}
	return l.parseSpec(ev, rel, src)
}

// readFile reads a spec file and adds it to the digest h.
func (l *loader) readFile(rel string, h interface{ Write([]byte) (int, error) }) ([]byte, diag.List) {
	src, err := ReadSpecFile(l.fsys, rel)
	if err != nil {
		var d diag.List
		var pe *fs.PathError
		if errors.As(err, &pe) {
			d.Add(l.filePos(rel), "", "cannot read spec file: %v", pe.Err)
		} else {
			d.Add(l.filePos(rel), "", "%v", err)
		}
		return nil, d
	}
	if l.recording {
		l.ctx = append(l.ctx, File{Rel: rel, Data: src})
	}
	if h != nil {
		fmt.Fprintf(h, "file %s %d\n", rel, len(src))
		h.Write(src)
	}
	return src, nil
}

// parseSpec parses a spec file read by readFile.
func (l *loader) parseSpec(ev *schema.Evaluator, rel string, src []byte) (cue.Value, diag.List) {
	v, err := ev.ParseFile(l.display(rel), src)
	if err != nil {
		return cue.Value{}, schema.FromCUE(err, "", nil, l.filePos(rel))
	}
	return v, nil
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// specFiles lists the spec files of a folder (layout.SpecFiles), sorted,
// and refuses symlinks (which could lead outside the workspace) and
// anything but regular files, at their paths.
func (l *loader) specFiles(dir string) ([]string, diag.List) {
	entries, err := fs.ReadDir(l.fsys, dir)
	if err != nil {
		return nil, nil
	}
	files, refused := layout.SpecFiles(dir, entries)
	var d diag.List
	for _, rel := range slices.Sorted(maps.Keys(refused)) {
		if refused[rel]&fs.ModeSymlink != 0 {
			to := ""
			if target, err := fs.ReadLink(l.fsys, rel); err == nil {
				to = " (this one is a symlink to " + target + ")"
				if _, err := fs.Stat(l.fsys, rel); errors.Is(err, fs.ErrNotExist) {
					to = " (this one is a dangling symlink, to " + target + ")"
				}
			}
			d.Add(l.filePos(rel), "", "spec files may not be symlinks%s; copy the file into the workspace", to)
			continue
		}
		d.Add(l.filePos(rel), "", "%v", notRegular(refused[rel]))
	}
	return files, d
}

func (l *loader) loadPlatform(ev *schema.Evaluator, h interface{ Write([]byte) (int, error) }) {
	var found []string
	for _, ext := range layout.SpecExts {
		if _, err := fs.Stat(l.fsys, layout.PlatformName+ext); err == nil {
			found = append(found, layout.PlatformName+ext)
		}
	}
	switch len(found) {
	case 0:
		l.diags.Add(l.filePos(layout.PlatformName+".cue"), "", "no platform spec: a workspace needs platform.cue (or .yaml, .json) at its root; `dmls init` writes one")
		return
	case 1:
	default:
		l.diags.Add(l.filePos(found[1]), "", "more than one platform spec (%s); keep one", strings.Join(found, ", "))
		return
	}
	v, d := l.readSpec(ev, found[0], h)
	if len(d) > 0 {
		l.diags = append(l.diags, d...)
		return
	}
	prov := provenance.Map{}
	schema.Positions(v, prov)
	var p spec.Platform
	if d := schema.Validate(ev, schema.DefPlatform, v, prov, l.filePos(found[0]), &p); len(d) > 0 {
		l.diags = append(l.diags, d...)
		return
	}
	if p.API != nil && p.API.Auth != nil {
		p.Auth = p.API.Auth
		if d := rules.APIAuth(p.Auth, prov); len(d) > 0 {
			l.diags = append(l.diags, d...)
			return
		}
		if authOnly(prov) {
			p.API = nil
		}
	}
	if p.API != nil {
		if _, ok := p.Repos[layout.RepoMLModel]; !ok {
			pos, _ := prov.Lookup("api")
			l.diags.Add(pos, "api", "the API server reads and writes specs in the %q repo; add it to repos", layout.RepoMLModel)
			return
		}
		if p.API.Image == "" {
			v := runningVersion()
			img, ok := spec.ReleaseImage(v)
			if !ok {
				pos, _ := prov.Lookup("api")
				l.diags.Add(pos, "api.image", "no image for the API server: api.image defaults to the image of the dmls release that renders it (%s:<version>), and this dmls (version %s) is not a release; set api.image, for example to an image built with make image", spec.ImageRepository, v)
				return
			}
			p.API.Image = img
		}
	}
	add := func(at, format string, args ...any) {
		pos, _ := prov.Lookup(at)
		l.diags.Add(pos, at, format, args...)
	}
	for _, name := range slices.Sorted(maps.Keys(p.Secrets)) {
		rules.ExternalSecret(add, provenance.Join(spec.PathSecrets, name), p.Secrets[name])
	}
	l.warnCredentials(&p, prov)
	if _, ok := p.Repos[layout.RepoInfra]; len(p.Clusters) > 0 && !ok {
		pos, _ := prov.Lookup("clusters")
		l.diags.Add(pos, "clusters", "the kops manifests of the clusters go to the %q repo; add it to repos", layout.RepoInfra)
		return
	}
	l.diags = append(l.diags, rules.TeamQueues(&p, prov)...)
	if d := rules.Clusters(&p, prov); len(d) > 0 {
		l.diags = append(l.diags, d...)
		if d.HasErrors() {
			return
		}
	}
	l.ws.Platform = &p
	l.ws.PlatformProv = prov
	l.checkPlatformNames(prov)
}

// authOnly reports whether the api block, as written, holds auth and
// nothing else: it then configures a dmls serve that runs elsewhere, and
// installs nothing on the cluster (so it needs no image).
func authOnly(prov provenance.Map) bool {
	auth := false
	for k := range prov.Sub("api") {
		switch {
		case k == "":
		case k == "auth" || strings.HasPrefix(k, "auth.") || strings.HasPrefix(k, "auth["):
			auth = true
		default:
			return false
		}
	}
	return auth
}

// RuleCredentialsInURL is the rule of the warning about a repo URL that
// carries credentials.
const RuleCredentialsInURL = diag.RuleCredentialsInURL

// warnCredentials warns of repo URLs that carry a password or token: dmls
// strips them from everything it writes (repourl.Public), but a spec file
// in git is no place for them.
func (l *loader) warnCredentials(p *spec.Platform, prov provenance.Map) {
	for _, name := range slices.Sorted(maps.Keys(p.Repos)) {
		u := p.Repos[name].URL
		if !repourl.HasCredentials(u) {
			continue
		}
		at := provenance.Join("repos", name, "url")
		pos, _ := prov.Lookup(at)
		l.diags = append(l.diags, diag.Diagnostic{Pos: pos, Path: at, Severity: diag.SeverityWarning, Rule: RuleCredentialsInURL,
			Message: fmt.Sprintf("%s, as %s", repourl.CredentialsAdvice, repourl.Public(u))})
	}
}

func (l *loader) loadEnvs(ev *schema.Evaluator, h interface{ Write([]byte) (int, error) }) {
	files, d := l.specFiles(layout.OverlaysDir)
	l.diags = append(l.diags, d...)
	if len(files) == 0 && len(d) == 0 {
		l.diags.Add(l.filePos(layout.OverlaysDir), "", "no environments: add overlays/<env>.cue, for example overlays/dev.cue")
		return
	}
	seen := map[string]string{}
	for _, rel := range files {
		name := strings.TrimSuffix(path.Base(rel), path.Ext(rel))
		if !isDNSLabel(name) {
			l.diags.Add(l.filePos(rel), "", "environment name %q (from the file name) must be a DNS-1123 label: lower-case letters, digits and '-'", name)
			continue
		}
		if prev, ok := seen[name]; ok {
			l.diags.Add(l.filePos(rel), "", "environment %q is defined twice, also in %s", name, l.display(prev))
			continue
		}
		seen[name] = rel
		if !l.checkEnvName(rel, name) {
			continue
		}
		l.envFiles[name] = l.filePos(rel)
		v, d := l.readSpec(ev, rel, h)
		if len(d) > 0 {
			l.diags = append(l.diags, d...)
			continue
		}
		prov := provenance.Map{}
		schema.Positions(v, prov)
		var e spec.Environment
		if d := schema.Validate(ev, schema.DefEnvironment, v, prov, l.filePos(rel), &e); len(d) > 0 {
			l.diags = append(l.diags, d...)
			continue
		}
		e.Name = name
		l.ws.Envs = append(l.ws.Envs, &e)
		l.ws.EnvProv[name] = prov
	}
	sort.Slice(l.ws.Envs, func(i, j int) bool {
		a, b := l.ws.Envs[i], l.ws.Envs[j]
		if a.Order != b.Order {
			return a.Order < b.Order
		}
		return a.Name < b.Name
	})
	if l.ws.Platform != nil {
		l.checkEnvs()
	}
}

// checkEnvs checks environments against the platform: namespaces belong to
// known teams, no two teams share one, and none is Argo CD's.
func (l *loader) checkEnvs() {
	p := l.ws.Platform
	for _, e := range l.ws.Envs {
		prov := l.ws.EnvProv[e.Name]
		if name := e.Cluster.Name; name != "" {
			if _, ok := p.Clusters[name]; !ok {
				pos, _ := prov.Lookup("cluster.name")
				l.diags.Add(pos, "cluster.name", "unknown cluster %q; the platform's clusters are %s", name, diag.QuoteList(slices.Sorted(maps.Keys(p.Clusters))))
			}
		}
		l.diags = append(l.diags, rules.KueueEnv(p, e, l.ws.PlatformProv, prov)...)
		if k := e.Serving.Knative; k != nil {
			// Knative reads these as its webhook does; a value it cannot
			// read would fail every Service's validation later.
			if _, err := admission.KnativeConfig(nil, k); err != nil {
				pos, _ := prov.Lookup("serving.knative")
				l.diags.Add(pos, "serving.knative", "%v", err)
			}
		}
		owner := map[string]string{}
		for _, team := range slices.Sorted(maps.Keys(e.Namespaces)) {
			ns := e.Namespaces[team]
			at := "namespaces." + team
			pos, _ := prov.Lookup(at)
			if _, ok := p.Teams[team]; !ok {
				l.diags.Add(pos, at, "unknown team %q; the platform's teams are %s", team, diag.QuoteList(slices.Sorted(maps.Keys(p.Teams))))
			}
			if ns == p.ArgoCD.Namespace {
				l.diags.Add(pos, at, "namespace %q is Argo CD's own; give the team a namespace of its own", ns)
			}
			if p.API != nil && ns == p.API.Namespace {
				l.diags.Add(pos, at, "namespace %q is the dmls API server's (platform api.namespace); give the team a namespace of its own", ns)
			}
			if other, ok := owner[ns]; ok {
				l.diags.Add(pos, at, "namespace %q is already team %q's; each team needs its own namespace", ns, other)
			}
			owner[ns] = team
		}
		for _, name := range slices.Sorted(maps.Keys(p.Secrets)) {
			if p.Secrets[name].Store == nil && e.SecretStore == nil && p.SecretStore == nil {
				at := provenance.Join(spec.PathSecrets, name)
				pos, _ := l.ws.PlatformProv.Lookup(at)
				l.diags.Add(pos, at, "no secret store for secret %q in environment %s: set secretStore in platform.cue or in overlays/%s.cue, or store: {name, kind} here", name, e.Name, e.Name)
			}
		}
	}
}

func (l *loader) loadApps(ev *schema.Evaluator, opts Options) {
	entries, err := fs.ReadDir(l.fsys, layout.AppsDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		l.diags.Add(l.filePos(layout.AppsDir), "", "cannot read apps folder: %v", unwrapPathError(err))
		return
	}
	var dirs []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if e.Type()&fs.ModeSymlink != 0 {
			l.diags.Add(l.filePos(path.Join(layout.AppsDir, e.Name())), "", "app folders may not be symlinks")
			continue
		}
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	apps := make([]*spec.App, len(dirs))
	diags := make([]diag.List, len(dirs))
	var todo []int
	for i, dir := range dirs {
		if a, ok := l.reuse[dir]; ok {
			apps[i] = a
		} else {
			todo = append(todo, i)
		}
	}
	workers = min(workers, len(todo))
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			wev := ev
			if w > 0 {
				var err error
				if wev, err = schema.AcquireEvaluator(); err != nil {
					for i := range next {
						diags[i].Add(l.filePos(path.Join(layout.AppsDir, dirs[i])), "", "%v", err)
					}
					return
				}
			}
			for i := range next {
				apps[i], diags[i] = l.loadApp(wev, dirs[i])
				if apps[i] != nil {
					// What the app takes of its team's quotas, kept by
					// its digest: here, on every core, rather than in the
					// quota check across apps, which runs alone.
					rules.QuotaUses(apps[i])
				}
			}
			if w > 0 {
				schema.ReleaseEvaluator(wev)
			}
		}(w)
	}
	for _, i := range todo {
		next <- i
	}
	close(next)
	wg.Wait()
	if l.keep != nil {
		for i, a := range apps {
			if a != nil {
				l.keep[dirs[i]] = a
			}
		}
	}

	byName := map[string]*spec.App{}
	for i, a := range apps {
		if a == nil {
			l.diags = append(l.diags, diags[i]...)
			continue
		}
		if prev, ok := byName[a.Name]; ok {
			pos, _ := a.Base.Prov.Lookup("name")
			l.diags.Add(pos, "name", "duplicate app name %q: %s already uses it; app names are unique in a workspace", a.Name, l.display(path.Join(layout.AppsDir, prev.Dir)))
			continue
		}
		byName[a.Name] = a
		l.ws.Apps = append(l.ws.Apps, a)
	}
	sort.Slice(l.ws.Apps, func(i, j int) bool { return l.ws.Apps[i].Name < l.ws.Apps[j].Name })
}
