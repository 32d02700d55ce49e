// Package pipeline is the release reconciler of dmls serve: it starts the
// scheduled training runs, and carries each run that succeeded through
// its app's release policy, one ml-model commit a step (package release
// decides; this package reads the inputs and commits).
//
// All of its state is in git (the spec: serving runs, release.state,
// release.rejected, training.scheduledAt) and in the clusters (the
// training job, the canary revision), and in Prometheus (the gates), so a
// restarted or a new leader goes on where the last one stopped. One
// replica acts at a time (a Kubernetes Lease); every step is a
// compare-and-swap on the serving settings its decision read, so a step
// decided on what changed since is refused and decided again.
package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dmls-project/dmls/internal/apiclient"
	"github.com/dmls-project/dmls/internal/gates"
	"github.com/dmls-project/dmls/internal/gitops"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/release"
	"github.com/dmls-project/dmls/internal/schedule"
	"github.com/dmls-project/dmls/internal/spec"
	"github.com/dmls-project/dmls/internal/specops"
	"github.com/dmls-project/dmls/internal/specrepo"
	"github.com/dmls-project/dmls/internal/status"
	"github.com/dmls-project/dmls/internal/status/kube"
	"github.com/dmls-project/dmls/internal/submit"
)

// Actor is who the reconciler's commits name.
const Actor = "dmls-release"

// DefaultInterval is how often the leader looks at every pipeline.
const DefaultInterval = 15 * time.Second

// minWindow is the shortest range a gate's rates are taken over: a few
// scrapes.
const minWindow = 10 * time.Second

// Config is what the reconciler needs from the server that runs it.
type Config struct {
	Repo *specrepo.Repo
	// Enqueue hands a change to the server's writer (submit.Writer).
	Enqueue func(*submit.Job) (<-chan *submit.Outcome, bool)
	// Status reads the clusters; nil observes nothing, so no run is seen
	// to succeed and no canary to be Ready.
	Status *kube.Clusters
	// Prometheus evaluates the gates; nil makes every gate an error (the
	// canary waits).
	Prometheus *gates.Client
	// Lease elects one leader among the replicas; nil: this replica is
	// the only one.
	Lease *Lease
	// Interval between passes (DefaultInterval when zero).
	Interval time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	Log *slog.Logger
	// Registry receives the reconciler's metrics (none when nil).
	Registry prometheus.Registerer
	// Ready reports whether the server has read the workspace and takes
	// changes; the reconciler waits for it (nil: always).
	Ready func() bool
}

// Reconciler runs the pipelines of a workspace.
type Reconciler struct {
	cfg     Config
	metrics *metrics
	// seen is when this replica first saw each schedule without a tick
	// recorded, where git cannot say when the app last changed.
	mu   sync.Mutex
	seen map[string]time.Time
}

// New returns a reconciler; Run starts it.
func New(cfg Config) *Reconciler {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Reconciler{cfg: cfg, metrics: newMetrics(cfg.Registry), seen: map[string]time.Time{}}
}

// Run makes a pass every Interval while this replica leads, until ctx
// ends; it gives the Lease up on the way out.
func (r *Reconciler) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		if (r.cfg.Ready == nil || r.cfg.Ready()) && r.leads(ctx) {
			r.Tick(ctx)
		}
		select {
		case <-ctx.Done():
			if r.cfg.Lease != nil {
				rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				r.cfg.Lease.Release(rctx)
				cancel()
			}
			return
		case <-t.C:
		}
	}
}

func (r *Reconciler) leads(ctx context.Context) bool {
	if r.cfg.Lease == nil {
		return true
	}
	ok, err := r.cfg.Lease.Acquire(ctx)
	if err != nil {
		r.cfg.Log.Warn("release reconciler: cannot take the lease", "error", err)
	}
	r.metrics.leader.Set(boolFloat(ok))
	return ok
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Tick makes one pass: for every app with a schedule or a release
// policy, it starts the run of a due tick and takes the next step of each
// pipeline. Steps of different apps do not wait for each other's
// commits.
func (r *Reconciler) Tick(ctx context.Context) {
	sn, err := r.cfg.Repo.Current(ctx, 0)
	if err != nil {
		r.cfg.Log.Warn("release reconciler: cannot read ml-model", "error", err)
		return
	}
	var wg sync.WaitGroup
	for _, name := range slices.Sorted(maps.Keys(sn.ByName)) {
		e := sn.ByName[name]
		if !e.Valid() || !involved(e.App) {
			continue
		}
		wg.Go(func() {
			r.scheduleApp(ctx, sn, e)
			if e.App.Base.Spec.Release != nil {
				r.releaseApp(ctx, sn, e)
			}
		})
	}
	wg.Wait()
}

// involved reports whether the reconciler has anything to do with a.
func involved(a *spec.App) bool {
	return a.Base.Spec.Release != nil || a.TrainingJob() != nil && a.TrainingJob().Schedule != nil
}

// Plan is what the reconciler knows and decides of one app.
type Plan struct {
	App   string
	Chain []string
	// Actions are the decisions, one per environment of the chain.
	Actions []release.Action
	// States are the environments as the spec has them.
	States map[string]*release.EnvState
	// Job is the observed training job, if any.
	Job *release.Job
	// Managed is false for an app written by hand: the pipeline cannot
	// commit to it.
	Managed bool
	At      time.Time
}

// Decide plans app e of sn: it reads the training job, the canary
// revisions and the gates, and decides (release.Decide); approved names
// an environment a person approves the step into.
func (r *Reconciler) Decide(ctx context.Context, sn *specrepo.Snapshot, e *specrepo.Entry, approved string) *Plan {
	now := r.cfg.Now()
	p := PlanApp(sn.WS, e.App, r.observe(ctx, sn, e), func(inst *spec.Instance, st *release.EnvState, ev status.Environment) []release.GateResult {
		return r.evaluate(ctx, inst, st, ev, now)
	}, approved, now)
	p.Managed = e.Managed()
	return p
}

// GatesFunc evaluates the gates of the canary of st (instance inst, whose
// status is ev).
type GatesFunc func(inst *spec.Instance, st *release.EnvState, ev status.Environment) []release.GateResult

// PlanApp decides app a of ws (release.Decide) from the status of its
// environments (view: the training job, the canary revisions) and the
// gates that gates evaluates; approved names an environment a person
// approves the step into. Managed is left true.
func PlanApp(ws *spec.Workspace, a *spec.App, view []status.Environment, gates GatesFunc, approved string, now time.Time) *Plan {
	rel := a.Base.Spec.Release
	envs := ws.AppEnvs(a.Base.Spec)
	in := release.Input{App: a.Name, Release: rel, Envs: envs, States: map[string]*release.EnvState{},
		Revisions: map[string]release.Revision{}, Gates: map[string][]release.GateResult{}, Approved: approved, Now: now}
	trainIn := rel.TrainEnv(envs)
	instances := map[string]*spec.Instance{}
	for _, inst := range a.Envs {
		instances[inst.Env.Name] = inst
		in.States[inst.Env.Name] = release.StateOf(inst.Env.Name, inst.Spec)
		if inst.Env.Name == trainIn && inst.Spec.Training != nil {
			in.TrainRun = inst.Spec.Training.Run
		}
	}
	for _, ev := range view {
		if ev.Env == trainIn && ev.Training != nil && ev.Training.Found && ev.Training.Run == in.TrainRun {
			in.Job = &release.Job{Run: ev.Training.Run, State: string(ev.Training.State), FinishedAt: release.ParseTime(ev.Training.CompletionTime)}
			if in.Job.FinishedAt.IsZero() && ev.ObservedAt != nil {
				in.Job.FinishedAt = *ev.ObservedAt
			}
		}
		st := in.States[ev.Env]
		inst := instances[ev.Env]
		if st == nil || inst == nil || !st.Canarying() || inst.Spec.Serving == nil {
			continue
		}
		rev := revisionOf(inst, ev)
		in.Revisions[ev.Env] = rev
		if rev.Known && rev.Ready && rev.Crashed == "" {
			in.Gates[ev.Env] = gates(inst, st, ev)
		}
	}
	return &Plan{App: a.Name, Chain: rel.Chain(envs), Actions: release.Decide(in), States: in.States, Job: in.Job, Managed: true, At: now}
}

// View is the plan as the API answers it (GET .../release).
func (p *Plan) View(a *spec.App) *apiclient.ReleaseView {
	rel := a.Base.Spec.Release
	v := &apiclient.ReleaseView{Team: a.Team, App: a.Name, Chain: p.Chain, Rejected: append([]int{}, rel.Rejected...),
		Managed: p.Managed, Environments: []apiclient.ReleaseEnvironment{}, DecidedAt: p.At.UTC().Format(time.RFC3339)}
	if j := p.Job; j != nil {
		v.Training = &apiclient.ReleaseTraining{Run: j.Run, State: j.State, FinishedAt: formatTime(j.FinishedAt)}
	}
	for _, act := range p.Actions {
		e := apiclient.ReleaseEnvironment{Env: act.Env, Step: string(act.Kind), Run: act.Run, Reason: act.Reason, From: act.From,
			Since: formatTime(act.Since), Until: formatTime(act.Until)}
		if st := p.States[act.Env]; st != nil {
			e.Serving = st.Serving()
			if st.Canarying() {
				e.Canary = &apiclient.ReleaseCanary{Run: st.Run, Percent: *st.Percent}
			}
			if r := st.Record; r != nil {
				e.LastStep = &apiclient.ReleaseLast{Step: r.Step, Run: r.Run, At: r.At}
			}
		}
		for _, g := range act.Gates {
			e.Gates = append(e.Gates, apiclient.ReleaseGate{Name: g.Name, Query: g.Query, Value: g.Value, Max: g.Max, Verdict: string(g.Verdict), Error: g.Err})
		}
		v.Environments = append(v.Environments, e)
	}
	return v
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// observe reads the app's status in each environment (none without a
// cluster).
func (r *Reconciler) observe(ctx context.Context, sn *specrepo.Snapshot, e *specrepo.Entry) []status.Environment {
	if r.cfg.Status == nil || e.Built == nil {
		return nil
	}
	p := sn.Platform()
	c := *r.cfg.Status
	c.ArgoCDNamespace = p.ArgoCD.Namespace
	v := c.View(ctx, e.App.Team, e.App.Name, sn.Commits[e.App.Name], kube.AppTargets(e.Built, "", p.Repos["k8s-config"].Path), nil)
	return v.Environments
}

// revisionOf is what the status says of the canary revision of an
// environment.
func revisionOf(inst *spec.Instance, ev status.Environment) release.Revision {
	s := ev.Serving
	if ev.Error != "" || s == nil || !s.Found {
		return release.Revision{}
	}
	sv := inst.Spec.Serving
	want := spec.RevisionName(sv.ObjectName(inst.Spec.Name), sv.Revision)
	if sv.Runtime == spec.RuntimeKServe {
		// KServe names its own revisions; the one it created last is
		// the canary's once it saw the spec.
		want = s.LatestCreatedRevision
	}
	rev := release.Revision{Known: true, Ready: s.LatestReadyRevision == want && want != ""}
	if s.Ready == "False" && s.LatestCreatedRevision == want && !rev.Ready {
		rev.Crashed = strings.TrimSpace(s.Reason + " " + s.Message)
	}
	return rev
}

// evaluate evaluates the gates of an environment's canary.
func (r *Reconciler) evaluate(ctx context.Context, inst *spec.Instance, st *release.EnvState, ev status.Environment, now time.Time) []release.GateResult {
	out := EvaluateGates(ctx, r.cfg.Prometheus, inst, st, ev, now)
	for _, g := range out {
		r.metrics.gates.WithLabelValues(string(g.Verdict)).Inc()
	}
	return out
}

// EvaluateGates evaluates the gates of the canary of st on prom (nil:
// each gate is an error that says no Prometheus is configured): the
// release's, or the defaults of the service's runtime.
func EvaluateGates(ctx context.Context, prom *gates.Client, inst *spec.Instance, st *release.EnvState, ev status.Environment, now time.Time) []release.GateResult {
	sv := inst.Spec.Serving
	list := st.Gates
	if list == nil {
		for _, g := range gates.Defaults(sv.Runtime, sv.DeploymentMode) {
			list = append(list, spec.Gate{Name: g.Name, Query: g.Query, Max: g.Max, OnNoData: g.OnNoData})
		}
	}
	name := sv.ObjectName(inst.Spec.Name)
	t := gates.Target{Namespace: inst.Namespace, Service: name, Runtime: sv.Runtime,
		Revision: spec.RevisionName(name, sv.Revision), Stable: spec.RevisionName(name, sv.Traffic.Stable)}
	if sv.Runtime == spec.RuntimeKServe && ev.Serving != nil {
		t.Revision = ev.Serving.LatestCreatedRevision
	}
	// The window is the time the canary has run, at least a few scrapes
	// and at most its duration: a canary that waited long (Prometheus
	// down) does not ask for a month of rates.
	t.Window = minWindow
	if st.Record != nil {
		if since := release.ParseTime(st.Record.At); now.Sub(since) > minWindow {
			t.Window = now.Sub(since).Truncate(time.Second)
		}
	}
	if d, err := spec.ParseDuration(st.Canary.Duration); err == nil && t.Window > d {
		t.Window = max(d, minWindow)
	}
	out := make([]release.GateResult, len(list))
	for i, g := range list {
		gr := release.GateResult{Name: g.Name, Query: g.Query, Max: g.Max, OnNoData: g.OnNoData}
		if prom == nil {
			gr.Verdict, gr.Err = release.Error, "no Prometheus is configured (--prometheus)"
		} else {
			res := prom.Evaluate(ctx, gates.Gate{Name: g.Name, Query: g.Query, Max: g.Max, OnNoData: g.OnNoData}, t, now)
			gr.Query, gr.Value, gr.Verdict, gr.Refused, gr.Err = res.Query, res.Value, res.Verdict, res.Refused, res.Err
		}
		out[i] = gr
	}
	return out
}

// releaseApp takes the next step of an app's pipeline, if one is due.
func (r *Reconciler) releaseApp(ctx context.Context, sn *specrepo.Snapshot, e *specrepo.Entry) {
	p := r.Decide(ctx, sn, e, "")
	a := release.Next(p.Actions)
	if a == nil {
		return
	}
	if !p.Managed {
		r.cfg.Log.Warn("release reconciler: the app is written by hand; the pipeline commits only to apps the API owns", "app", e.App.Name, "env", a.Env, "step", a.Kind)
		return
	}
	if err := r.Commit(ctx, e.App, p, *a, ""); err != nil {
		r.cfg.Log.Info("release reconciler: step not taken; deciding again next pass", "app", e.App.Name, "env", a.Env, "step", a.Kind, "reason", err)
	}
}

// Commit makes action a of plan p (as decided on p's states) a commit,
// and waits for it; by names a person who approved, aborted or resumed.
func (r *Reconciler) Commit(ctx context.Context, a *spec.App, p *Plan, act release.Action, by string) error {
	op := StepOp(a.Name, act, p.States[act.Env], r.cfg.Now(), by)
	if err := r.enqueue(ctx, a.Team, by, op); err != nil {
		return err
	}
	r.metrics.decisions.WithLabelValues(string(act.Kind)).Inc()
	if (act.Kind == release.Full || act.Kind == release.Deploy) && act.Env == p.Chain[len(p.Chain)-1] && !act.Finished.IsZero() {
		r.metrics.toProduction.Observe(r.cfg.Now().Sub(act.Finished).Seconds())
	}
	return nil
}

// StepOp is the operation that takes step act, decided on st (nil: an
// environment that serves nothing), at now; by names the person.
func StepOp(app string, act release.Action, st *release.EnvState, now time.Time, by string) specops.ReleaseOp {
	if st == nil {
		st = &release.EnvState{Env: act.Env}
	}
	return specops.ReleaseStep(app, act, st.Tuple(), now, by)
}

// enqueue commits op through the writer and waits for its outcome.
func (r *Reconciler) enqueue(ctx context.Context, team, by string, op specops.Operation) error {
	actor := Actor
	if by != "" {
		actor = by
	}
	j := &submit.Job{ID: "release-" + randomID(), Actor: actor, ActorID: actor, Team: team, Op: op}
	done, ok := r.cfg.Enqueue(j)
	if !ok {
		return fmt.Errorf("the writer's queue is full")
	}
	select {
	case out := <-done:
		if out.Err != nil {
			return fmt.Errorf("%s", out.Err.Error())
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func randomID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// firstSeen is when a schedule without a tick recorded counts its first
// tick from: the commit that last changed the app (so a restart changes
// nothing), or, when that cannot be read, when this replica first saw it.
func (r *Reconciler) firstSeen(ctx context.Context, sn *specrepo.Snapshot, e *specrepo.Entry, now time.Time) time.Time {
	h := r.cfg.Repo.History()
	var at time.Time
	err := h.Graph(ctx, h.MLModel(), sn.SHA, func(g *gitops.CommitGraph) {
		if c, ok := g.LastChanges(map[string][]string{e.App.Name: {path.Join(r.cfg.Repo.Prefix(), layout.AppsDir, e.Dir)}})[e.App.Name]; ok {
			at = c.Time
		}
	})
	if err == nil && !at.IsZero() {
		return at
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.seen[e.App.Name]; ok {
		return t
	}
	r.seen[e.App.Name] = now
	return now
}

// scheduleApp starts the run of the due tick of the app's schedule.
func (r *Reconciler) scheduleApp(ctx context.Context, sn *specrepo.Snapshot, e *specrepo.Entry) {
	t := e.App.TrainingJob()
	if t == nil || t.Schedule == nil {
		return
	}
	sched, err := schedule.Parse(schedule.Schedule{Cron: t.Schedule.Cron, TimeZone: t.Schedule.TimeZone, WhileRunning: t.Schedule.WhileRunning})
	if err != nil {
		return // validate refuses it; nothing runs
	}
	now := r.cfg.Now()
	last := release.ParseTime(t.ScheduledAt)
	var first time.Time
	if last.IsZero() {
		first = r.firstSeen(ctx, sn, e, now)
	}
	running, finished := false, time.Time{}
	if t.Run > 0 {
		trainIn := ""
		if rel := e.App.Base.Spec.Release; rel != nil {
			trainIn = rel.TrainEnv(sn.WS.AppEnvs(e.App.Base.Spec))
		}
		for _, ev := range r.observe(ctx, sn, e) {
			if (trainIn == "" || ev.Env == trainIn) && ev.Training != nil && ev.Training.Found && ev.Training.Run == t.Run {
				switch ev.Training.State {
				case status.Succeeded, status.Failed:
					finished = release.ParseTime(ev.Training.CompletionTime)
				default:
					running = true
				}
			}
		}
	}
	tick, waiting := sched.Due(now, last, first, running, finished)
	if tick.IsZero() || waiting {
		return // nothing due, or a queued tick waits for the run before
	}
	if !e.Managed() {
		r.cfg.Log.Warn("release reconciler: the app is written by hand; a schedule starts runs only of apps the API owns", "app", e.App.Name)
		return
	}
	if err := r.enqueue(ctx, e.App.Team, "", specops.ScheduledRun(e.App.Name, tick)); err != nil {
		r.cfg.Log.Info("release reconciler: scheduled run not started; trying again next pass", "app", e.App.Name, "tick", tick, "reason", err)
		return
	}
	r.metrics.decisions.WithLabelValues("scheduled-run").Inc()
}
