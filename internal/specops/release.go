package specops

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dmls-project/dmls/internal/release"
	"github.com/dmls-project/dmls/internal/spec"
)

// Trailers of the commits of the release pipeline: the evidence of each
// decision, so that git log alone says why an environment serves a run.
const (
	// TrailerRelease is the step: app, environment, step and run.
	TrailerRelease = "Dmls-Release"
	// TrailerReleaseRun is the run and when its training job succeeded.
	TrailerReleaseRun = "Dmls-Release-Run"
	// TrailerReleaseGate is one gate: query, value and threshold.
	TrailerReleaseGate = "Dmls-Release-Gate"
	// TrailerReleaseApprover is who approved (or aborted, or resumed).
	TrailerReleaseApprover = "Dmls-Release-Approver"
	// TrailerReleaseReason is why, in words.
	TrailerReleaseReason = "Dmls-Release-Reason"
)

// Trailer is one "Key: value" line a release step adds to its commit.
type Trailer struct{ Key, Value string }

// ReleaseOp is an operation of the release pipeline; Trailers are its
// evidence, added to the commit that makes it.
type ReleaseOp interface {
	Operation
	Trailers() []Trailer
}

// releaseStep carries out a release decision in one environment.
type releaseStep struct {
	name string
	a    release.Action
	// expect is the serving tuple the decision read: a change made since
	// (a hand edit, another replica's step) makes the step a conflict,
	// and the reconciler decides again from what it finds.
	expect string
	at     time.Time
	// by is the person who approved, aborted or resumed, or "".
	by string
}

// ReleaseStep makes the release action a (Deploy, Canary, Full or
// Rollback, or Paused for a resume) in a.Env of app, decided on the
// serving settings expect (spec.ServingTuple), at time at; by names the
// person who approved, aborted or resumed it ("" for the reconciler).
func ReleaseStep(app string, a release.Action, expect string, at time.Time, by string) ReleaseOp {
	return &releaseStep{name: app, a: a, expect: expect, at: at.UTC(), by: by}
}

func (o *releaseStep) Kind() string             { return "release-" + string(o.a.Kind) }
func (o *releaseStep) AppName() string          { return o.name }
func (o *releaseStep) Creates() bool            { return false }
func (o *releaseStep) SectionName() string      { return Serving }
func (o *releaseStep) BodyPath(p string) string { return p }

func (o *releaseStep) Apply(c *Context, d *Doc) error {
	env, a := o.a.Env, o.a
	if err := c.checkEnv(d, "env", env); err != nil {
		return err
	}
	if d.Data["release"] == nil {
		return conflict("app %s has no release policy (release)", d.Name)
	}
	m := asMap(d.Effective(env, Serving)["model"])
	if m["fromTraining"] != true {
		return conflict("app %s has no model from training (serving.model.fromTraining) to release", d.Name)
	}
	if got := ServingTuple(d, env); got != o.expect {
		return conflict("the serving settings of %s in %s changed since the decision (%s, now %s); the pipeline decides again", d.Name, env, o.expect, got)
	}
	t := d.Override(env, Serving, true)
	rel := child(d.Data, "release", true)
	switch a.Kind {
	case release.Deploy, release.Canary:
		child(t, "model", true)["run"] = json.Number(strconv.Itoa(a.Run))
		t["revision"] = spec.RunRevision(a.Run)
		tr := child(t, "traffic", true)
		if a.Kind == release.Deploy {
			allToRevision(d, env, tr)
			break
		}
		stable := spec.RunRevision(a.Stable)
		tr["stable"] = stable
		tr["canaryPercent"] = json.Number(strconv.Itoa(a.Percent))
		if !isKServe(d.Effective(env, Serving)) {
			child(tr, "tags", true)[PreviousTag] = stable
		}
	case release.Full:
		eff := d.Effective(env, Serving)
		stable := str(asMap(eff["traffic"]), "stable")
		tr := child(t, "traffic", true)
		allToRevision(d, env, tr)
		if !isKServe(eff) && stable != "" {
			child(tr, "tags", true)[PreviousTag] = stable
		}
	case release.Rollback:
		child(t, "traffic", true)["canaryPercent"] = json.Number("0")
		if a.Reject {
			list, _ := rel["rejected"].([]any)
			if !slices.ContainsFunc(list, func(v any) bool { return fmt.Sprint(v) == strconv.Itoa(a.Run) }) {
				rel["rejected"] = append(list, json.Number(strconv.Itoa(a.Run)))
			}
		}
	case release.Resume:
	default:
		return invalid("", "%s is not a release step", a.Kind)
	}
	record := map[string]any{
		"step":    string(a.Kind),
		"run":     json.Number(strconv.Itoa(a.Run)),
		"at":      o.at.Format(time.RFC3339),
		"serving": ServingTuple(d, env),
	}
	if !a.Finished.IsZero() {
		record["finished"] = a.Finished.UTC().Format(time.RFC3339)
	}
	child(rel, "state", true)[env] = record
	return nil
}

// ServingTuple is the serving settings of d's model from training in env
// that a hand edit changes (spec.ServingTuple), as the loader reads them:
// an unnamed revision is the run's.
func ServingTuple(d *Doc, env string) string {
	eff := d.Effective(env, Serving)
	run, _ := intValue(asMap(eff["model"]), "run")
	rev := str(eff, "revision")
	if rev == "" && run > 0 {
		rev = spec.RunRevision(run)
	}
	tr := asMap(eff["traffic"])
	var p *int
	if n, ok := intValue(tr, "canaryPercent"); ok {
		p = &n
	}
	return spec.ServingTuple(run, rev, str(tr, "stable"), p)
}

// Trailers are the step's evidence: the step, the run and when it
// succeeded, each gate's query, value and threshold, who approved, and
// why.
func (o *releaseStep) Trailers() []Trailer {
	a := o.a
	id := fmt.Sprintf("app=%s env=%s", o.name, a.Env)
	step := fmt.Sprintf("%s step=%s run=r%d", id, a.Kind, a.Run)
	if a.Kind == release.Canary {
		step += fmt.Sprintf(" stable=r%d percent=%d", a.Stable, a.Percent)
	}
	if a.From != "" {
		step += " from=" + a.From
	}
	if a.Reject {
		step += " rejected=true"
	}
	out := []Trailer{{TrailerRelease, step}}
	if !a.Finished.IsZero() {
		out = append(out, Trailer{TrailerReleaseRun, fmt.Sprintf("app=%s run=r%d succeeded=%s", o.name, a.Run, a.Finished.UTC().Format(time.RFC3339))})
	}
	for _, g := range a.Gates {
		out = append(out, Trailer{TrailerReleaseGate, id + " " + oneLine(g.String())})
	}
	if o.by != "" {
		out = append(out, Trailer{TrailerReleaseApprover, id + " " + oneLine(o.by)})
	}
	if a.Reason != "" {
		out = append(out, Trailer{TrailerReleaseReason, id + " " + oneLine(a.Reason)})
	}
	return out
}

// oneLine keeps a trailer's value on its line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// describeRelease is a release step in a commit message.
func describeRelease(o *releaseStep) string {
	s := fmt.Sprintf("release %s in %s", o.a.Kind, o.a.Env)
	if o.a.Reason != "" {
		s += ": " + o.a.Reason
	}
	if o.by != "" {
		s += " (" + o.by + ")"
	}
	return s
}

// TrailerSchedule records the schedule tick that started a run.
const TrailerSchedule = "Dmls-Schedule"

// scheduledRun starts the run of a tick of training.schedule.
type scheduledRun struct {
	name string
	tick time.Time
	run  int // the run the tick starts, for the trailer (set by Apply)
}

// ScheduledRun starts a new run of app's training job for the schedule's
// tick (as Retrain), and records the tick in training.scheduledAt; a tick
// that is not after the one recorded changes nothing.
func ScheduledRun(app string, tick time.Time) ReleaseOp {
	return &scheduledRun{name: app, tick: tick.UTC()}
}

func (o *scheduledRun) Kind() string             { return "scheduled-run" }
func (o *scheduledRun) AppName() string          { return o.name }
func (o *scheduledRun) Creates() bool            { return false }
func (o *scheduledRun) SectionName() string      { return Training }
func (o *scheduledRun) BodyPath(p string) string { return p }
func (o *scheduledRun) Apply(c *Context, d *Doc) error {
	t := d.Section(Training)
	if t == nil {
		return notFound("app %s has no training job", d.Name)
	}
	if last := release.ParseTime(str(t, "scheduledAt")); !last.IsZero() && !o.tick.After(last) {
		return nil // this tick (or a later one) started a run already
	}
	bumpRun(d)
	t["scheduledAt"] = o.tick.Format(time.RFC3339)
	o.run, _ = intValue(t, "run")
	return nil
}

func (o *scheduledRun) Trailers() []Trailer {
	return []Trailer{{TrailerSchedule, fmt.Sprintf("app=%s tick=%s run=r%d", o.name, o.tick.Format(time.RFC3339), o.run)}}
}
