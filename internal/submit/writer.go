// Package submit changes ml-model for the API server: one writer commits
// queued changes in batches (plan, quotas, Idempotency-Key replays,
// compare-and-swap commits) and a publisher publishes the config and
// answers them, and a dry run plans a change without committing it. The
// server passes its dependencies in (Config); submit knows nothing of
// HTTP routes.
//
// # Pipeline
//
// A batch goes through three stages, each overlapping the next batch's:
//
//  1. The writer plans it: applies its jobs to the workspace, checks
//     every app that changed and the whole result (plan).
//  2. Its ml-model commit, a compare-and-swap on the commit it was
//     planned on, is pushed in the background (a flight). Meanwhile the
//     writer plans the next batch on the workspace this one leaves (its
//     checked snapshot, of no commit yet), with the next changes queued.
//     When the push lands, that plan is kept and its own push starts on
//     the new commit; planning and pushing take turns rather than one
//     waiting for the other.
//  3. The publisher publishes the config and answers the batch's jobs,
//     while the writer goes on.
//
// Exactly-once holds as before: only the writer commits, one push at a
// time, each on the commit its batch was planned on, and a batch is
// released to the publisher by its own push, before the next push
// starts, so the releases keep the commits' order. A batch that loses
// the race to another writer (its push is refused) is planned again on a
// fresh read, and so is the batch that was planned on top of it, and no
// other: batches already landed stay, and at most one batch is planned
// on one in flight. A batch whose speculative plan replayed an
// Idempotency-Key's first answer is planned again once the push below it
// lands, since that answer's views name the commits of the snapshot it
// was planned on. dmls_api_speculative_plans_total{outcome} counts the
// plans kept and planned again.
//
// The releases that queue while a publish runs are published once, from
// the newest commit, which holds the others. A job is answered once its
// config is in k8s-config and kubeflow-config (or their publish failed,
// with a warning); the model catalog goes to the docs repo after the
// answers, since it deploys nothing (at 10 apps its push was a sixth of a
// batch's time, and in a closed loop the clients waited for it). While a
// publish runs, a batch smaller than the last one waits for it (its
// answers bring the clients back): with 25 clients in a loop the batches
// otherwise shrank and each paid a batch's fixed cost; a batch as large
// as the last, when the queue is deep, goes ahead during the publish.
//
// # What a batch costs
//
// BenchmarkBatchCPU (internal/api) measures the CPU of a batch of 25 new
// apps at 10 and at 1,000 apps, and writes its profile. What the profiles
// taught (issue 25):
//
//   - Every load and build of a batch runs over the whole workspace,
//     through digest caches, so the work that grows with the workspace is
//     what is done for every app although it did not change: the guard
//     rails' NetworkPolicy of every job, made with the unstructured
//     converter (now kept by platform.Input.Memo), each app's quota uses
//     (rules.QuotaUses keeps them by digest), the hashing of every file of
//     the trees to find its memoised check (build.Memo keeps the key while
//     the file is the same slice), the Kustomizations that list every file
//     (parsed for checks that never apply to them), a position looked up
//     for every owner of every object (only a reported one needs it), and
//     the catalog's replacer built for every app. Each cost a few percent;
//     together they were a third of a batch at 1,000 apps.
//   - The garbage collector is the largest single cost, close to a third
//     of the CPU at 10 apps and two fifths at 1,000, where the live heap
//     (every app's built objects and trees, kept for the next batch) is
//     marked again on every cycle: allocating less per batch is what cuts
//     it. GOGC=200 took a fifth off a batch's CPU at 10 apps and a tenth
//     at 1,000, for more memory: the deployment's choice.
//   - What is left that grows with the workspace is linear with small
//     constants: the maps of the trees, the loader's cross-app checks
//     (owners, quotas), the Kustomizations and the git trees of folders
//     that hold an entry per app, and the marking of the live heap.
//   - Per submission, at 10 apps, the CPU goes to the collector, the
//     admission checks of the generated objects (build.BuildApp), the CUE
//     evaluation of the app, the checks of its Argo CD Applications, and
//     the pushes; the embedded schemas are compiled once per loader worker
//     for the server's life (schema.AcquireEvaluator), not for every load.
//
// Round two (issue 25, section 1). BenchmarkBatchCPU, 25 new training
// jobs per batch, CPU of the server's process per iteration (a batch and
// a rejected retrain; -benchtime 8x), before and after side by side on
// the shared 2-core machine (load average 5 to 11, so ±10%): 10 apps
// 200-230 ms before, 151-198 ms after; 1,000 apps 424-465 ms before,
// 236-314 ms after (the last runs, at load 5: 200 and 424 before, 151 and
// 236 after). The allocations of an iteration, which the collector's
// work follows: 10 apps 59 MB before, 37 MB after; 1,000 apps 133 MB
// before, 61 MB after. In the CPU profiles of 8 iterations, what 1,000
// apps cost more than 10 went from 1.81 s to 0.68 s: the collector's
// mark workers 0.88 s to 0.24 s, the load of a batch 0.18 s to 0.12 s,
// the config pushes 0.28 s to 0.17 s, the catalog 0.13 s to 0.06 s, the
// whole-workspace trees 0.15 s to 0.12 s.
// The difference of the two profiles (1,000 apps less 10) showed what
// still grew with the workspace, and each went:
//
//   - The load of every batch: the platform and the environments were
//     evaluated again (CUE) and every app folder read and hashed to find
//     its cached app. workspace.Kept keeps a load's platform,
//     environments and valid apps, and specrepo reloads each snapshot from
//     the one whose files it changes (workspace.Kept.Reload: only the
//     changed folders are loaded). The checks across apps still run over
//     every app, from kept per-app parts: each app's owner claims are kept
//     by its digest (the owners' map holds where each owner is, not the
//     owner), and the quota check sums each group with each
//     distinct amount parsed once and describes the largest users only of
//     a group over its quota (it parsed, sorted and formatted every use of
//     every group, and copied every app's uses, on every load).
//     TestReloadIsLoad holds a reload to a load, and
//     TestCrossAppChecksAt1000Apps the checks' verdicts through the API.
//   - The catalog's last changes walked ml-model's whole history on every
//     publish (gitops.CommitGraph.LastChanges now builds on its last
//     answer, reading only the new commits, and a commit the server made
//     is not diffed: CommitGraph.Touched takes the paths it changed), and
//     its pages were copied into every tree (catalog.Memo keeps the
//     bytes).
//   - Git: a push decoded the folders that hold an entry per app three
//     times (the editor's load, the walk of new trees against old, the
//     managed paths' subtrees, once per changed app); a publish now
//     decodes each tree once, and the next publish starts from the trees
//     the last one wrote.
//   - Kustomizations that list a file per job or per Application were
//     encoded whole on every batch (kustomize.PlainKustomization keeps
//     each line); build.App.Kept is made once per built app; only the
//     Kueue services' quota uses are gathered for the guard rails;
//     build.Workspace takes the cached apps without a goroutine each.
//
// What is left that grows with the workspace, at 1,000 apps: the
// collector (about a quarter of the CPU: the heap holds every app's built
// objects and trees, and a batch still allocates the maps of the whole
// trees), the whole-workspace trees (the Argo CD tree and the guard
// rails go over every app, each from its memo; the kustomizations that
// list every app are checked again when they change, which they do in
// every batch that adds an app), the config pushes (the trees of the
// folders with an entry per app are encoded and compressed again), and
// the cross-app checks' maps. Per submission, the evaluation and
// generation of the changed apps (CUE, the admission checks) and the
// checks of their new Argo CD Applications and NetworkPolicies are most
// of the rest.
//
// Round three (issue 25, session 10): the time of a batch, not its CPU.
// With 25 clients in a closed loop, a batch's plan, its ml-model commit
// and its config publish run one after another, each client waiting for
// its answer, so what a cycle waits for is the throughput. Timed per
// stage (idle, 24 jobs a batch), a cycle at 10 apps was 160 ms: the
// plan 40, the ml-model push 30-50, the config push 35, the docs push 28;
// at 1,000 apps 200 ms, with the config push at 62-112. Three of those
// waits were not the change's:
//
//   - The model catalog went to docs before the answers, though it
//     deploys nothing: the answers now go once the config repos are in
//     (publish.ReleaseOptions.Deployed), and the docs push overlaps the
//     next batch's plan.
//   - Every push made three requests, each a process of the git server:
//     the fetch's advertisement (the lease), the push's advertisement
//     (its capabilities and the lease again) and the push.
//     gitops.Repo now pushes on the tip it knows, with receive-pack's
//     atomic check of the old value as the lease, and keeps the
//     capabilities: one request per push, and a lost race costs one
//     refused push more.
//   - The Applications that Argo CD is told of were read (10 ms a batch
//     at 1,000 apps) before the answers; they are read in the background.
//
// What is left of a cycle is mostly git's: the ml-model push of a batch
// is 51 objects, which receive-pack writes as loose objects, one file
// each (below its unpackLimit of 100), and that took 47-54 ms of this
// machine's file system at 10 and at 1,000 apps; the config push (334
// objects, kept as a pack) took 17 ms at 10 apps and 31 at 1,000, where
// the trees of the folders with an entry per app make its pack 311 KB
// rather than 121. A git server that keeps every push as a pack
// (receive.unpackLimit=1) took the ml-model push to 13 ms and 10 apps to
// 198 req/s in the same benchmark: a server's setting, not dmls's.
//
// Round four (issue 25, session 12): pipelined batches. A batch is now
// planned while the push of the one before is in flight, when it is as
// large as the last. In these benchmarks that happened once a run: on 2
// busy cores, planning every batch on the push in flight made smaller
// batches (27-28 commits of 1,000 submissions rather than 17) and fewer
// a second, so a smaller batch waits, as for a publish. Two requests to
// ml-model a batch went instead:
//   - the read before planning, when the last push landed (its commit
//     is the tip the writer knows, and the next push's compare-and-swap
//     says if it is not; a batch that commits nothing reads ml-model
//     then, since no compare-and-swap checks its answers);
//   - the catalog's fetch of the commit the server had just pushed
//     (gitops.CommitGraph.Extend adds it from the pushing repo's memory).
//
// With a deep queue (1,000 submissions from 100 clients), throughput went
// from 239 to 251 req/s at 10 apps and from 182 to 193 at 1,000; against
// a git server 50 ms away, from 148 to 172 and from 127 to 136 (idle,
// medians of 3; docs/performance.md, round six). A cap of 64 changes a
// batch then left 36 of the 100 clients' changes for the next batch,
// which waited for the publish as a smaller one does: a group commit now
// takes every queued change (api.DefaultMaxBatch is the queue's size),
// 12 commits of 1,000 rather than 17, and 267 and 225 req/s with p99
// under 1 s (210.9 and 178 at 50 ms).
package submit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/dynamic"

	"github.com/dmls-project/dmls/generators/catalog"
	"github.com/dmls-project/dmls/internal/apiclient"
	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/gitops"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/internal/publish"
	"github.com/dmls-project/dmls/internal/rules"
	"github.com/dmls-project/dmls/internal/specops"
	"github.com/dmls-project/dmls/internal/specrepo"
)

// TrailerActor names the trailer that says who made each change of a
// commit: one group commit can hold several users' changes.
const TrailerActor = "Dmls-Actor"

// maxCommitAttempts bounds how often a batch is re-applied after other
// writers changed ml-model first.
const maxCommitAttempts = 10

// batchTimeout bounds the git work of one batch.
const batchTimeout = 5 * time.Minute

// Job is one change waiting for the writer.
type Job struct {
	ID    string
	Actor string
	// ActorID describes the actor in the commit's Dmls-Actor trailer:
	// a user's subject and email, never a token.
	ActorID string
	Team    string
	Op      specops.Operation
	// IdemKey and IdemFP are the job's Idempotency-Key (a
	// specrepo.KeyHash) and request fingerprint, or "".
	IdemKey, IdemFP string
	// done receives the outcome exactly once; it is buffered, so the
	// writer never waits for the handler.
	done chan *Outcome
}

// Outcome is what became of a job.
type Outcome struct {
	Err    *Error
	Result *apiclient.Result
	// Replayed: the change was committed before, by this server before a
	// restart or by another replica, and Result is that first answer.
	Replayed bool
}

// Metrics are the writer's Prometheus metrics.
type Metrics struct {
	// Commits counts commits by repo and result: committed, unchanged
	// or failed.
	Commits *prometheus.CounterVec
	// Races counts batches re-applied because another writer changed
	// ml-model first.
	Races prometheus.Counter
	// Speculation counts the batches planned on the workspace of a batch
	// whose commit was still being pushed, by outcome: "kept" when that
	// commit landed, "replanned" when it did not and the batch was
	// planned again. Nil counts nothing.
	Speculation *prometheus.CounterVec
	// QueueDepth is the changes waiting, BatchSize the changes per batch.
	QueueDepth prometheus.Gauge
	BatchSize  prometheus.Histogram
}

// Config is what the writer needs from the server that runs it: values and
// functions given at construction, so that it holds no pointer back.
type Config struct {
	// Repo is ml-model; it keeps the config repos too.
	Repo *specrepo.Repo
	// QueueSize bounds the changes waiting (Enqueue refuses beyond), and
	// MaxBatch the changes in one group commit.
	QueueSize, MaxBatch int
	// ReconcileInterval is how often an idle writer checks that the
	// config repos hold what ml-model's tip generates.
	ReconcileInterval time.Duration
	// IdempotencyTTL is how far back ml-model's history is searched for
	// an Idempotency-Key.
	IdempotencyTTL time.Duration
	// Auth and Author are the config repos' credentials and the commits'
	// author.
	Auth   gitops.Auth
	Author gitops.Signature
	Log    *slog.Logger
	// ArgoCD reaches Argo CD's cluster, for argocd.refresh.annotation;
	// nil makes the annotation a warning.
	ArgoCD  dynamic.Interface
	Metrics Metrics
	// CheckTeams checks, at startup, that the platform holds the teams of
	// the server's tokens; an error stops the writer and goes to Fatal.
	CheckTeams func(teams []string) error
	Fatal      func(error)
	// Ready is called once the workspace was read at startup.
	Ready func()
	// Observe learns how each git operation on a config repo went (nil:
	// it worked).
	Observe func(repo string, err error)
	// View sets the views of the app e of sn on res (TrainingJob,
	// ModelService), as section asks: "training", "serving" or "" for
	// both.
	View func(sn *specrepo.Snapshot, e *specrepo.Entry, section string, res *apiclient.Result)
	// BeforeBatch, when set, runs before each batch (a test seam), and
	// BeforeCommit before each ml-model commit of a batch: attempt 1, and
	// one more for each time the batch is planned again after a lost
	// race (or a failed push planned without a read). BeforePublish runs
	// before each config publish of the publisher, with the batches it
	// answers. AfterPlan runs after each plan of a batch, with whether it
	// was planned on a batch whose commit was still being pushed.
	BeforeBatch   func(jobs int)
	BeforeCommit  func(jobs, attempt int)
	BeforePublish func(batches int)
	AfterPlan     func(jobs int, speculative bool)
}

// Writer is the single goroutine that changes ml-model. It drains the
// queue in batches of up to MaxBatch jobs, applies them in order to one
// in-memory workspace, makes one ml-model commit and one config publish
// per batch, and answers each job on its own.
type Writer struct {
	cfg   Config
	repo  *specrepo.Repo
	queue chan *Job
	stop  chan struct{}
	done  chan struct{}
	start sync.Once
	halt  sync.Once

	// configSource is the ml-model commit the config repos were last
	// published from by this writer. Only the publisher goroutine uses
	// it, once the writer started (before: startup, on the writer's).
	configSource string
	// releases are the publishes the publisher owes (release), in the
	// order the writer made them; pubWake tells it there are some, and
	// pubDone is closed when it has stopped (after closeReleases).
	// pubBusy is set while the publisher publishes, and pubIdle tells
	// the writer when it stopped.
	pubMu     sync.Mutex
	releases  []*release
	pubClosed bool
	pubBusy   bool
	pubWake   chan struct{}
	pubIdle   chan struct{}
	pubDone   chan struct{}
	// lastBatch is the size of the last batch.
	lastBatch int
	// flight is the batch whose ml-model commit is being pushed, or nil;
	// landed is the snapshot of this writer's last push that landed, and
	// landedAt when it landed, until the next batch plans on it or a
	// reconcile reads ml-model. Only the writer goroutine reads or sets
	// them.
	flight   *flight
	landed   *specrepo.Snapshot
	landedAt time.Time
	// pages keeps the catalog's app pages between publishes.
	pages *catalog.Memo
	// refreshApps reads the Applications to refresh from the Argo CD tree.
	refreshApps refreshApps
}

// New returns a writer that is not running yet (Start).
func New(cfg Config) *Writer {
	return &Writer{cfg: cfg, repo: cfg.Repo, queue: make(chan *Job, cfg.QueueSize), stop: make(chan struct{}), done: make(chan struct{}),
		pages: catalog.NewMemo(specrepo.CacheApps), pubWake: make(chan struct{}, 1), pubIdle: make(chan struct{}, 1), pubDone: make(chan struct{})}
}

// Start runs the writer in a goroutine of its own: it reads the
// workspace, publishes the config if it is behind, calls Config.Ready,
// and then commits changes.
func (w *Writer) Start() { w.start.Do(func() { go w.run() }) }

// Shutdown stops the writer once it has finished every queued job (all
// of them get their answers), and waits for that or for ctx.
func (w *Writer) Shutdown(ctx context.Context) error {
	w.start.Do(func() { close(w.done) }) // never started: nothing to finish
	w.halt.Do(func() { close(w.stop) })
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Enqueue hands j to the writer and returns where its outcome will come,
// once; false when the queue is full.
func (w *Writer) Enqueue(j *Job) (<-chan *Outcome, bool) {
	j.done = make(chan *Outcome, 1)
	select {
	case w.queue <- j:
	default:
		return nil, false
	}
	w.cfg.Metrics.QueueDepth.Set(float64(len(w.queue)))
	return j.done, true
}

// QueueLen is how many jobs wait.
func (w *Writer) QueueLen() int { return len(w.queue) }

// observe tells Config.Observe how a git operation went.
func (w *Writer) observe(repo string, err error) {
	if w.cfg.Observe != nil {
		w.cfg.Observe(repo, err)
	}
}

// linger bounds how long a batch waits for the clients of the last one.
const linger = 5 * time.Millisecond

func (w *Writer) log() *slog.Logger { return w.cfg.Log }

// run is the writer's loop. It reads ml-model until it succeeds, then
// serves batches; when idle it reconciles the config repos every
// ReconcileInterval, and once the queue empties after a change. After
// stop it finishes every queued job and returns.
func (w *Writer) run() {
	defer close(w.done)
	if !w.startup() {
		// No publisher runs: the drained jobs are released at once.
		w.closeReleases()
		close(w.pubDone)
		w.drain()
		return
	}
	go w.publisher()
	// The publisher finishes the releases of the drained jobs first.
	defer func() {
		w.closeReleases()
		<-w.pubDone
	}()
	tick := time.NewTicker(w.cfg.ReconcileInterval)
	defer tick.Stop()
	changed := false
	for {
		select {
		case j := <-w.queue:
			w.batch(j)
			changed = true
			continue
		default:
		}
		// A reconcile reads and publishes the tip, so it waits for the
		// batch in flight: its release would otherwise come after the
		// flight's, from an older commit.
		if changed && w.flight == nil {
			w.reconcile()
			changed = false
		}
		select {
		case j := <-w.queue:
			w.batch(j)
			changed = true
		case <-w.flightDone():
			w.land()
			changed = true
		case <-tick.C:
			if w.flight == nil {
				w.reconcile()
			}
		case <-w.stop:
			w.drain()
			return
		}
	}
}

// drain finishes the jobs left in the queue and the batch in flight
// (their answers come from the publisher, or at once when it never ran).
func (w *Writer) drain() {
	for {
		select {
		case j := <-w.queue:
			w.batch(j)
			continue
		default:
		}
		if w.flight == nil {
			return
		}
		<-w.flightDone()
		w.land()
	}
}

// startup reads ml-model until it succeeds (or stop), publishes the
// config if it is behind (a failure is logged and retried later), and
// marks the server ready.
func (w *Writer) startup() bool {
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
		sn, err := w.repo.Read(ctx)
		cancel()
		if err == nil && sn.Platform() != nil {
			teams := slices.Sorted(maps.Keys(sn.Platform().Teams))
			if err := w.cfg.CheckTeams(teams); err != nil {
				w.log().Error("refusing to start", "error", err)
				w.cfg.Fatal(err)
				return false
			}
		}
		if err == nil {
			w.log().Info("workspace read", "commit", sn.SHA, "apps", len(sn.ByName))
			w.ensureConfig(sn, nil)
			w.cfg.Ready()
			return true
		}
		w.log().Error("cannot read the workspace; retrying", "error", err)
		t := time.NewTimer(min(time.Second<<min(attempt, 5), 30*time.Second))
		select {
		case <-w.stop:
			t.Stop()
			return false
		case <-t.C:
		}
	}
}

// reconcile publishes the config from the tip of ml-model if another
// writer moved it since this server last published: of several replicas,
// the one that publishes last then publishes the newest specs.
func (w *Writer) reconcile() {
	defer func() {
		if r := recover(); r != nil {
			w.log().Error("panic in reconcile", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	w.landed = nil
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	sn, err := w.repo.Read(ctx)
	if err != nil {
		w.log().Error("reconcile: cannot read the workspace", "error", err)
		return
	}
	w.release(&release{after: sn})
}

// ensureConfig publishes the config repos from sn unless this server
// already did; deployed, when not nil, is told once (publishConfig).
func (w *Writer) ensureConfig(sn *specrepo.Snapshot, deployed func(commits []apiclient.Commit, warning string)) {
	if sn.SHA == w.configSource {
		if deployed != nil {
			deployed(nil, "")
		}
		return
	}
	w.publishConfig(sn, deployed)
}

// publishConfig generates the config of every app in sn and publishes it,
// as dmls publish does. A failure is a warning: the spec change is in
// ml-model already, and the next batch or reconcile publishes again.
//
// k8s-config and kubeflow-config are pushed at once, while the model
// catalog is made; the docs repo follows when they are in (the catalog
// describes what they deploy). deployed, when not nil, is told exactly
// once, as soon as the config repos are in or could not be: their
// commits and the warning of their failure. The batch's jobs are answered
// then, and Argo CD told: the catalog deploys nothing, so the docs push is
// not part of a submission's latency. Its failure is logged and counted,
// and the next publish, from the next batch or reconcile, makes it again.
func (w *Writer) publishConfig(sn *specrepo.Snapshot, deployed func(commits []apiclient.Commit, warning string)) {
	told := false
	tell := func(commits []apiclient.Commit, warning string) {
		if !told && deployed != nil {
			told = true
			deployed(commits, warning)
		}
	}
	defer func() {
		if r := recover(); r != nil {
			w.log().Error("panic while publishing the config", "commit", sn.SHA, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			tell(nil, "config not published: internal error; it will be retried")
		}
	}()
	res, ws, err := sn.Build()
	if err != nil {
		w.log().Error("config not published: the workspace has errors", "commit", sn.SHA, "error", firstLine(err.Error()))
		tell(nil, "config not published: the workspace in ml-model has errors: "+firstLine(err.Error()))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	p := ws.Platform
	opts := publish.Options{
		URLs:         w.repo.PlatformURLs(p),
		Auth:         w.cfg.Auth,
		Author:       w.cfg.Author,
		SourceCommit: sn.SHA,
		// Submissions change apps, which live in k8s-config, and may
		// change the Knative config-features in kubeflow-config (they
		// follow the generated services); the infra repo follows only
		// platform.cue and dmls publish.
		Repos:    []string{layout.RepoK8sConfig, layout.RepoKubeflowConfig},
		Keep:     w.repo.ConfigRepos(),
		Parallel: true,
	}
	// The model catalog in docs follows the apps; it is made while the
	// other repos are pushed.
	results, err := publish.Release(ctx, p, res, publish.ReleaseOptions{
		Options: opts,
		History: func(ctx context.Context, use func(*gitops.CommitGraph)) bool { return w.history(ctx, sn, use) },
		Prefix:  w.repo.Prefix(),
		Pages:   w.pages,
		Deployed: func(results []publish.Result, err error) {
			if err == nil {
				w.notifyArgoCD(p, res, results)
			}
			var commits []apiclient.Commit
			for _, r := range results {
				if r.Commit != "" {
					commits = append(commits, apiclient.Commit{Repo: r.Name, SHA: r.Commit})
				}
			}
			warning := ""
			if err != nil {
				warning = "config publish failed and will be retried: " + err.Error()
			}
			tell(commits, warning)
		},
		Warn: w.log().Error,
	})
	for _, r := range results {
		w.observe(r.Name, nil)
		result := "unchanged"
		if r.Changed {
			result = "committed"
		}
		w.cfg.Metrics.Commits.WithLabelValues(r.Name, result).Inc()
	}
	if err != nil {
		var ge *gitops.Error
		if errors.As(err, &ge) {
			w.observe(ge.Repo, err)
		}
		w.cfg.Metrics.Commits.WithLabelValues("config", "failed").Inc()
		w.log().Error("config publish failed; it will be retried", "commit", sn.SHA, "error", err)
		return
	}
	w.configSource = sn.SHA
}

// history calls use with ml-model's history up to sn, for the catalog's
// last changes (publish.Release), and reports whether it could: when that
// history cannot be read, the docs repo is left alone until the next
// publish.
func (w *Writer) history(ctx context.Context, sn *specrepo.Snapshot, use func(*gitops.CommitGraph)) bool {
	h := w.repo.History()
	found := false
	err := h.Graph(ctx, h.MLModel(), sn.SHA, func(g *gitops.CommitGraph) {
		if at := g.At(sn.SHA); at != nil {
			use(at)
			found = true
		}
	})
	switch {
	case err != nil:
		w.log().Warn("catalog not published: cannot read the history of ml-model", "error", err)
	case !found:
		w.log().Warn("catalog not published: ml-model's history does not hold the commit", "commit", sn.SHA)
	}
	return found
}

// batch collects up to MaxBatch queued jobs after first and processes them.
func (w *Writer) batch(first *Job) {
	jobs := []*Job{first}
collect:
	for len(jobs) < w.cfg.MaxBatch {
		select {
		case j := <-w.queue:
			jobs = append(jobs, j)
		default:
			break collect
		}
	}
	// The size of a group commit follows the load. While a publish runs,
	// a batch smaller than the last one waits for it to end: its answers
	// bring its clients back for this batch, which would otherwise pay a
	// whole batch's cost (plan, commit, and its share of a publish) for a
	// few changes (the round before pipelining, that made 45 commits of
	// 500 submissions rather than 35, and was slower). It waits as well
	// for the push in flight to land, rather than being planned on it:
	// planned at once, the batches shrank to what arrived during one push
	// (24 commits of 1,000 submissions from 100 clients rather than 17,
	// and fewer a second, on 2 busy cores). A batch that has as many
	// changes as the last one, as when the queue is deep, does not wait:
	// it is planned during the push and committed during the publish.
	want := min(w.lastBatch, w.cfg.MaxBatch)
	for len(jobs) < want && (w.publishing() || w.flight != nil) {
		select {
		case j := <-w.queue:
			jobs = append(jobs, j)
		case <-w.pubIdle:
		case <-w.flightDone():
			w.land()
		}
	}
	// Clients answered together by the last batch come back together, a
	// few milliseconds apart: wait briefly for as many as it had, so that
	// they make one commit rather than two.
	if len(jobs) < want {
		t := time.NewTimer(linger)
	wait:
		for len(jobs) < want {
			select {
			case j := <-w.queue:
				jobs = append(jobs, j)
			case <-t.C:
				break wait
			}
		}
		t.Stop()
	}
	w.lastBatch = len(jobs)
	w.cfg.Metrics.QueueDepth.Set(float64(len(w.queue)))
	w.cfg.Metrics.BatchSize.Observe(float64(len(jobs)))
	if h := w.cfg.BeforeBatch; h != nil {
		h(len(jobs))
	}
	// A panic must not take the server, and the queue, down.
	defer w.recoverJobs(jobs, "committing")
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	w.process(ctx, jobs)
}

// process plans a batch and starts its ml-model commit (launch). While
// the batch before it is still being pushed, it is planned on the
// workspace that batch leaves (its checked snapshot), and committed on
// that batch's commit once it lands; if that commit is refused, the batch
// is planned again on what the batch below became (land). Otherwise it is
// planned on a fresh read of ml-model.
func (w *Writer) process(ctx context.Context, jobs []*Job) {
	w.begin(ctx, jobs, 1)
}

// begin plans jobs and launches their commit as attempt.
func (w *Writer) begin(ctx context.Context, jobs []*Job, attempt int) {
	for {
		if f := w.flight; f != nil {
			// The keys of the batch in flight are indexed when it lands;
			// a second request with one of them waits for the first's
			// answer (the API's idempotency store), and another writer's
			// commit makes the flight's compare-and-swap fail.
			if !w.catchUp(ctx, jobs, f.base.SHA) {
				return
			}
			p := w.plan(f.p.next, jobs)
			if h := w.cfg.AfterPlan; h != nil {
				h(len(jobs), true)
			}
			landed := w.land()
			// A replayed answer's views need the commits of the snapshot
			// it was planned on, which only the landed commit has.
			if landed != nil && !slices.ContainsFunc(p.outcomes, func(o *Outcome) bool { return o != nil && o.Replayed }) {
				w.landed = nil
				w.speculated("kept")
				w.launch(jobs, p, landed, attempt, false)
				return
			}
			// The batch below did not land as planned: plan again on what
			// it became.
			w.speculated("replanned")
			continue
		}
		// The commit of this writer's last push, if it landed just now,
		// is the tip as far as it knows, and the next push's
		// compare-and-swap says if it is not: reading ml-model again
		// would cost the git server a request a batch.
		sn, reused := w.landed, true
		if time.Since(w.landedAt) > tipReuse {
			sn = nil
		}
		w.landed = nil
		for {
			if sn == nil {
				reused = false
				var err error
				if sn, err = w.repo.Read(ctx); err != nil {
					w.failAll(jobs, nil, GitFailure("read ml-model", err))
					return
				}
			}
			if !w.catchUp(ctx, jobs, sn.SHA) {
				return
			}
			p := w.plan(sn, jobs)
			if h := w.cfg.AfterPlan; h != nil {
				h(len(jobs), false)
			}
			if reused && len(p.changes) == 0 {
				// Nothing to commit, so no compare-and-swap tells whether
				// sn is still the tip; the answers (a 404, a 409, no
				// change) must hold for ml-model as it is now, which
				// another writer may have moved: read it.
				fresh, err := w.repo.Read(ctx)
				if err != nil {
					w.failAll(jobs, nil, GitFailure("read ml-model", err))
					return
				}
				if fresh.SHA != sn.SHA {
					sn = fresh
					continue
				}
			}
			w.launch(jobs, p, sn, attempt, reused)
			return
		}
	}
}

// catchUp indexes the Idempotency-Keys of ml-model's history up to tip
// when a job carries one; when that history cannot be read it answers
// every job with the failure and returns false.
func (w *Writer) catchUp(ctx context.Context, jobs []*Job, tip string) bool {
	if !slices.ContainsFunc(jobs, func(j *Job) bool { return j.IdemKey != "" }) {
		return true
	}
	if err := w.repo.History().CatchUp(ctx, tip, w.cfg.IdempotencyTTL); err != nil {
		w.failAll(jobs, nil, GitFailure("read the history of ml-model", err))
		return false
	}
	return true
}

// tipReuse is how long the commit of the writer's last push serves the
// next batch without a read of ml-model.
const tipReuse = time.Second

// speculated counts a batch planned on one in flight.
func (w *Writer) speculated(outcome string) {
	if m := w.cfg.Metrics.Speculation; m != nil {
		m.WithLabelValues(outcome).Inc()
	}
}

// flight is a batch whose ml-model commit is being pushed while the
// writer plans the next one.
type flight struct {
	jobs    []*Job
	p       *plan
	base    *specrepo.Snapshot
	attempt int
	// reused: base is the commit of the writer's last push, not read
	// for this batch.
	reused bool
	// done is closed when the commit returned; next is then its snapshot,
	// or err why it failed (errAnswered: its jobs have their answers).
	done chan struct{}
	next *specrepo.Snapshot
	err  error
}

// errAnswered marks a flight whose jobs were answered by a panic's
// recovery.
var errAnswered = errors.New("answered after a panic")

// flightDone is where the batch in flight says it is done; nil (never
// ready) when there is none.
func (w *Writer) flightDone() <-chan struct{} {
	if w.flight == nil {
		return nil
	}
	return w.flight.done
}

// launch starts the ml-model commit of p, planned on sn, in the
// background as the batch in flight; a plan that changes nothing is
// released at once. The one in flight must have landed.
func (w *Writer) launch(jobs []*Job, p *plan, sn *specrepo.Snapshot, attempt int, reused bool) {
	if len(p.changes) == 0 {
		w.release(&release{jobs: jobs, p: p, before: sn, after: sn})
		return
	}
	f := &flight{jobs: jobs, p: p, base: sn, attempt: attempt, reused: reused, done: make(chan struct{})}
	w.flight = f
	go w.fly(f)
}

// fly commits the batch f to ml-model, a compare-and-swap on f.base, and
// releases it to the publisher when it is in: before the writer launches
// the next commit, so the releases keep the commits' order.
func (w *Writer) fly(f *flight) {
	defer close(f.done)
	defer func() {
		if r := recover(); r != nil {
			f.err = errAnswered
			w.answerPanic(r, f.jobs, "committing")
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	if h := w.cfg.BeforeCommit; h != nil {
		h(len(f.jobs), f.attempt)
	}
	next, err := w.repo.Commit(ctx, f.base, f.p.changes, commitMessage(f.jobs, f.p), trailers(f.jobs, f.p), f.p.next)
	if err != nil {
		f.err = err
		return
	}
	w.cfg.Metrics.Commits.WithLabelValues(layout.RepoMLModel, "committed").Inc()
	f.next = next
	// The config is published, and the jobs answered, while the writer
	// goes on with the next batch on top of this commit.
	w.release(&release{jobs: f.jobs, p: f.p, before: f.base, after: next, commit: next.SHA})
}

// land waits for the batch in flight and returns the snapshot of its
// commit, or nil when the commit failed. A batch that lost the race to
// another writer is planned again, alone, on a fresh read, and is in
// flight again when land returns; after maxCommitAttempts, or any other
// failure, its jobs are answered with the failure.
func (w *Writer) land() *specrepo.Snapshot {
	f := w.flight
	<-f.done
	w.flight = nil
	w.landed = nil
	if f.err == nil {
		w.landed, w.landedAt = f.next, time.Now()
		return f.next
	}
	if errors.Is(f.err, errAnswered) {
		return nil
	}
	race := errors.Is(f.err, gitops.ErrStale) || errors.Is(f.err, gitops.ErrConflict)
	if race && f.attempt < maxCommitAttempts {
		w.cfg.Metrics.Races.Inc()
		w.log().Info("ml-model changed under the batch; re-applying it", "attempt", f.attempt, "jobs", len(f.jobs))
		sleepJitter(f.attempt)
	}
	// A lost race, or a batch planned on the writer's last push without
	// reading ml-model, is planned again on a fresh read: the second does
	// what a batch that read first would (its read fails alike when
	// ml-model is gone or unreachable, with a 503).
	if race && f.attempt < maxCommitAttempts || !race && f.reused {
		func() {
			defer w.recoverJobs(f.jobs, "committing")
			ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
			defer cancel()
			w.begin(ctx, f.jobs, f.attempt+1)
		}()
		return nil
	}
	w.cfg.Metrics.Commits.WithLabelValues(layout.RepoMLModel, "failed").Inc()
	w.log().Error("commit to ml-model failed", "error", f.err, "jobs", len(f.jobs))
	w.failAll(f.jobs, f.p, GitFailure("commit to ml-model", f.err))
	return nil
}

// release is a publish the publisher owes: the config of after, and,
// for a batch, the answers that wait for it.
type release struct {
	jobs          []*Job
	p             *plan
	before, after *specrepo.Snapshot
	// commit is the batch's ml-model commit, "" when it changed nothing.
	commit string
}

// release hands r to the publisher; before the publisher runs (startup
// failed, the jobs are drained) it is done at once.
func (w *Writer) release(r *release) {
	w.pubMu.Lock()
	if w.pubClosed {
		w.pubMu.Unlock()
		w.publish([]*release{r})
		return
	}
	w.releases = append(w.releases, r)
	w.pubMu.Unlock()
	select {
	case w.pubWake <- struct{}{}:
	default:
	}
}

// closeReleases tells the publisher that no release follows.
func (w *Writer) closeReleases() {
	w.pubMu.Lock()
	w.pubClosed = true
	w.pubMu.Unlock()
	select {
	case w.pubWake <- struct{}{}:
	default:
	}
}

// publisher publishes the config and answers the batches, one release
// after another, until closeReleases. The releases that queued while it
// published are done with one publish, from the newest: each ml-model
// commit holds those before it, so a publish of the newest publishes
// them all. The config publish of a batch thus overlaps the planning
// and the ml-model commit of the next, and the publishes group
// themselves by load: the slower they are, the more batches each takes.
func (w *Writer) publisher() {
	defer close(w.pubDone)
	for {
		w.pubMu.Lock()
		rs, closed := w.releases, w.pubClosed
		w.releases = nil
		w.pubBusy = len(rs) > 0
		w.pubMu.Unlock()
		if len(rs) > 0 {
			w.publish(rs)
			continue
		}
		select {
		case w.pubIdle <- struct{}{}:
		default:
		}
		if closed {
			return
		}
		<-w.pubWake
	}
}

// publishing reports whether the publisher has releases to do.
func (w *Writer) publishing() bool {
	w.pubMu.Lock()
	defer w.pubMu.Unlock()
	return w.pubBusy || len(w.releases) > 0
}

// publish publishes the config of the newest of rs unless this server
// did already, and answers the batches of rs with the commits.
func (w *Writer) publish(rs []*release) {
	if h := w.cfg.BeforePublish; h != nil {
		batches := 0
		for _, r := range rs {
			if r.jobs != nil {
				batches++
			}
		}
		h(batches)
	}
	// The batches are answered once the config repos are in, while the
	// catalog goes on to the docs repo.
	w.ensureConfig(rs[len(rs)-1].after, func(cfg []apiclient.Commit, warning string) {
		for _, r := range rs {
			if r.jobs == nil {
				continue
			}
			if r.commit == "" {
				w.safeAnswer(r.jobs, r.p, r.before, r.after, nil, "")
				continue
			}
			w.safeAnswer(r.jobs, r.p, r.before, r.after, append([]apiclient.Commit{{Repo: layout.RepoMLModel, SHA: r.commit}}, cfg...), warning)
		}
	})
}

// safeAnswer is answer; a panic in it answers the jobs not answered yet
// with 500, as a panic in the writer does.
func (w *Writer) safeAnswer(jobs []*Job, p *plan, before, after *specrepo.Snapshot, commits []apiclient.Commit, warning string) {
	defer w.recoverJobs(jobs, "answering")
	w.answer(jobs, p, before, after, commits, warning)
}

// recoverJobs, deferred, recovers from a panic while doing what to jobs
// (answerPanic).
func (w *Writer) recoverJobs(jobs []*Job, what string) {
	if r := recover(); r != nil {
		w.answerPanic(r, jobs, what)
	}
}

// answerPanic logs the panic r and answers the jobs not answered yet
// with 500 (their done channels hold one answer, so the sends cannot
// overwrite one).
func (w *Writer) answerPanic(r any, jobs []*Job, what string) {
	w.log().Error("panic while "+what, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	for _, j := range jobs {
		select {
		case j.done <- &Outcome{Err: Errorf(http.StatusInternalServerError, "internal error while %s; the change may or may not be in git, request id %s", what, j.ID)}:
		default:
		}
	}
}

func sleepJitter(attempt int) {
	d := min(20*time.Millisecond<<min(attempt, 10), time.Second)
	time.Sleep(d/2 + rand.N(d))
}

// GitFailure turns a git error into an answer: 503 when trying again may
// help, 502 when the repo refused (credentials, hooks, a missing repo).
func GitFailure(what string, err error) *Error {
	switch {
	case errors.Is(err, gitops.ErrAuth), errors.Is(err, gitops.ErrRejected), errors.Is(err, gitops.ErrNotFound),
		errors.Is(err, gitops.ErrUnsafeTree), errors.Is(err, gitops.ErrInvalidPath):
		return Errorf(http.StatusBadGateway, "%s failed; nothing was committed: %v", what, err)
	}
	return Unavailable(5, "%s failed; nothing was committed, try again: %v", what, err)
}

// failAll answers every job that the plan accepted (or every job, without
// a plan) with err, and the others with their own outcome.
func (w *Writer) failAll(jobs []*Job, p *plan, err *Error) {
	for i, j := range jobs {
		if p != nil && p.outcomes[i] != nil {
			j.done <- p.outcomes[i]
			continue
		}
		j.done <- &Outcome{Err: err}
	}
}

// answer sends each job its outcome: its rejection, or a Result with the
// commits of the batch when it changed something.
func (w *Writer) answer(jobs []*Job, p *plan, before, after *specrepo.Snapshot, commits []apiclient.Commit, warning string) {
	for i, j := range jobs {
		if o := p.outcomes[i]; o != nil {
			j.done <- o
			continue
		}
		name := j.Op.AppName()
		e := after.EntryByName(name)
		res := &apiclient.Result{
			RequestID: j.ID, Operation: j.Op.Kind(), Team: j.Team, App: name,
			Changed: p.changed[i], Commits: []apiclient.Commit{}, Applications: e.Applications(),
		}
		if e == nil {
			res.Applications = before.EntryByName(name).Applications()
		}
		if p.changed[i] {
			res.Commits = commits
			if warning != "" {
				res.Warnings = []string{warning}
			}
		}
		res.Warnings = append(res.Warnings, appWarnings(j.Op, e)...)
		for _, dir := range after.Broken() {
			how := "keeps its last good config"
			if _, ok := after.LastGood[dir]; !ok {
				how = "has no valid version this server has seen, so the config is not published"
			}
			res.Warnings = append(res.Warnings, fmt.Sprintf("app %s in ml-model does not validate and %s; fix it in git: %s", dir, how, after.Errs[dir][0].String()))
		}
		w.cfg.View(after, e, j.Op.SectionName(), res)
		j.done <- &Outcome{Result: res}
	}
}

// appWarnings are the warnings that validate prints for the app of e (the
// load's, such as a secret-looking literal where policy.secretLiterals is
// "warn", and the generated objects' checks), with the paths of the
// request body, as "warning: path: message [rule]".
func appWarnings(op specops.Operation, e *specrepo.Entry) []string {
	if e == nil || e.App == nil {
		return nil
	}
	var d diag.List
	d = append(d, e.App.Warnings...)
	if e.Built != nil {
		d = append(d, e.Built.Warnings...)
	}
	d.Sort()
	var out []string
	for _, x := range d {
		s := "warning: "
		if p := op.BodyPath(x.Path); p != "" {
			s += p + ": "
		}
		s += x.Message
		if x.Rule != "" {
			s += " [" + x.Rule + "]"
		}
		out = append(out, s)
	}
	return out
}

// plan is a batch applied to one snapshot.
type plan struct {
	// outcomes hold the rejections; nil means accepted.
	outcomes []*Outcome
	changed  []bool
	// changes are the new app.json of each folder that changes, nil for a
	// folder to delete.
	changes map[string][]byte
	// next is the workspace with the changes, loaded and built by
	// checkBatch.
	next *specrepo.Snapshot
}

// plan applies the jobs in order to the documents of sn, checks every app
// that changed as a whole (schemas, cross-field rules, generation and
// Knative's validation), and when an app fails, finds the jobs that broke
// it by applying that app's jobs one at a time: a bad request is rejected
// with its own findings and the others go ahead.
func (w *Writer) plan(sn *specrepo.Snapshot, jobs []*Job) *plan {
	p := &plan{outcomes: make([]*Outcome, len(jobs)), changed: make([]bool, len(jobs)), changes: map[string][]byte{}}
	if sn.Platform() == nil {
		err := workspaceBroken(sn.WorkspaceErrors(nil))
		for i := range jobs {
			p.outcomes[i] = &Outcome{Err: err}
		}
		return p
	}
	c := &specops.Context{}
	for _, e := range sn.Envs() {
		c.Envs = append(c.Envs, e.Name)
	}
	orig := map[string]*specops.Doc{}
	docs := map[string]*specops.Doc{}
	doc := func(name string) (*specops.Doc, error) {
		if d, ok := docs[name]; ok {
			return d, nil
		}
		d, err := sn.Doc(name)
		if err != nil {
			return nil, err
		}
		orig[name], docs[name] = d, d.Clone()
		return docs[name], nil
	}
	for i, j := range jobs {
		if o := w.replay(sn, j); o != nil {
			p.outcomes[i] = o
			continue
		}
		d, err := doc(j.Op.AppName())
		if err != nil {
			p.outcomes[i] = &Outcome{Err: Errorf(http.StatusConflict, "apps/%s/%s cannot be read: %v", j.Op.AppName(), specops.FileName, err)}
			continue
		}
		c.Team = j.Team
		before := d.Clone()
		if err := safeApply(c, j.Op, d); err != nil {
			p.outcomes[i] = &Outcome{Err: err}
			docs[j.Op.AppName()] = before
			continue
		}
		p.changed[i] = !specops.Equal(before.Data, d.Data)
	}

	folders := map[string]map[string][]byte{}
	for name, d := range docs {
		if !specops.Equal(d.Data, orig[name].Data) && d.Data != nil {
			folders[name] = map[string][]byte{specops.FileName: d.Encode()}
		}
	}
	// The workspace as the batch leaves it if every change is accepted:
	// usually all are, and it is then the workspace checkBatch checks and
	// the new commit's snapshot, loaded once.
	all := map[string][]byte{}
	for name, d := range docs {
		if !specops.Equal(d.Data, orig[name].Data) {
			all[name] = nil
			if f, ok := folders[name]; ok {
				all[name] = f[specops.FileName]
			}
		}
	}
	cand := w.repo.WithChanges(sn, all)
	checked := map[string]*specrepo.Entry{}
	for name := range folders {
		e := cand.Dirs[name]
		if e == nil {
			e = &specrepo.Entry{Dir: name}
		}
		// A broken quota is the batch's, not the app's: fitQuotas
		// splits the batch.
		if base := notQuota(cand, cand.Errs[""]); len(base) > 0 {
			c := *e
			c.Diags = append(slices.Clone(e.Diags), base...)
			e = &c
		}
		e = withUpdateErrors(sn.Dirs[name], e)
		checked[name] = e
	}
	for _, name := range slices.Sorted(maps.Keys(folders)) {
		if checked[name].Valid() {
			continue
		}
		cand = nil
		// Find the jobs that broke the app.
		d := orig[name].Clone()
		for i, j := range jobs {
			if j.Op.AppName() != name || p.outcomes[i] != nil {
				continue
			}
			c.Team = j.Team
			before := d.Clone()
			if err := safeApply(c, j.Op, d); err != nil {
				p.outcomes[i] = &Outcome{Err: err}
				d = before
				continue
			}
			p.changed[i] = !specops.Equal(before.Data, d.Data)
			if !p.changed[i] || d.Data == nil {
				continue
			}
			e := withUpdateErrors(sn.Dirs[name], w.repo.Check(sn, map[string]map[string][]byte{name: {specops.FileName: d.Encode()}})[name])
			if !e.Valid() {
				p.outcomes[i] = &Outcome{Err: specErrors(j.Op, e.Diags)}
				p.changed[i] = false
				d = before
			}
		}
		docs[name] = d
	}

	for name, d := range docs {
		if !specops.Equal(d.Data, orig[name].Data) {
			if d.Data == nil {
				p.changes[name] = nil
			} else {
				p.changes[name] = d.Encode()
			}
		}
	}
	if len(p.changes) > 0 && len(sn.Errs[""]) == 0 {
		// A batch that breaks a team quota is split, not refused whole.
		next := cand
		if next == nil {
			next = w.repo.WithChanges(sn, p.changes)
		}
		cand = next
		if len(next.Errs[""]) > 0 && w.fitQuotas(sn, next, p, jobs) {
			cand = nil
		}
	}
	if len(p.changes) > 0 {
		// Findings about the platform or the environments stop every
		// change; a broken app folder stops only its own (issue 8,
		// section 7): its last good config stays published, and without
		// one the config is not published until it is fixed.
		errs := sn.Errs[""]
		if err := w.checkBatch(sn, p, cand); err != nil {
			errs = append(errs, err...)
		}
		if len(errs) > 0 {
			err := workspaceBroken(errs)
			for i := range jobs {
				if p.outcomes[i] == nil && p.changed[i] {
					p.outcomes[i] = &Outcome{Err: err}
				}
			}
			p.changes = map[string][]byte{}
		}
	}
	return p
}

// notQuota returns d without the findings about a team quota of sn's
// platform (rules.QuotaLimits names their paths).
func notQuota(sn *specrepo.Snapshot, d diag.List) diag.List {
	if len(d) == 0 || sn.WS == nil {
		return d
	}
	quota := map[string]bool{}
	for _, l := range rules.QuotaLimits(sn.WS) {
		quota[l.At] = true
	}
	var out diag.List
	for _, x := range d {
		if !quota[x.Path] {
			out = append(out, x)
		}
	}
	return out
}

// fitQuotas splits a batch that breaks a team quota greedily, in arrival
// order: each changed app is accepted if the quotas still hold with it
// and the apps accepted before it, and is otherwise answered 422, naming
// the quota and the app. Concurrent clients at a quota's edge thus get
// what fits, and the others an answer that says why, not a 409 that tells
// them to stop. The jobs of one app stand or fall together, at the place
// of its first job. The rule itself is rules.CheckQuotas, the one the
// loader applies (an environment that queues jobs, with Kueue, would
// change it there). It reports whether it refused anything.
func (w *Writer) fitQuotas(sn, next *specrepo.Snapshot, p *plan, jobs []*Job) bool {
	if sn.WS == nil || next.WS == nil {
		return false
	}
	envs := make([]string, 0, len(sn.WS.Envs))
	for _, e := range sn.WS.Envs {
		envs = append(envs, e.Name)
	}
	limits := rules.QuotaLimits(sn.WS)
	uses := map[string][]rules.QuotaUse{} // app folder → its uses as accepted so far
	for dir, e := range sn.Dirs {
		if e.App != nil {
			uses[dir] = rules.QuotaUses(e.App)
		}
	}
	over := func() diag.List {
		var all []rules.QuotaUse
		for _, dir := range slices.Sorted(maps.Keys(uses)) {
			all = append(all, uses[dir]...)
		}
		return rules.CheckQuotas(envs, limits, all).Errors()
	}
	if len(over()) > 0 {
		return false // over before the batch: not the batch's doing
	}
	var order []string
	for i, j := range jobs {
		if _, ok := p.changes[j.Op.AppName()]; ok && p.outcomes[i] == nil && !slices.Contains(order, j.Op.AppName()) {
			order = append(order, j.Op.AppName())
		}
	}
	refused := false
	for _, name := range order {
		prev, had := uses[name]
		delete(uses, name)
		if e := next.Dirs[name]; e != nil && e.App != nil {
			uses[name] = rules.QuotaUses(e.App)
		}
		d := over()
		if len(d) == 0 {
			continue
		}
		delete(uses, name)
		if had {
			uses[name] = prev
		}
		delete(p.changes, name)
		refused = true
		err := &Error{Status: http.StatusUnprocessableEntity, Errors: []apiclient.FieldError{{
			Message: fmt.Sprintf("app %s does not fit %s with the changes accepted before it: %s; ask for a larger quota or make room, then try again", name, d[0].Path, d[0].Message),
		}}}
		for i, j := range jobs {
			if j.Op.AppName() == name && p.outcomes[i] == nil {
				p.outcomes[i] = &Outcome{Err: err}
				p.changed[i] = false
			}
		}
	}
	return refused
}

// checkBatch builds the complete result of the batch, the Argo CD tree
// across every app included, before anything is committed: what the API
// commits, publishing accepts.
//
// next, when not nil, is the workspace with p.changes, loaded already.
func (w *Writer) checkBatch(sn *specrepo.Snapshot, p *plan, next *specrepo.Snapshot) diag.List {
	if next == nil {
		next = w.repo.WithChanges(sn, p.changes)
	}
	p.next = next
	w.repo.WithLastGood(next)
	for dir := range p.changes {
		if d := next.Errs[dir]; len(d) > 0 {
			return d
		}
	}
	if len(next.Errs[""]) > 0 {
		return next.Errs[""]
	}
	if _, _, err := next.Build(); err != nil && len(next.Broken()) == 0 {
		var d diag.List
		if !errors.As(err, &d) {
			d.Add(provenance.Pos{}, "", "%v", err)
		}
		return d
	}
	return nil
}

// safeApply applies op to d with specops.Apply; a panic in it rejects
// this job with 500 and leaves the others alone.
func safeApply(c *specops.Context, op specops.Operation, d *specops.Doc) (err *Error) {
	defer func() {
		if r := recover(); r != nil {
			slog.Error("panic in operation", "operation", op.Kind(), "app", op.AppName(), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = Errorf(http.StatusInternalServerError, "internal error while applying %s", op.Kind())
		}
	}()
	if err := specops.Apply(c, op, d); err != nil {
		return opError(op, err)
	}
	return nil
}

// opError answers an operation that cannot apply.
func opError(op specops.Operation, err error) *Error {
	var e *specops.Error
	if !errors.As(err, &e) {
		return Errorf(http.StatusInternalServerError, "%s: %v", op.Kind(), err)
	}
	status := map[specops.Kind]int{
		specops.Invalid:   http.StatusBadRequest,
		specops.NotFound:  http.StatusNotFound,
		specops.Conflict:  http.StatusConflict,
		specops.Forbidden: http.StatusForbidden,
	}[e.Kind]
	if status == 0 {
		status = http.StatusInternalServerError
	}
	return FieldErrorf(status, e.Field, "%s", e.Message)
}

// specErrors turns the findings about an app into a 400 whose paths name
// the fields of the request body.
func specErrors(op specops.Operation, d diag.List) *Error {
	e := &Error{Status: http.StatusBadRequest}
	seen := map[string]bool{}
	for _, x := range d {
		fe := apiclient.FieldError{Path: op.BodyPath(x.Path), Message: x.Message}
		if k := fe.Path + "\x00" + fe.Message; !seen[k] {
			seen[k] = true
			e.Errors = append(e.Errors, fe)
		}
	}
	if len(e.Errors) == 0 {
		e.Errors = []apiclient.FieldError{{Message: "the change makes the app invalid"}}
	}
	return e
}

// workspaceBroken rejects changes while ml-model holds errors that the
// change does not fix: publishing would drop the broken apps' config.
func workspaceBroken(d diag.List) *Error {
	e := &Error{Status: http.StatusConflict, Errors: []apiclient.FieldError{{
		Message: "the workspace in ml-model has errors outside this change; fix them in git first",
	}}}
	for i, x := range d {
		if i == 10 {
			e.Errors = append(e.Errors, apiclient.FieldError{Message: fmt.Sprintf("and %d more", len(d)-i)})
			break
		}
		e.Errors = append(e.Errors, apiclient.FieldError{Message: x.String()})
	}
	return e
}

// commitMessage summarises a batch: a subject and one line per change.
func commitMessage(jobs []*Job, p *plan) string {
	var apps []string
	var lines []string
	for i, j := range jobs {
		if p.outcomes[i] != nil || !p.changed[i] {
			continue
		}
		if !slices.Contains(apps, j.Op.AppName()) {
			apps = append(apps, j.Op.AppName())
		}
		lines = append(lines, fmt.Sprintf("%s: %s (by %s, request %s)", j.Op.AppName(), specops.Describe(j.Op), j.Actor, j.ID))
	}
	slices.Sort(apps)
	subject := "dmls api: "
	switch {
	case len(lines) == 1:
		subject += lines[0][:strings.Index(lines[0], " (by ")]
	case len(apps) <= 3:
		subject += fmt.Sprintf("%d changes to %s", len(lines), strings.Join(apps, ", "))
	default:
		subject += fmt.Sprintf("%d changes to %d apps", len(lines), len(apps))
	}
	return subject + "\n\n" + strings.Join(lines, "\n") + "\n"
}

func trailers(jobs []*Job, p *plan) []gitops.Trailer {
	var out []gitops.Trailer
	for i, j := range jobs {
		if p.outcomes[i] == nil && p.changed[i] {
			out = append(out, gitops.Trailer{Key: "Dmls-Request-Id", Value: j.ID})
			if j.ActorID != "" {
				out = append(out, gitops.Trailer{Key: TrailerActor, Value: "request=" + j.ID + " " + j.ActorID})
			}
			if j.IdemKey != "" {
				out = append(out, gitops.Trailer{Key: specrepo.TrailerIdempotency, Value: j.IdemKey + " " + j.IdemFP + " " + j.ID})
			}
			if r, ok := j.Op.(specops.ReleaseOp); ok {
				for _, t := range r.Trailers() {
					out = append(out, gitops.Trailer{Key: t.Key, Value: t.Value})
				}
			}
		}
	}
	return out
}

// replay returns the first answer of a job whose Idempotency-Key is in
// ml-model's history already, or nil. The answer has the first request's
// id and ml-model commit; its views and Applications are those of sn.
func (w *Writer) replay(sn *specrepo.Snapshot, j *Job) *Outcome {
	if j.IdemKey == "" {
		return nil
	}
	h, ok := w.repo.History().Key(j.IdemKey)
	if !ok {
		return nil
	}
	if h.FP != j.IdemFP {
		return &Outcome{Err: Errorf(http.StatusUnprocessableEntity, "%s was used before for a different request (commit %s); use a new key for a new request", apiclient.HeaderIdempotencyKey, h.Commit)}
	}
	name := j.Op.AppName()
	e := sn.EntryByName(name)
	res := &apiclient.Result{
		RequestID: h.RequestID, Operation: j.Op.Kind(), Team: j.Team, App: name, Changed: true,
		Commits: []apiclient.Commit{{Repo: layout.RepoMLModel, SHA: h.Commit}}, Applications: e.Applications(),
	}
	w.cfg.View(sn, e, j.Op.SectionName(), res)
	return &Outcome{Result: res, Replayed: true}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// withUpdateErrors returns e with the findings that only the update from
// was (the app as committed) to e has, as validate --base gives them: a
// CRD's transition rules, such as a TrainJob's trainer, runtime or
// initializer changed under its old run name, which the API server
// refuses although each version alone is valid. e itself is not changed.
func withUpdateErrors(was, e *specrepo.Entry) *specrepo.Entry {
	if was == nil || !was.Valid() || e == nil || !e.Valid() {
		return e
	}
	found := build.CRDUpdateFindings(&build.Result{Apps: []*build.App{was.Built}}, &build.Result{Apps: []*build.App{e.Built}})
	if len(found) == 0 {
		return e
	}
	c := *e
	c.Diags = append(slices.Clone(e.Diags), found...)
	return &c
}
