// Package build runs the generators over a loaded workspace, app by app
// and in parallel, checks what they produce, and lays out the trees of the
// config repos.
//
// # Profile
//
// A cold `dmls render` of the synthetic 1,000 apps × 3 environments
// (internal/synth) spent 9.2 CPU-s on 2 cores (5.2 s wall): CUE 2.4 s,
// the admission checks of the apps' objects 2.3 s (of which 1.1 s in
// kube-openapi's schema validator), the checks of the whole-workspace
// trees 1.0 s (half of it parsing their YAML again), generation and
// Argo CD's ignoreDifferences 0.9 s, the per-app output 0.8 s and the
// collector about 1 s. What it taught:
//   - Generated objects differ in strings that no schema constraint
//     reads (names, namespaces, images). The schema validator's memo
//     keeps a valid result by the value's shape (internal/admission), so
//     objects of one shape are walked once: 1.1 → 0.1 s.
//   - The platform and Argo CD trees are written from objects that the
//     build holds (generators.Sources): their checks read the objects
//     instead of parsing 6 MB of YAML again, 1.0 → 0.2 s.
//   - Upstream's per-object passes that walk a whole object for one kind
//     of node (embedded resources, set and map lists, defaults) run only
//     for schemas that have such a node: an Argo CD Application has none.
//   - The environments of many apps share their sections (replica counts,
//     resources, scaling): the loader evaluates each section and value
//     once per worker (schema.EvalInto), and decodes CUE into Go without
//     CUE's topological field ordering (schema.Decode; 7% of the CPU).
//   - The embedded CRDs are JSON: the KServe CRD, parsed on the first
//     KServe app's check while the other worker waits, took 123 ms as YAML.
//   - The guard rails and the Argo CD tree are made on two cores.
package build

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"unsafe"

	kubeflowv1 "github.com/kubeflow/training-operator/pkg/apis/kubeflow.org/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/generators/apiserver"
	"github.com/dmls-project/dmls/generators/argocd"
	"github.com/dmls-project/dmls/generators/components"
	"github.com/dmls-project/dmls/generators/externalsecret"
	"github.com/dmls-project/dmls/generators/inferenceservice"
	"github.com/dmls-project/dmls/generators/kops"
	"github.com/dmls-project/dmls/generators/kservice"
	"github.com/dmls-project/dmls/generators/kustomize"
	"github.com/dmls-project/dmls/generators/platform"
	"github.com/dmls-project/dmls/generators/tfjob"
	"github.com/dmls-project/dmls/generators/trainjob"
	"github.com/dmls-project/dmls/internal/admission"
	"github.com/dmls-project/dmls/internal/apis/argocdv1alpha1"
	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/helmrender"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/memo"
	"github.com/dmls-project/dmls/internal/parallel"
	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/internal/rules"
	"github.com/dmls-project/dmls/internal/spec"
)

// appGenerators run, in this order, for every app instance.
var appGenerators = []generators.Func{externalsecret.Generate, tfjob.Generate, trainjob.Generate, kservice.Generate, inferenceservice.Generate}

// App is the generated output of one app.
type App struct {
	App *spec.App
	// Tree is the app's kustomize tree, relative to the k8s-config repo's
	// path prefix.
	Tree generators.Tree
	// Objects are the app's objects per environment, before kustomize.
	Objects map[string][]generators.Object
	// Ignore are the Argo CD ignoreDifferences of the app's Application
	// per environment, kept with the objects they are computed from.
	Ignore map[string][]argocdv1alpha1.ResourceIgnoreDifferences
	// Features are the Knative config-features its Services use, in every
	// environment (kservice.Features).
	Features map[string]string
	// Warnings are the findings of the generated objects' checks that do
	// not fail the app.
	Warnings diag.List

	// kept is Kept's answer, made on first use (guarded by keptMu).
	kept *Kept
}

// keptMu guards App.kept.
var keptMu sync.Mutex

// Result is the generated output of a workspace.
type Result struct {
	Apps []*App
	// Platform is the tree of the platform objects, relative to the
	// k8s-config repo's path prefix.
	Platform generators.Tree
	// PlatformObjects are the objects of each folder of Platform
	// (layout.PlatformDir(env), layout.APIServerDir), which Plain lays out, so that
	// RenderPlatform renders them without kustomize.
	PlatformObjects map[string][]generators.Object
	// ArgoCD is the tree of the Argo CD objects (Applications,
	// AppProjects, roots, settings), relative to the k8s-config repo's path
	// prefix. It is only built with every app, never for a subset: a root
	// synced from a partial tree would prune the other apps.
	ArgoCD generators.Tree
	// Catalog is the model catalog for the docs repo, relative to its path
	// prefix; nil leaves the docs repo alone (set by publish.Catalog).
	Catalog generators.Tree
	// Kubeflow is the tree of the kubeflow-config repo (the platform
	// components' Applications and rendered charts), relative to its path
	// prefix; nil without components. Like ArgoCD, it is only built with
	// every app: the Knative features come from all of them.
	Kubeflow generators.Tree
	// Features are the Knative config-features of every generated Service.
	Features map[string]string
	// Infra is the tree of the kops manifests of every platform cluster,
	// relative to the infra repo's path prefix.
	Infra generators.Tree
	// Warnings are the apps' build warnings, sorted; the load's own are in
	// spec.Workspace.Warnings.
	Warnings diag.List
}

// Options tune Workspace.
type Options struct {
	// Workers bounds parallel apps; 0 means GOMAXPROCS.
	Workers int
	// Apps limits the build to these apps; empty means all.
	Apps []string
	// Cache, when set, keeps built apps by the app's Digest, which covers
	// everything BuildApp reads.
	Cache *memo.Cache[*App]
	// AppsOnly builds the apps and nothing else: no platform, Argo CD,
	// Kubeflow or kops trees and none of their checks, for a caller that
	// builds them once from every app with Whole (internal/cache builds
	// apps in chunks).
	AppsOnly bool
	// Memo, when set, keeps the laid-out Argo CD Applications of the apps
	// and the checks of the files outside them across calls, so that a
	// long-running process lays out and checks only what changed.
	Memo *Memo
	// NoLayout leaves each app's kustomize tree out (App.Tree is nil), for
	// callers that render the apps directly (App.Render) and publish
	// nothing: render without --via-kustomize. The objects are generated
	// and checked as always. Apps built so are not put in Cache.
	NoLayout bool
}

// Memo keeps what Workspace lays out and checks for every app beside the
// app's own tree: each app's Argo CD Applications (by the app's Digest)
// and the findings of each generated file outside the apps (by its
// content). Make one with NewMemo; safe for concurrent use.
type Memo struct {
	argo    *argocd.Memo
	checked *memo.Cache[diag.List]
	// rails are the laid-out files of the platform tree's objects (the
	// guard rails), by the platform, the environment and the object's
	// identity.
	rails *memo.Cache[railFile]
	// policies are the jobs' NetworkPolicies of the guard rails, made and
	// annotated (platform.Input.Memo).
	policies *memo.Cache[generators.Object]
	// seeded holds the keys of files a run before checked without
	// findings (Seed); passed, once Seed was called, those of the files
	// checkTree met in this process that have none, checked or seeded.
	// A memo that is never seeded (dmls serve's) keeps no passed set,
	// which would only grow.
	track  bool
	seeded map[string]bool
	passed sync.Map
	// keys are the last key of each file name checkTree met (fileKey),
	// at most maxKeys.
	keysMu  sync.Mutex
	keys    map[string]keyed
	maxKeys int
}

// Seed marks files as checked without findings and makes the memo keep
// the set Passed returns; call it, with nil keys for a first run, before
// any use. keys are what Passed returned in a run of the same dmls binary
// on the same platform and environment files (a key covers a file's name,
// content and the position its findings point at, not the schemas or the
// platform).
func (m *Memo) Seed(keys []string) {
	m.track = true
	m.seeded = make(map[string]bool, len(keys))
	for _, k := range keys {
		m.seeded[k] = true
	}
}

// Passed returns the keys of the files checkTree met through this memo
// that have no findings, sorted, for Seed in a later run: seeded keys of
// files no longer generated are dropped.
func (m *Memo) Passed() []string {
	var out []string
	m.passed.Range(func(k, _ any) bool {
		out = append(out, k.(string))
		return true
	})
	sort.Strings(out)
	return out
}

// railFile is one object of the platform tree, laid out.
type railFile struct {
	file string
	data []byte
}

// NewMemo returns a memo for a workspace of up to apps apps.
func NewMemo(apps int) *Memo {
	return &Memo{argo: argocd.NewMemo(4 * apps), checked: memo.New[diag.List](4*apps + 64), rails: memo.New[railFile](4*apps + 256),
		policies: memo.New[generators.Object](4*apps + 256), maxKeys: 8*apps + 256}
}

// railsBase identifies everything but the object that a guard rail of env
// is made of (platform.GuardRails reads the platform, the environment and
// the managed kinds, and a TFJob's NetworkPolicy its job, which names
// it), or "" without a memo or when that cannot be told.
func (m *Memo) railsBase(p *spec.Platform, env *spec.Environment, kinds []platform.ManagedKind, serving map[string]map[string]resource.Quantity) string {
	if m == nil {
		return ""
	}
	b, err := json.Marshal(struct {
		P *spec.Platform
		E *spec.Environment
		K []platform.ManagedKind
		S map[string]map[string]resource.Quantity
	}{p, env, kinds, serving})
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// plain is kustomize.Plain of objs, the platform objects of one
// environment, byte for byte, with the file of each object that the memo
// laid out before under base taken from the memo: at 1,000 apps the guard
// rails hold thousands of NetworkPolicies (one per TFJob), and marshalling
// them all again after every change of dmls serve was a sixth of its CPU.
//
// src, when set, gets the object of every file not taken from the memo.
func (m *Memo) plain(base string, objs []generators.Object, src generators.Sources) (generators.Tree, error) {
	if m == nil || base == "" {
		src.Add("", kustomize.PlainSources(objs))
		return kustomize.Plain(objs)
	}
	tree := generators.Tree{}
	files := make([]string, 0, len(objs))
	seen := map[string]bool{}
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		key := base + "\x00" + gvk.String() + "\x00" + o.GetNamespace() + "\x00" + o.GetName()
		l, ok := m.rails.Get(key)
		if !ok || seen[key] {
			t, err := kustomize.Plain([]generators.Object{o})
			if err != nil {
				return nil, err
			}
			for f, b := range t {
				if f != layout.KustomizationFile {
					l = railFile{file: f, data: b}
				}
			}
			if !seen[key] {
				m.rails.Put(key, l)
			}
			if src != nil {
				src[l.file] = o
			}
		}
		seen[key] = true
		tree[l.file] = l.data
		files = append(files, l.file)
	}
	k, err := kustomize.PlainKustomization(files)
	if err != nil {
		return nil, err
	}
	tree[layout.KustomizationFile] = k
	return tree, nil
}

func (m *Memo) argocd() *argocd.Memo {
	if m == nil {
		return nil
	}
	return m.argo
}

// Workspace generates every app of ws and the platform objects. Findings
// against the specs come back as a diag.List.
func Workspace(ws *spec.Workspace, opts Options) (*Result, error) {
	apps := ws.Apps
	if len(opts.Apps) > 0 {
		apps = nil
		for _, name := range opts.Apps {
			a := ws.App(name)
			if a == nil {
				return nil, fmt.Errorf("no app named %q in the workspace", name)
			}
			apps = append(apps, a)
		}
	}
	res := &Result{Apps: make([]*App, len(apps))}
	errs := make([]error, len(apps))
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for i, a := range apps {
		// The cached apps (in dmls serve, all but the few a batch
		// changed) are taken here: a goroutine each was most of this
		// loop at 1,000 apps.
		if b, ok := opts.Cache.Get(a.Digest); ok {
			res.Apps[i] = b
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			res.Apps[i], errs[i] = buildApp(ws.Platform, a, !opts.NoLayout)
			if errs[i] == nil && !opts.NoLayout {
				opts.Cache.Put(a.Digest, res.Apps[i])
			}
		}()
	}
	wg.Wait()
	var diags diag.List
	for _, err := range errs {
		if err == nil {
			continue
		}
		if d, ok := err.(diag.List); ok {
			diags = append(diags, d...)
			continue
		}
		return nil, err
	}
	if err := diags.Err(); err != nil {
		return nil, err
	}
	for _, a := range res.Apps {
		res.Warnings = append(res.Warnings, a.Warnings...)
	}
	res.Warnings.Sort()
	if opts.AppsOnly {
		return res, nil
	}
	if len(opts.Apps) == 0 {
		kept := make([]Kept, len(res.Apps))
		for i, a := range res.Apps {
			kept[i] = a.Kept()
		}
		w, err := WholeMemo(ws, kept, opts.Memo)
		if err != nil {
			return nil, err
		}
		res.Platform, res.PlatformObjects, res.Infra, res.Features, res.Kubeflow, res.ArgoCD = w.Platform, w.PlatformObjects, w.Infra, w.Features, w.Kubeflow, w.ArgoCD
		return res, nil
	}
	var uses []rules.QuotaUse
	for _, a := range ws.Apps {
		uses = append(uses, rules.QuotaUses(a)...)
	}
	src := generators.Sources{}
	pt, pobjs, err := platformTree(ws, uses, func(env string) (map[string][]string, map[string][]string) { return jobs(ws, env) }, nil, src)
	if err != nil {
		return nil, err
	}
	res.Platform, res.PlatformObjects = pt, pobjs
	if res.Infra, err = Infra(ws.Platform); err != nil {
		return nil, err
	}
	if err := checkTreeFrom(ws, res.Platform, src, opts.Memo).Err(); err != nil {
		return nil, err
	}
	return res, nil
}

// Kept is what the trees built from every app (Argo CD, Kubeflow) need of
// one built app.
type Kept struct {
	Name, Team string
	// Envs are the environments the app runs in, in order.
	Envs []string
	// Ignore and Features are App.Ignore and App.Features.
	Ignore   map[string][]argocdv1alpha1.ResourceIgnoreDifferences
	Features map[string]string
	// Jobs are the app's TFJob name per environment it trains in, and
	// TrainJobs its TrainJob name, for the platform's guard rails.
	Jobs, TrainJobs map[string]string
	// Quota is what the app takes of its team's quota (rules.QuotaUses),
	// for the ResourceQuotas of Kueue environments.
	Quota []rules.QuotaUse
	// Key is the app's digest, which identifies Ignore for a Memo; empty
	// for apps no digest covers.
	Key string
}

// Kept returns what Whole needs of a. It is made once per App (a built
// app does not change) and shared: do not change its maps. A server's
// build cache keeps the apps, so a batch at 1,000 apps no longer makes
// the maps of every app again.
func (a *App) Kept() Kept {
	keptMu.Lock()
	defer keptMu.Unlock()
	if a.kept == nil {
		k := a.makeKept()
		a.kept = &k
	}
	return *a.kept
}

func (a *App) makeKept() Kept {
	k := Kept{Name: a.App.Name, Team: a.App.Team, Ignore: a.Ignore, Features: a.Features, Jobs: map[string]string{}, Key: a.App.Digest, Quota: rules.QuotaUses(a.App)}
	for _, in := range a.App.Envs {
		k.Envs = append(k.Envs, in.Env.Name)
		switch t := in.Spec.Training; {
		case t.IsTrainJob():
			if k.TrainJobs == nil {
				k.TrainJobs = map[string]string{}
			}
			k.TrainJobs[in.Env.Name] = spec.JobName(a.App.Name, t)
		case t != nil:
			k.Jobs[in.Env.Name] = spec.TFJobName(a.App.Name, t.Run)
		}
	}
	return k
}

// Whole builds and checks the trees of ws that are not one app's: the
// platform objects, the kops manifests, and, from every app of the
// workspace (sorted by name), the Knative features, the Kubeflow
// components and the Argo CD tree. Workspace calls it with the apps it
// built; internal/cache with the apps it keeps on disk.
func Whole(ws *spec.Workspace, apps []Kept) (*Result, error) { return WholeMemo(ws, apps, nil) }

// WholeMemo is Whole with a memo (see Options.Memo): the Argo CD
// Applications of apps whose Key it holds, and the findings of files it
// checked before, are reused.
func WholeMemo(ws *spec.Workspace, apps []Kept, m *Memo) (*Result, error) {
	res := &Result{}
	// The files written from one object are checked from the object.
	src := generators.Sources{}
	// The guard rails (a NetworkPolicy per TFJob) and the Argo CD tree (an
	// Application per app and environment) are independent and each
	// thousands of objects at 1,000 apps: the guard rails are made on
	// another core while the rest is.
	var pt generators.Tree
	var pobjs map[string][]generators.Object
	var perr error
	platformDone := make(chan struct{})
	go func() {
		defer close(platformDone)
		pt, pobjs, perr = platformFor(ws, apps, m, src)
	}()
	// The guard rails' error first, as when they were made first.
	fail := func(err error) (*Result, error) {
		<-platformDone
		if perr != nil {
			return nil, perr
		}
		return nil, err
	}
	var err error
	if res.Infra, err = Infra(ws.Platform); err != nil {
		return fail(err)
	}
	var argoApps []argocd.App
	for _, a := range apps {
		for _, env := range a.Envs {
			ignore := a.Ignore[env]
			if ignore == nil {
				ignore = []argocdv1alpha1.ResourceIgnoreDifferences{}
			}
			argoApps = append(argoApps, argocd.App{Name: a.Name, Team: a.Team, Env: env, Ignore: ignore, Key: a.Key})
		}
	}
	var feats []map[string]string
	for _, a := range apps {
		feats = append(feats, a.Features)
	}
	res.Features = kservice.MergeFeatures(feats...)
	if len(res.Features) == 0 {
		if res.Features, err = kservice.Features(); err != nil {
			return fail(err)
		}
	}
	kf, err := Components(ws, res.Features, tfjobsUnderKueue(ws, apps))
	if err != nil {
		return fail(err)
	}
	var kroot *argocd.KubeflowRoot
	if kf != nil {
		res.Kubeflow = kf.Tree
		kroot = kf.Root
	}
	var comps []argocd.Component
	if api := ws.Platform.API; api != nil {
		comps = append(comps, argocd.Component{Name: apiserver.DefaultName, Dir: layout.APIServerDir, Namespace: api.Namespace})
	}
	argoSrc := generators.Sources{}
	at, err := argocd.Tree(argocd.Input{Platform: ws.Platform, Envs: ws.Envs, Apps: argoApps, PlatformDir: layout.PlatformDir, Components: comps, Kubeflow: kroot, Memo: m.argocd(), Sources: argoSrc})
	if err != nil {
		return fail(err)
	}
	res.ArgoCD = at
	<-platformDone
	if perr != nil {
		return nil, perr
	}
	res.Platform, res.PlatformObjects = pt, pobjs
	var found diag.List
	found = append(found, checkTreeFrom(ws, res.Platform, src, m)...)
	found = append(found, checkTreeFrom(ws, res.ArgoCD, argoSrc, m)...)
	found = append(found, checkTree(ws, res.Kubeflow, m)...)
	found = append(found, checkTree(ws, res.Infra, m)...)
	if err := found.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

// checkTree runs the API server's checks on the objects of a generated
// tree that no single spec field produced (namespaces, quotas, Argo CD
// objects). Its findings name the generated file and object and point at
// the platform spec.
//
// With a memo, a file checked before with the same content, name and
// position is not checked again.
func checkTree(ws *spec.Workspace, tree generators.Tree, m *Memo) diag.List {
	return checkTreeFrom(ws, tree, nil, m)
}

// checkTreeFrom is checkTree with the objects that files of tree were
// written from (see generators.Sources): those files are checked from
// their objects, as the apps' objects are, without parsing them again;
// the objects are the very values the files were encoded from, and the
// findings are the same (admission's Check and CheckJSON agree, tested).
func checkTreeFrom(ws *spec.Workspace, tree generators.Tree, src generators.Sources, m *Memo) diag.List {
	var d diag.List
	pos := ws.PlatformProv[""]
	schemas, err := admission.Default()
	if err != nil {
		d.Add(pos, "", "load the embedded CRD schemas: %v", err)
		return d
	}
	names := slices.Sorted(maps.Keys(tree))
	found := make([]diag.List, len(names))
	// Files are independent: check them on every core, and keep the
	// findings in file order.
	parallel.For(len(names), runtime.GOMAXPROCS(0), func(i int) {
		name := names[i]
		pos := pos
		// A kops manifest (kops/<cluster>/...) points at its cluster.
		if rest, ok := strings.CutPrefix(name, layout.KopsDir+"/"); ok {
			if p, ok := ws.PlatformProv.Lookup("clusters." + strings.SplitN(rest, "/", 2)[0]); ok {
				pos = p
			}
		}
		key := ""
		if m != nil {
			key = m.fileKey(name, pos, tree[name])
			if _, ok := m.passed.Load(key); m.track && ok {
				return
			}
			if m.track && m.seeded[key] {
				m.passed.Store(key, struct{}{})
				return
			}
			if f, ok := m.checked.Get(key); ok {
				found[i] = f
				return
			}
		}
		if o, ok := src[name]; ok {
			found[i] = checkObject(schemas, pos, name, o)
		} else {
			found[i] = checkFile(schemas, pos, name, tree[name])
		}
		if m != nil {
			m.checked.Put(key, found[i])
			if m.track && len(found[i]) == 0 {
				m.passed.Store(key, struct{}{})
			}
		}
	})
	for _, f := range found {
		d = append(d, f...)
	}
	return d
}

// kustomizationPrefix starts every Kustomization the generators write.
var kustomizationPrefix = []byte("apiVersion: kustomize.config.k8s.io/")

// fileKey identifies a file of a tree for the memo: its name, content and
// the position its findings point at. The memo's trees share the bytes of
// the files that did not change (its laid-out Applications and guard
// rails), so a file whose bytes are the very slice of the last call keeps
// its key without hashing them again: at 1,000 apps that hashing was most
// of what checking an unchanged tree cost.
func (m *Memo) fileKey(name string, pos provenance.Pos, data []byte) string {
	m.keysMu.Lock()
	k, ok := m.keys[name]
	m.keysMu.Unlock()
	if ok && k.pos == pos && len(k.data) == len(data) && unsafe.SliceData(k.data) == unsafe.SliceData(data) {
		return k.key
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%#v\x00%d\x00", name, pos, len(data))
	h.Write(data)
	key := hex.EncodeToString(h.Sum(nil))
	m.keysMu.Lock()
	defer m.keysMu.Unlock()
	if m.keys == nil || len(m.keys) >= m.maxKeys {
		m.keys = map[string]keyed{} // names of files long gone go too
	}
	m.keys[name] = keyed{data: data, pos: pos, key: key}
	return key
}

// keyed is the key of a file's content, kept with the content (which
// keeps its memory from being reused for other bytes).
type keyed struct {
	data []byte
	pos  provenance.Pos
	key  string
}

// checkFile runs the checks of checkTree on one file; pos is where its
// findings point. Each document is turned into JSON once and decoded from
// it as the API server decodes a request body (admission.CheckJSON); a
// document that is not an object is skipped.
func checkFile(schemas *admission.Schemas, pos provenance.Pos, name string, file []byte) diag.List {
	var d diag.List
	for _, doc := range bytes.Split(file, []byte("\n---\n")) {
		// A Kustomization is kustomize's, no API server's: nothing checks
		// it, and those of the trees list every file (thousands of lines
		// at 1,000 apps), so they are not parsed either.
		if bytes.HasPrefix(doc, kustomizationPrefix) {
			continue
		}
		data, err := yaml.YAMLToJSON(doc)
		if err != nil || len(data) == 0 || data[0] != '{' {
			continue
		}
		gvk, objName, found, err := schemas.CheckJSON(data)
		if err != nil {
			continue
		}
		d = append(d, fileFindings(schemas, pos, name, gvk, objName, found)...)
	}
	return d
}

// checkObject is checkFile of the file name written from o alone.
func checkObject(schemas *admission.Schemas, pos provenance.Pos, name string, o generators.Object) diag.List {
	return fileFindings(schemas, pos, name, o.GroupVersionKind(), o.GetName(), schemas.Check(o.Unstructured))
}

// fileFindings are the findings of the object gvk objName of the
// generated file name.
func fileFindings(schemas *admission.Schemas, pos provenance.Pos, name string, gvk schema.GroupVersionKind, objName string, found []admission.Finding) diag.List {
	var d diag.List
	id := generators.ID(gvk, objName)
	rule := RuleBuiltin
	if schemas.Knows(gvk) {
		rule = RuleCRDSchema
	}
	for _, f := range found {
		d = append(d, diag.Diagnostic{Pos: pos, Rule: rule,
			Message: fmt.Sprintf("the API server would refuse %s (generated %s): %s: %s", id, name, f.Field, f.Message)})
	}
	return d
}

// Render returns the app's rendered objects in env: byte for byte what
// kustomize builds from the app's overlay there, computed without
// kustomize (see kustomize.Build). ok is false when the app does not run
// in env.
func (a *App) Render(env string) (out []byte, ok bool, err error) {
	in := a.App.Instance(env)
	if in == nil {
		return nil, false, nil
	}
	out, err = kustomize.Build(
		kustomize.App{Name: a.App.Name, Source: path.Join(layout.AppsDir, a.App.Dir)},
		kustomize.Overlay{Env: env, Namespace: in.Namespace, Objects: a.Objects[env]})
	if err != nil {
		return nil, true, fmt.Errorf("app %s in environment %s: %w", a.App.Name, env, err)
	}
	return out, true, nil
}

// BuildApp generates one app: its objects in the base and in every
// environment, checked with Knative's validation, laid out as a kustomize
// base and overlays.
func BuildApp(p *spec.Platform, a *spec.App) (*App, error) { return buildApp(p, a, true) }

// buildApp is BuildApp, without the kustomize tree unless withTree is set.
func buildApp(p *spec.Platform, a *spec.App, withTree bool) (*App, error) {
	out := &App{App: a, Objects: map[string][]generators.Object{}, Ignore: map[string][]argocdv1alpha1.ResourceIgnoreDifferences{}}
	base, err := generate(p, a.Base)
	if err != nil {
		return nil, err
	}
	argocd.Annotate(base)
	k := kustomize.App{Name: a.Name, Source: path.Join(layout.AppsDir, a.Dir), Base: base}
	var diags diag.List
	envObjs := make([][]generators.Object, len(a.Envs))
	var all []generators.Object
	for i, in := range a.Envs {
		objs, err := generate(p, in)
		if err != nil {
			return nil, err
		}
		argocd.Annotate(objs)
		envObjs[i] = objs
		all = append(all, objs...)
	}
	// Each Knative Service is read into Knative's Go type once, for its
	// features, its admission check and the defaults Argo CD ignores.
	typed, err := kservice.Parse(all...)
	if err != nil {
		return nil, fmt.Errorf("app %s: %w", a.Name, err)
	}
	// The app's Services are checked with the config-features they use,
	// the settings the Knative install gets (with every other app's).
	features, err := typed.Features(all...)
	if err != nil {
		return nil, fmt.Errorf("app %s: %w", a.Name, err)
	}
	out.Features = features
	for i, in := range a.Envs {
		objs := envObjs[i]
		diags = append(diags, check(in, objs, features, typed)...)
		ignore, err := argocd.IgnoreDifferencesTyped(objs, typed)
		if err != nil {
			return nil, fmt.Errorf("app %s in environment %s: %w", a.Name, in.Env.Name, err)
		}
		if ignore == nil {
			ignore = []argocdv1alpha1.ResourceIgnoreDifferences{}
		}
		out.Ignore[in.Env.Name] = ignore
		out.Objects[in.Env.Name] = objs
		k.Overlays = append(k.Overlays, kustomize.Overlay{Env: in.Env.Name, Namespace: in.Namespace, Objects: objs})
	}
	if err := diags.Err(); err != nil {
		return nil, err
	}
	out.Warnings = diags.Warnings()
	if !withTree {
		return out, nil
	}
	tree, err := kustomize.Layout(k)
	if err != nil {
		return nil, fmt.Errorf("app %s: %w", a.Name, err)
	}
	out.Tree = tree
	return out, nil
}

// Generate returns the objects of one app instance (the base, or the app
// in one environment) before kustomize, as BuildApp lays them out.
func Generate(p *spec.Platform, in *spec.Instance) ([]generators.Object, error) {
	return generate(p, in)
}

func generate(p *spec.Platform, in *spec.Instance) ([]generators.Object, error) {
	var objs []generators.Object
	for _, g := range appGenerators {
		o, err := g(in.Spec, p)
		if err != nil {
			return nil, fmt.Errorf("app %s: %w", in.Spec.Name, err)
		}
		objs = append(objs, o...)
	}
	return objs, nil
}

// Rule IDs of the admission checks run on generated objects (registered
// in diag.Rules).
const (
	RuleCRDSchema      = diag.RuleCRDSchema
	RuleBuiltin        = diag.RuleBuiltin
	RuleTFJobAdmission = diag.RuleTFJobAdmission
	RuleKnative        = diag.RuleKnative
	RuleKServe         = diag.RuleKServe
	// RuleArgoCD is the loader's now (internal/workspace, where the spec
	// position is known); the name stays for callers of this package.
	RuleArgoCD = diag.RuleArgoCD
)

// check runs upstream admission rules on generated objects and places
// each finding on the spec line that produced the field. Knative
// Services are taken from typed, read once per app (nil: each is read
// for its check).
func check(in *spec.Instance, objs []generators.Object, features map[string]string, typed kservice.Typed) diag.List {
	var d diag.List
	add := func(o generators.Object, rule, field, format string, args ...any) {
		specPath, _ := o.Trace.Spec(field)
		pos, specPath := in.Locate(specPath)
		d = append(d, diag.Diagnostic{Pos: pos, Path: specPath, Rule: rule, Message: fmt.Sprintf(format, args...)})
	}
	schemas, err := admission.Default()
	if err != nil {
		d.Add(in.Prov[""], "", "load the embedded CRD schemas: %v", err)
		return d
	}
	for _, o := range objs {
		// The API server sees the object in its namespace, which the
		// overlay sets.
		u := o.Unstructured
		ns := ""
		if u.GetNamespace() == "" && u.GetKind() != "Namespace" && in.Namespace != "" {
			ns = in.Namespace
		}
		rule := RuleBuiltin
		if schemas.Knows(u.GroupVersionKind()) {
			rule = RuleCRDSchema
		}
		for _, f := range schemas.CheckIn(u, ns) {
			add(o, rule, f.Field, "the API server would refuse %s in environment %s: %s: %s", o.ID(), in.Env.Name, f.Field, f.Message)
		}
		if o.GroupVersionKind() == kubeflowv1.SchemeGroupVersion.WithKind(kubeflowv1.TFJobKind) {
			found, err := admission.TFJob(o.Unstructured)
			if err != nil {
				d.Add(in.Prov[""], "", "%s in environment %s: %v", o.ID(), in.Env.Name, err)
			}
			for _, f := range found {
				add(o, RuleTFJobAdmission, f.Field, "the training operator would refuse %s in environment %s: %s: %s", o.ID(), in.Env.Name, f.Field, f.Message)
			}
		}
		if o.GetKind() == inferenceservice.Kind && o.GroupVersionKind().Group == inferenceservice.GroupVersion.Group {
			for _, fe := range inferenceservice.Validate(o) {
				field := fe.Field
				if field == "" {
					field = "spec" // KServe names no field; the finding goes to serving
				}
				add(o, RuleKServe, field, "KServe rejects %s %s in environment %s: %s", o.ID(), field, in.Env.Name, fe.Message)
			}
			continue
		}
		if !kservice.IsService(o) {
			continue
		}
		var found []admission.KnativeFinding
		if svc, ok := typed.Of(o); ok {
			found = admission.ValidateKnativeServiceTyped(svc, features, in.Env.Serving.Knative)
		} else {
			found = admission.ValidateKnativeService(o.Object, features, in.Env.Serving.Knative)
		}
		for _, fe := range found {
			if fe.Warning {
				continue
			}
			add(o, RuleKnative, fe.Field, "Knative rejects %s %s in environment %s: %s", o.ID(), fe.Field, in.Env.Name, fe.Message)
		}
	}
	return d
}

func platformFor(ws *spec.Workspace, apps []Kept, m *Memo, src generators.Sources) (generators.Tree, map[string][]generators.Object, error) {
	// Only the Kueue environments' services count (rules.ServingMax): the
	// others are not copied, which at 1,000 apps was a batch's largest
	// allocation here.
	var uses []rules.QuotaUse
	for _, a := range apps {
		for _, u := range a.Quota {
			if u.Kueue && u.What == "serving" {
				uses = append(uses, u)
			}
		}
	}
	return platformTree(ws, uses, func(env string) (tfjobs, trainjobs map[string][]string) {
		tfjobs, trainjobs = map[string][]string{}, map[string][]string{}
		for _, a := range apps {
			if j, ok := a.Jobs[env]; ok {
				tfjobs[a.Team] = append(tfjobs[a.Team], j)
			}
			if j, ok := a.TrainJobs[env]; ok {
				trainjobs[a.Team] = append(trainjobs[a.Team], j)
			}
		}
		return tfjobs, trainjobs
	}, m, src)
}

// platformTree returns the platform tree and the objects of each of its
// folders.
//
// src, when set, gets the objects of the files written from one object.
func platformTree(ws *spec.Workspace, uses []rules.QuotaUse, jobsIn func(env string) (tfjobs, trainjobs map[string][]string), m *Memo, src generators.Sources) (generators.Tree, map[string][]generators.Object, error) {
	tree := generators.Tree{}
	objsOf := map[string][]generators.Object{}
	kinds := ManagedKinds()
	firstOnCluster := map[string]bool{}
	for _, env := range ws.Envs {
		jobs, trainJobs := jobsIn(env.Name)
		in := platform.Input{Platform: ws.Platform, Env: env, Jobs: jobs, TrainJobs: trainJobs, Kinds: kinds, ServingMax: rules.ServingMax(uses, env.Name)}
		// Each object is annotated as it is made: those the memo keeps
		// are shared, and annotated once.
		in.Finish = func(o generators.Object) { argocd.Annotate([]generators.Object{o}) }
		if m != nil {
			in.Memo = m.policies
		}
		if !firstOnCluster[env.Cluster.Server] {
			firstOnCluster[env.Cluster.Server] = true
			in.ClusterScoped = true
		}
		objs, err := platform.GuardRails(in)
		if err != nil {
			return nil, nil, err
		}
		folder := generators.Sources{}
		t, err := m.plain(m.railsBase(ws.Platform, env, kinds, in.ServingMax), objs, folder)
		if err != nil {
			return nil, nil, err
		}
		tree.Add(layout.PlatformDir(env.Name), t)
		src.Add(layout.PlatformDir(env.Name), folder)
		objsOf[layout.PlatformDir(env.Name)] = objs
	}
	if api := ws.Platform.API; api != nil {
		repos := map[string]string{}
		for name, r := range ws.Platform.Repos {
			repos[name] = r.URL
		}
		// The server reads live status in Argo CD's namespace and in the
		// team namespaces of the environments on its own cluster.
		var teamNS []string
		for _, env := range ws.Envs {
			if env.Cluster.Server == argocd.InClusterServer {
				for _, ns := range env.Namespaces {
					teamNS = append(teamNS, ns)
				}
			}
		}
		cfg := apiserver.Config{
			Platform: ws.Platform.Name, Namespace: api.Namespace, Image: api.Image,
			Replicas: int32(api.Replicas), Repos: repos,
			ArgoCDNamespace: ws.Platform.ArgoCD.Namespace, TeamNamespaces: teamNS,
			Prometheus: api.Prometheus,
		}
		if a := ws.Platform.Auth; a != nil {
			cfg.Auth = true
			cfg.TokenReview = len(a.ServiceAccounts) > 0
		}
		if rc := ws.Platform.ArgoCD.Refresh; rc != nil {
			cfg.RefreshAnnotation = rc.Annotation
			if rc.Webhook != nil {
				cfg.WebhookSecretEnv = rc.Webhook.SecretEnv
			}
		}
		objs, err := apiserver.Generate(cfg)
		if err != nil {
			return nil, nil, err
		}
		t, err := kustomize.Plain(objs)
		if err != nil {
			return nil, nil, err
		}
		tree.Add(layout.APIServerDir, t)
		objsOf[layout.APIServerDir] = objs
	}
	return tree, objsOf, nil
}

// RenderPlatform returns the rendered objects of the platform folder dir
// (layout.PlatformDir(env) or layout.APIServerDir): byte for byte what kustomize builds
// from the folder of Platform, computed without kustomize
// (kustomize.BuildPlain). ok is false when res has no such folder.
func (r *Result) RenderPlatform(dir string) (out []byte, ok bool, err error) {
	objs, ok := r.PlatformObjects[dir]
	if !ok {
		return nil, false, nil
	}
	out, err = kustomize.BuildPlain(objs)
	if err != nil {
		return nil, true, fmt.Errorf("render %s: %w", dir, err)
	}
	return out, true, nil
}

// Components renders the workspace charts of the platform components
// in-process and generates the kubeflow-config tree, with Knative's
// config-features set to features. A chart that does not render is a
// finding on its component. It returns nil without components.
func Components(ws *spec.Workspace, features map[string]string, tfjobs bool) (*components.Output, error) {
	p := ws.Platform
	if len(p.Components) == 0 {
		return nil, nil
	}
	rendered := map[string][]*unstructured.Unstructured{}
	var diags diag.List
	for _, name := range slices.Sorted(maps.Keys(p.Components)) {
		c := p.Components[name]
		if c.Chart == nil {
			continue
		}
		at := "components." + name + ".chart"
		pos, _ := ws.PlatformProv.Lookup(at)
		files, ok := ws.Charts[name]
		if !ok {
			diags.Add(pos, at, "chart %s was not loaded", c.Chart.Path)
			continue
		}
		ch, err := helmrender.Load(files)
		if err != nil {
			diags.Add(pos, at, "%v", err)
			continue
		}
		release := c.Chart.Release
		if release == "" {
			release = name
		}
		values, err := components.Values(name, c, tfjobs)
		if err != nil {
			diags.Add(pos, at, "%v", err)
			continue
		}
		objs, err := helmrender.Render(ch, helmrender.Options{Release: release, Namespace: c.Namespace, Values: values})
		if err != nil {
			diags.Add(pos, at, "%v", err)
			continue
		}
		if len(objs) == 0 {
			diags.Add(pos, at, "chart %s renders no objects with these values, so the component's Application would have nothing to sync; check its values, or remove the component", c.Chart.Path)
			continue
		}
		rendered[name] = objs
	}
	if err := diags.Err(); err != nil {
		return nil, err
	}
	repo := p.Repos[layout.RepoKubeflowConfig]
	return components.Generate(components.Input{
		Platform: p, Envs: ws.Envs,
		Repo:     argocd.Source{RepoURL: repo.URL, Branch: repo.Branch, Path: repo.Path},
		Rendered: rendered, Features: features, TFJobsUnderKueue: tfjobs,
	})
}

// tfjobsUnderKueue reports whether some app runs a TFJob in an environment
// whose scheduler is Kueue, which then needs Kueue's TFJob integration.
func tfjobsUnderKueue(ws *spec.Workspace, apps []Kept) bool {
	for _, env := range ws.Envs {
		if env.Scheduler != spec.SchedulerKueue {
			continue
		}
		for _, a := range apps {
			if _, ok := a.Jobs[env.Name]; ok {
				return true
			}
		}
	}
	return false
}

// ManagedKinds are the kinds dmls manages in team namespaces, the ones the
// team AppProjects may sync; the teams' Roles grant edit rights on them.
func ManagedKinds() []platform.ManagedKind {
	var out []platform.ManagedKind
	for _, gk := range argocd.TeamKinds() {
		out = append(out, platform.ManagedKind{GroupKind: gk, Resource: platform.Resource(gk.Kind)})
	}
	return out
}

// jobs returns the TFJob names of each team in env, from the specs of
// every app (not only those built), so that the platform tree does not
// depend on which apps a build asked for.
func jobs(ws *spec.Workspace, env string) (tfjobs, trainjobs map[string][]string) {
	tfjobs, trainjobs = map[string][]string{}, map[string][]string{}
	for _, a := range ws.Apps {
		in := a.Instance(env)
		if in == nil || in.Spec.Training == nil {
			continue
		}
		if t := in.Spec.Training; t.IsTrainJob() {
			trainjobs[a.Team] = append(trainjobs[a.Team], spec.JobName(a.Name, t))
		} else {
			tfjobs[a.Team] = append(tfjobs[a.Team], spec.TFJobName(a.Name, t.Run))
		}
	}
	return tfjobs, trainjobs
}

// Infra returns the kops manifests of every cluster of the platform.
func Infra(p *spec.Platform) (generators.Tree, error) {
	tree := generators.Tree{}
	for _, name := range slices.Sorted(maps.Keys(p.Clusters)) {
		t, err := kops.Tree(name, p.Clusters[name])
		if err != nil {
			return nil, err
		}
		tree.Add("", t)
	}
	return tree, nil
}

// Repos returns the tree of every config repo named by the platform, with
// each repo's path prefix applied. Repos dmls writes nothing to yet come
// back empty, so that publishing clears what dmls once wrote there.
func (r *Result) Repos(p *spec.Platform) map[string]generators.Tree {
	repos := map[string]generators.Tree{}
	for name := range p.Repos {
		repos[name] = generators.Tree{}
	}
	// One allocation for the k8s-config tree (a file per app and
	// environment several times over), not one per doubling.
	n := len(r.Platform) + len(r.ArgoCD)
	for _, a := range r.Apps {
		n += len(a.Tree)
	}
	k8s := repos[layout.RepoK8sConfig]
	if k8s != nil {
		k8s = make(generators.Tree, n)
		repos[layout.RepoK8sConfig] = k8s
	}
	prefix := p.Repos[layout.RepoK8sConfig].Path
	for _, a := range r.Apps {
		k8s.Add(prefix, a.Tree)
	}
	k8s.Add(prefix, r.Platform)
	k8s.Add(prefix, r.ArgoCD)
	if r.Catalog != nil {
		if docs, ok := p.Repos[RepoDocs]; ok {
			repos[RepoDocs] = generators.Tree{}
			repos[RepoDocs].Add(docs.Path, r.Catalog)
		}
	} else {
		// Without a catalog (dmls serve builds none), the docs repo is
		// left alone rather than cleared.
		delete(repos, RepoDocs)
	}
	if kf, ok := repos[layout.RepoKubeflowConfig]; ok {
		kf.Add(p.Repos[layout.RepoKubeflowConfig].Path, r.Kubeflow)
	}
	if infra, ok := repos[layout.RepoInfra]; ok {
		infra.Add(p.Repos[layout.RepoInfra].Path, r.Infra)
	}
	return repos
}

// RepoDocs is the repo of the model catalog (see generators/catalog).
const RepoDocs = "docs"
