package status

import (
	"fmt"
	"strings"
)

// severity orders the workload states: the lowest index wins.
var severity = []State{Failed, Degraded, Deploying, Running, Serving, Succeeded}

func worse(a, b State) bool {
	return rank(a) < rank(b)
}

func rank(s State) int {
	for i, x := range severity {
		if x == s {
			return i
		}
	}
	return len(severity)
}

// Summarize sets e.State and e.Reason from what e holds, by the rule of
// the package documentation.
func Summarize(e *Environment) {
	e.State, e.Reason = summarize(e)
	if t := e.Training; t != nil {
		t.State, _ = trainingState(t)
	}
	if s := e.Serving; s != nil {
		s.State, _ = servingState(s)
	}
}

func summarize(e *Environment) (State, string) {
	if e.Error != "" {
		return Unknown, "cannot read the cluster: " + e.Error
	}
	a := e.Application
	if a == nil || !a.Found {
		name := ""
		if a != nil {
			name = " " + a.Name
		}
		return Deploying, fmt.Sprintf("Argo CD has no Application%s yet", name)
	}
	op := a.Operation
	if e.Commit != "" && a.Revision != e.Commit && !e.RevisionIncludesCommit {
		if op.failed() && op.Revision == e.Commit {
			return OutOfSync, fmt.Sprintf("the sync of %s failed: %s", Short(e.Commit), op.Message)
		}
		if a.Revision == "" {
			return Deploying, fmt.Sprintf("Argo CD has not compared the Application with git yet; dmls published %s", Short(e.Commit))
		}
		return Deploying, fmt.Sprintf("Argo CD is at %s; dmls published %s", Short(a.Revision), Short(e.Commit))
	}
	if op.running() {
		return Deploying, "a sync is running: " + op.Message
	}
	switch a.Sync {
	case "Synced":
	case "OutOfSync":
		if op.failed() {
			return OutOfSync, "the last sync failed: " + op.Message
		}
		return OutOfSync, "the live objects differ from git" + conditionText(a.Conditions)
	default:
		return Unknown, fmt.Sprintf("Argo CD's sync status is %q%s", a.Sync, conditionText(a.Conditions))
	}

	state, reason := State(""), ""
	consider := func(s State, r string) {
		if state == "" || worse(s, state) {
			state, reason = s, r
		}
	}
	if t := e.Training; t != nil {
		consider(trainingState(t))
	}
	if s := e.Serving; s != nil {
		consider(servingState(s))
	}
	switch a.Health {
	case "Degraded":
		if state != Failed {
			msg := "Argo CD reports the Application Degraded"
			if a.HealthMessage != "" {
				msg += ": " + a.HealthMessage
			}
			consider(Degraded, msg)
		}
	case "Missing":
		consider(Deploying, "Argo CD reports objects missing")
	}
	if state == "" {
		return Running, "synced and " + a.Health
	}
	return state, reason
}

// trainingState is the state of a TFJob or TrainJob from its conditions
// (and, for a job that Kueue queues, its Workload's).
func trainingState(t *Training) (State, string) {
	if t.Kind == "TrainJob" {
		return trainJobState(t)
	}
	if !t.Found {
		return Deploying, fmt.Sprintf("TFJob %s does not exist yet", t.Name)
	}
	if w := t.Workload; w != nil && (w.State == WorkloadPending || w.State == WorkloadPreempted) {
		return Deploying, queued(t)
	}
	has := map[string]Condition{}
	for _, c := range t.Conditions {
		if c.Status == "True" {
			has[c.Type] = c
		}
	}
	why := func(c Condition) string {
		s := fmt.Sprintf("TFJob %s %s", t.Name, c.Type)
		if c.Reason != "" {
			s += " (" + c.Reason + ")"
		}
		if c.Message != "" {
			s += ": " + c.Message
		}
		return s
	}
	for _, x := range []struct {
		cond  string
		state State
	}{{"Failed", Failed}, {"Succeeded", Succeeded}, {"Restarting", Running}, {"Running", Running}, {"Created", Deploying}} {
		if c, ok := has[x.cond]; ok {
			return x.state, why(c)
		}
	}
	return Deploying, fmt.Sprintf("TFJob %s has no status yet", t.Name)
}

// servingState is the state of a Knative Service or InferenceService from
// its Ready condition.
func servingState(s *Service) (State, string) {
	if !s.Found {
		return Deploying, fmt.Sprintf("%s %s does not exist yet", s.Kind, s.Name)
	}
	why := fmt.Sprintf("%s %s Ready=%s", s.Kind, s.Name, s.Ready)
	if s.Reason != "" {
		why += " (" + s.Reason + ")"
	}
	if s.Message != "" {
		why += ": " + s.Message
	}
	switch s.Ready {
	case "True":
		return Serving, fmt.Sprintf("%s %s is ready at %s", s.Kind, s.Name, s.URL)
	case "False":
		return Degraded, why
	}
	if s.Ready == "" {
		return Deploying, fmt.Sprintf("%s %s has no status yet", s.Kind, s.Name)
	}
	return Deploying, why
}

func conditionText(cs []Condition) string {
	for _, c := range cs {
		if c.Message != "" {
			return ": " + c.Type + ": " + c.Message
		}
	}
	return ""
}

// Outcome is what --wait makes of a state.
type Outcome int

// Outcomes of Done.
const (
	Wait Outcome = iota
	Done
	Fail
)

// Done reports whether waiting for s may stop: Serving and Succeeded are
// done, Failed and Degraded fail, every other state waits.
func DoneState(s State) Outcome {
	switch s {
	case Serving, Succeeded:
		return Done
	case Failed, Degraded:
		return Fail
	}
	return Wait
}

// Overall is the outcome of waiting for every environment of v: Fail when
// one fails, Done when all are done, else Wait.
func Overall(v *View) Outcome {
	out := Done
	for i := range v.Environments {
		switch DoneState(v.Environments[i].State) {
		case Fail:
			return Fail
		case Wait:
			out = Wait
		}
	}
	if len(v.Environments) == 0 {
		return Wait
	}
	return out
}

// trainJobState is the state of a Trainer v2 TrainJob: Complete and Failed
// are final; a suspended job waits in its queue; otherwise it runs.
func trainJobState(t *Training) (State, string) {
	if !t.Found {
		return Deploying, fmt.Sprintf("TrainJob %s does not exist yet", t.Name)
	}
	why := func(c Condition) string {
		s := fmt.Sprintf("TrainJob %s %s", t.Name, c.Type)
		if c.Reason != "" {
			s += " (" + c.Reason + ")"
		}
		if c.Message != "" {
			s += ": " + c.Message
		}
		return s
	}
	suspended := t.Suspended
	for _, c := range t.Conditions {
		if c.Status != "True" {
			continue
		}
		switch c.Type {
		case "Failed":
			return Failed, why(c)
		case "Complete":
			return Succeeded, why(c)
		case "Suspended":
			suspended = true
		}
	}
	if w := t.Workload; suspended || w != nil && (w.State == WorkloadPending || w.State == WorkloadPreempted) {
		return Deploying, queued(t)
	}
	return Running, fmt.Sprintf("TrainJob %s is running", t.Name)
}

// queued says why a job waits in its Kueue queue, and where.
func queued(t *Training) string {
	kind := t.Kind
	if kind == "" {
		kind = "TFJob"
	}
	w := t.Workload
	if w == nil {
		return fmt.Sprintf("%s %s is suspended until Kueue admits it", kind, t.Name)
	}
	s := fmt.Sprintf("%s %s is %s in Kueue", kind, t.Name, strings.ToLower(w.State))
	if w.Position != nil {
		s += fmt.Sprintf(" at position %d of its queue", *w.Position)
	}
	if w.Reason != "" {
		s += " (" + w.Reason + ")"
	}
	if w.Message != "" {
		s += ": " + w.Message
	}
	return s
}
