// Package release decides the next step of an app's release pipeline: a
// pure function of the app's spec (its release policy and the serving
// settings of each environment, with the reconciler's own records), the
// observed status (the training run, each canary revision), the values of
// the gates and the time. It does no I/O: the reconciler of dmls serve
// reads the inputs and commits what Decide returns, one ml-model commit a
// step, so git is the only record of every decision.
//
// In each environment of the chain (spec.Release.Chain), a run goes
// through these steps:
//
//	deploy    the first run an environment serves, all traffic at once
//	          (there is no stable run to compare a canary with);
//	canary    the run's revision takes canary.percent of the traffic; the
//	          gates are evaluated until canary.duration has passed;
//	full      the gates held: all traffic to the run;
//	rollback  a gate failed, the revision never became Ready, crashed, or a
//	          gate had no data for twice the duration: all traffic back to
//	          the stable run, and the run is rejected (release.rejected),
//	          everywhere.
//
// The first environment takes the run of the training job once it
// succeeded; each next one the run that fully serves in the one before,
// after the step's soak time and, where the step asks, an approval.
//
// A hand edit wins: an environment whose serving settings differ from
// what the reconciler recorded there (release.state) is paused until
// dmls release resume, and then re-planned from what it holds.
package release

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/dmls-project/dmls/internal/gates"
	"github.com/dmls-project/dmls/internal/spec"
)

// Kind is what an Action does.
type Kind string

// The kinds of action. Deploy, Canary, Full and Rollback change the spec
// (a commit); the others only report.
const (
	// None: nothing to do; the environment serves what it should.
	None Kind = "none"
	// Wait: a step is under way or its condition does not hold yet.
	Wait Kind = "wait"
	// Approval: the step into the environment waits for an approval.
	Approval Kind = "approval"
	// Paused: a hand edit, or a gate Prometheus refuses; a person must act.
	Paused Kind = "paused"

	Deploy   Kind = spec.StepDeploy
	Canary   Kind = spec.StepCanary
	Full     Kind = spec.StepFull
	Rollback Kind = spec.StepRollback
	// Resume hands a paused environment back to the pipeline (dmls
	// release resume): a record of what it holds, nothing else.
	Resume Kind = spec.StepResume
)

// Commits reports whether the action changes the spec.
func (k Kind) Commits() bool {
	return k == Deploy || k == Canary || k == Full || k == Rollback
}

// EnvState is an environment of the chain as the spec has it.
type EnvState struct {
	Env string
	// Run, Revision, Stable and Percent are the model service's
	// settings: serving.model.run, serving.revision,
	// serving.traffic.stable and canaryPercent (nil: unset).
	Run      int
	Revision string
	Stable   string
	Percent  *int
	// Canary and Gates are the environment's policy (its overrides
	// merged); Gates nil means the defaults.
	Canary spec.Canary
	Gates  []spec.Gate
	// Record is the reconciler's record of the environment, or nil.
	Record *spec.ReleaseState
}

// Tuple is what a hand edit changes (spec.ServingTuple).
func (s *EnvState) Tuple() string {
	return spec.ServingTuple(s.Run, s.Revision, s.Stable, s.Percent)
}

// Canarying reports whether a canary runs: the revision takes a share
// strictly between 0 and 100, the stable one the rest.
func (s *EnvState) Canarying() bool {
	return s.Stable != "" && s.Percent != nil && *s.Percent > 0 && *s.Percent < 100
}

// Serving is the run that serves all (or most) of the traffic: the
// stable one while a canary runs or after a rollback, else Run.
func (s *EnvState) Serving() int {
	if s.Stable != "" && s.Percent != nil && *s.Percent < 100 {
		return spec.RevisionRun(s.Stable)
	}
	return s.Run
}

// PausedBy says why the environment is paused (its settings differ from
// the reconciler's record), or "".
func (s *EnvState) PausedBy() string {
	if s.Record == nil || s.Record.Serving == s.Tuple() {
		return ""
	}
	return fmt.Sprintf("the serving settings of %s were changed outside the release pipeline (now %s, the pipeline left %s); dmls release resume APP --env %s hands them back to it", s.Env, s.Tuple(), s.Record.Serving, s.Env)
}

// Job is the training job of the run the spec names, as observed in the
// environment it trains in.
type Job struct {
	Run int
	// State is Succeeded, Failed, Running, Deploying or Unknown
	// (status.State).
	State      string
	FinishedAt time.Time
}

// Revision is what is observed of a canary revision.
type Revision struct {
	// Known is false when the cluster could not be read.
	Known bool
	Ready bool
	// Crashed is set when the revision's containers restarted or failed
	// (Knative's ContainerHealthy False), with the reason.
	Crashed string
}

// Verdict is a gate's outcome, in the gates package's words.
type Verdict = gates.Verdict

// Gate verdicts.
const (
	Pass   = gates.Pass
	Fail   = gates.Fail
	NoData = gates.NoData
	Error  = gates.Error
)

// GateResult is one gate evaluated for a canary.
type GateResult struct {
	Name, Query string
	Value       float64
	Max         float64
	Verdict     Verdict
	// OnNoData is the gate's policy for no data (spec.NoDataWait or
	// spec.NoDataPass).
	OnNoData string
	// Refused: Prometheus refused the query (a mistake in the spec, not
	// in the model); Err says why.
	Refused bool
	Err     string
}

// String is the gate's evidence: query, value and threshold.
func (g GateResult) String() string {
	v := strconv.FormatFloat(g.Value, 'g', 6, 64)
	switch g.Verdict {
	case NoData:
		v = "no data"
	case Error:
		v = "error: " + g.Err
	}
	return fmt.Sprintf("%s %s: %s (max %s) query=%q", g.Name, g.Verdict, v, strconv.FormatFloat(g.Max, 'g', 6, 64), g.Query)
}

// Input is everything Decide reads.
type Input struct {
	App string
	// Release is the app's policy (the base's: trainIn, promotion,
	// rejected).
	Release *spec.Release
	// Envs are the environments the app runs in, in order.
	Envs []string
	// TrainRun is training.run in the environment it trains in.
	TrainRun int
	// States are the environments of the chain.
	States map[string]*EnvState
	// Job is the observed training job (nil: not found or not read).
	Job *Job
	// Revisions are the observed canary revisions by environment.
	Revisions map[string]Revision
	// Gates are the gates evaluated for each environment's canary.
	Gates map[string][]GateResult
	// Approved names the environment a person approves the step into
	// (the approve route), or "".
	Approved string
	Now      time.Time
}

// Action is the decision for one environment.
type Action struct {
	Env  string
	Kind Kind
	// Run is the run the step is about; Stable the run that keeps the
	// rest of the traffic during a canary.
	Run, Stable int
	Percent     int
	// Reject marks Run rejected (a rollback).
	Reject bool
	// Reason says why, for status and the commit message.
	Reason string
	// Gates are the results the decision read (the evidence).
	Gates []GateResult
	// Finished is when Run's training job succeeded (carried from
	// environment to environment).
	Finished time.Time
	// Since is when the step under way began, and Until when the next
	// one is due (a soak or a canary's end), where known.
	Since, Until time.Time
	// From is the environment the run is promoted from ("" for the first).
	From string
}

// Decide returns one action per environment of the chain, in order.
func Decide(in Input) []Action {
	chain := in.Release.Chain(in.Envs)
	out := make([]Action, 0, len(chain))
	for i, env := range chain {
		st := in.States[env]
		if st == nil {
			st = &EnvState{Env: env}
		}
		a := decideEnv(in, chain, i, st)
		a.Env = env
		out = append(out, a)
	}
	return out
}

func decideEnv(in Input, chain []string, i int, st *EnvState) Action {
	if why := st.PausedBy(); why != "" {
		return Action{Kind: Paused, Reason: why, Run: st.Run}
	}
	if st.Canarying() {
		return decideCanary(in, st)
	}
	var cand int
	var finished time.Time
	var from string
	if i == 0 {
		j := in.Job
		switch {
		case in.TrainRun == 0:
			return Action{Kind: None, Reason: "no training run yet"}
		case j == nil || j.Run != in.TrainRun:
			return Action{Kind: Wait, Run: in.TrainRun, Reason: fmt.Sprintf("waits for run r%d's training job to be observed", in.TrainRun)}
		case j.State == "Failed":
			return Action{Kind: None, Run: in.TrainRun, Reason: fmt.Sprintf("run r%d failed: nothing to roll out", in.TrainRun)}
		case j.State != "Succeeded":
			return Action{Kind: Wait, Run: in.TrainRun, Reason: fmt.Sprintf("run r%d is %s", in.TrainRun, orUnknown(j.State))}
		}
		cand, finished = in.TrainRun, j.FinishedAt
	} else {
		from = chain[i-1]
		prev := in.States[from]
		if prev == nil || prev.Canarying() || prev.Serving() == 0 || prev.PausedBy() != "" {
			return Action{Kind: Wait, Reason: fmt.Sprintf("waits for %s", from), From: from}
		}
		cand = prev.Serving()
		var since time.Time
		if r := prev.Record; r != nil && r.Run == cand && (r.Step == spec.StepFull || r.Step == spec.StepDeploy) {
			since = ParseTime(r.At)
			finished = ParseTime(r.Finished)
		}
		if cand == st.Serving() || in.Release.IsRejected(cand) || cand < st.Serving() {
			return servingAction(in, st)
		}
		step := in.Release.StepInto(in.Envs, st.Env)
		if step != nil && step.After != "" && !since.IsZero() {
			soak, _ := spec.ParseDuration(step.After)
			if due := since.Add(soak); in.Now.Before(due) {
				return Action{Kind: Wait, Run: cand, From: from, Since: since, Until: due,
					Reason: fmt.Sprintf("r%d soaks in %s until %s", cand, from, due.UTC().Format(time.RFC3339))}
			}
		}
		if step != nil && step.Approval && in.Approved != st.Env {
			return Action{Kind: Approval, Run: cand, From: from, Finished: finished,
				Reason: fmt.Sprintf("r%d waits for an approval into %s (dmls approve %s --env %s)", cand, st.Env, in.App, st.Env)}
		}
	}
	if cand == st.Serving() || in.Release.IsRejected(cand) || cand < st.Serving() {
		return servingAction(in, st)
	}
	if st.Serving() == 0 {
		return Action{Kind: Deploy, Run: cand, Finished: finished, From: from,
			Reason: fmt.Sprintf("r%d is the first run %s serves: all traffic at once", cand, st.Env)}
	}
	return Action{Kind: Canary, Run: cand, Stable: st.Serving(), Percent: st.Canary.Percent, Finished: finished, From: from,
		Reason: fmt.Sprintf("serving model r%d → r%d, canary %d%%", st.Serving(), cand, st.Canary.Percent)}
}

// servingAction reports an environment with nothing to do.
func servingAction(in Input, st *EnvState) Action {
	s := st.Serving()
	switch {
	case s == 0:
		return Action{Kind: None, Reason: "serves nothing yet"}
	case st.Run != s && in.Release.IsRejected(st.Run):
		return Action{Kind: None, Run: s, Reason: fmt.Sprintf("serves r%d; r%d was rolled back and rejected", s, st.Run)}
	}
	return Action{Kind: None, Run: s, Reason: fmt.Sprintf("serves r%d", s)}
}

// decideCanary decides on a canary under way.
func decideCanary(in Input, st *EnvState) Action {
	run, stable := st.Run, spec.RevisionRun(st.Stable)
	a := Action{Run: run, Stable: stable, Percent: *st.Percent}
	var since time.Time
	if r := st.Record; r != nil && r.Run == run && r.Step == spec.StepCanary {
		since = ParseTime(r.At)
		a.Finished = ParseTime(r.Finished)
	}
	a.Since = since
	dur, err := spec.ParseDuration(st.Canary.Duration)
	if err != nil {
		a.Kind, a.Reason = Paused, fmt.Sprintf("release.canary.duration: %v", err)
		return a
	}
	elapsed := in.Now.Sub(since)
	if since.IsZero() {
		elapsed = 2 * dur // a canary the reconciler has no record of: its time is up
	}
	a.Until = since.Add(dur)
	rollback := func(format string, args ...any) Action {
		a.Kind, a.Reject = Rollback, true
		a.Reason = fmt.Sprintf("r%d rolled back in %s: ", run, st.Env) + fmt.Sprintf(format, args...)
		return a
	}
	wait := func(format string, args ...any) Action {
		a.Kind, a.Reason = Wait, fmt.Sprintf(format, args...)
		return a
	}
	if in.Release.IsRejected(run) {
		return rollback("the run is rejected")
	}
	rev, ok := in.Revisions[st.Env]
	switch {
	case !ok || !rev.Known:
		return wait("canary r%d at %d%%: the revision's status is not known yet", run, a.Percent)
	case rev.Crashed != "":
		return rollback("revision %s crashed: %s", spec.RunRevision(run), rev.Crashed)
	case !rev.Ready && elapsed >= 2*dur:
		return rollback("revision %s is not Ready after %s (twice the canary's duration)", spec.RunRevision(run), spec.FormatDuration(2*dur))
	case !rev.Ready:
		return wait("canary r%d at %d%%: waits for revision %s to be Ready", run, a.Percent, spec.RunRevision(run))
	}
	a.Gates = in.Gates[st.Env]
	for _, g := range a.Gates {
		if g.Refused {
			a.Kind = Paused
			a.Reason = fmt.Sprintf("gate %s: Prometheus refuses its query (%s); fix the query, then dmls release resume", g.Name, g.Err)
			return a
		}
	}
	for _, g := range a.Gates {
		if g.Verdict == Fail {
			return rollback("gate %s is %s, above its max %s", g.Name, strconv.FormatFloat(g.Value, 'g', 6, 64), strconv.FormatFloat(g.Max, 'g', 6, 64))
		}
	}
	var waiting []string
	for _, g := range a.Gates {
		switch {
		case g.Verdict == Error:
			return wait("canary r%d at %d%%: gate %s cannot be evaluated (%s); retrying", run, a.Percent, g.Name, g.Err)
		case g.Verdict == NoData && g.OnNoData != spec.NoDataPass:
			if elapsed >= 2*dur {
				return rollback("gate %s had no data for %s (twice the canary's duration)", g.Name, spec.FormatDuration(2*dur))
			}
			waiting = append(waiting, g.Name)
		}
	}
	if elapsed < dur {
		return wait("canary r%d at %d%%: gates hold so far, %s of %s", run, a.Percent, spec.FormatDuration(elapsed), spec.FormatDuration(dur))
	}
	if len(waiting) > 0 {
		return wait("canary r%d at %d%%: gates %v have no data yet", run, a.Percent, waiting)
	}
	a.Kind = Full
	a.Reason = fmt.Sprintf("serving model r%d → r%d, the gates held for %s", stable, run, spec.FormatDuration(dur))
	return a
}

// ParseTime reads an RFC 3339 time of the spec or the status; anything
// else is the zero time (not known).
func ParseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

func orUnknown(s string) string {
	if s == "" {
		return "Unknown"
	}
	return s
}

// Next returns the first action of actions that commits, or nil.
func Next(actions []Action) *Action {
	i := slices.IndexFunc(actions, func(a Action) bool { return a.Kind.Commits() })
	if i < 0 {
		return nil
	}
	return &actions[i]
}

// StateOf is environment env of an app as its instance there has it (a
// holds the loader's result: a model from training with no run yet has
// no serving section).
func StateOf(env string, a *spec.AppSpec) *EnvState {
	st := &EnvState{Env: env}
	if r := a.Release; r != nil {
		st.Canary, st.Gates = r.Canary, r.Gates
		if rec, ok := r.State[env]; ok {
			st.Record = &rec
		}
	}
	if s := a.Serving; s != nil && s.Model != nil && s.Model.FromTraining {
		st.Run, st.Revision = s.Model.Run, s.Revision
		st.Stable, st.Percent = s.Traffic.Stable, s.Traffic.CanaryPercent
	}
	return st
}
