package release

import (
	"strings"
	"testing"
	"time"

	"github.com/dmls-project/dmls/internal/spec"
)

var t0 = time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)

func pct(n int) *int { return &n }

// full is an environment serving run fully, as the reconciler left it at at.
func full(env string, run int, at time.Time) *EnvState {
	st := &EnvState{Env: env, Run: run, Revision: spec.RunRevision(run), Canary: spec.Canary{Percent: 10, Duration: "10m"}}
	st.Record = &spec.ReleaseState{Step: spec.StepFull, Run: run, At: at.Format(time.RFC3339), Serving: st.Tuple(), Finished: t0.Add(-time.Hour).Format(time.RFC3339)}
	return st
}

// canary is an environment with a canary of run against stable, started at at.
func canary(env string, run, stable int, at time.Time) *EnvState {
	st := &EnvState{Env: env, Run: run, Revision: spec.RunRevision(run), Stable: spec.RunRevision(stable), Percent: pct(10), Canary: spec.Canary{Percent: 10, Duration: "10m"}}
	st.Record = &spec.ReleaseState{Step: spec.StepCanary, Run: run, At: at.Format(time.RFC3339), Serving: st.Tuple()}
	return st
}

func empty(env string) *EnvState {
	return &EnvState{Env: env, Canary: spec.Canary{Percent: 10, Duration: "10m"}}
}

func policy() *spec.Release {
	return &spec.Release{Promotion: []spec.PromotionStep{
		{From: "dev", To: "staging", After: "1h"},
		{From: "staging", To: "prod", Approval: true},
	}}
}

func input(states ...*EnvState) Input {
	in := Input{App: "mnist", Release: policy(), Envs: []string{"dev", "staging", "prod"}, TrainRun: 7,
		States: map[string]*EnvState{}, Revisions: map[string]Revision{}, Gates: map[string][]GateResult{}, Now: t0}
	for _, s := range []string{"dev", "staging", "prod"} {
		in.States[s] = full(s, 6, t0.Add(-48*time.Hour))
	}
	for _, s := range states {
		in.States[s.Env] = s
	}
	return in
}

func ready() Revision { return Revision{Known: true, Ready: true} }

func gate(v Verdict, value float64) GateResult {
	return GateResult{Name: "error-rate", Query: "q", Value: value, Max: 0.01, Verdict: v, OnNoData: spec.NoDataWait}
}

func TestDecide(t *testing.T) {
	succeeded := &Job{Run: 7, State: "Succeeded", FinishedAt: t0.Add(-time.Minute)}
	tests := []struct {
		name   string
		in     func() Input
		env    string
		kind   Kind
		reason string // a part of the reason
		check  func(t *testing.T, a Action)
	}{
		{name: "no run yet", env: "dev", kind: None, reason: "no training run", in: func() Input {
			in := input()
			in.TrainRun = 0
			return in
		}},
		{name: "job not observed", env: "dev", kind: Wait, reason: "to be observed", in: func() Input { return input() }},
		{name: "job of an older run", env: "dev", kind: Wait, reason: "to be observed", in: func() Input {
			in := input()
			in.Job = &Job{Run: 6, State: "Succeeded"}
			return in
		}},
		{name: "job running", env: "dev", kind: Wait, reason: "r7 is Running", in: func() Input {
			in := input()
			in.Job = &Job{Run: 7, State: "Running"}
			return in
		}},
		{name: "job failed", env: "dev", kind: None, reason: "r7 failed", in: func() Input {
			in := input()
			in.Job = &Job{Run: 7, State: "Failed"}
			return in
		}},
		{name: "run succeeded: canary", env: "dev", kind: Canary, reason: "serving model r6 → r7, canary 10%", in: func() Input {
			in := input()
			in.Job = succeeded
			return in
		}, check: func(t *testing.T, a Action) {
			if a.Run != 7 || a.Stable != 6 || a.Percent != 10 || !a.Finished.Equal(succeeded.FinishedAt) {
				t.Errorf("got %+v", a)
			}
		}},
		{name: "run succeeded, nothing served yet: deploy", env: "dev", kind: Deploy, reason: "first run", in: func() Input {
			in := input(empty("dev"))
			in.Job = succeeded
			return in
		}},
		{name: "run succeeded but rejected", env: "dev", kind: None, reason: "serves r6", in: func() Input {
			in := input()
			in.Job = succeeded
			in.Release.Rejected = []int{7}
			return in
		}},
		{name: "run succeeded twice: already served", env: "dev", kind: None, reason: "serves r7", in: func() Input {
			in := input(full("dev", 7, t0.Add(-time.Minute)))
			in.Job = succeeded
			return in
		}},
		{name: "hand edit pauses", env: "dev", kind: Paused, reason: "changed outside the release pipeline", in: func() Input {
			st := full("dev", 6, t0.Add(-time.Hour))
			st.Percent = pct(50)
			st.Stable = "r5"
			in := input(st)
			in.Job = succeeded
			return in
		}},
		{name: "resumed after a hand edit", env: "dev", kind: Canary, in: func() Input {
			st := full("dev", 5, t0.Add(-time.Hour))
			st.Record.Step = spec.StepResume
			in := input(st)
			in.Job = succeeded
			return in
		}, check: func(t *testing.T, a Action) {
			if a.Stable != 5 {
				t.Errorf("stable r%d, want r5", a.Stable)
			}
		}},
		{name: "canary: revision unknown", env: "dev", kind: Wait, reason: "not known", in: func() Input {
			return input(canary("dev", 7, 6, t0.Add(-time.Minute)))
		}},
		{name: "canary: revision not ready", env: "dev", kind: Wait, reason: "to be Ready", in: func() Input {
			in := input(canary("dev", 7, 6, t0.Add(-time.Minute)))
			in.Revisions["dev"] = Revision{Known: true}
			return in
		}},
		{name: "canary: revision never ready", env: "dev", kind: Rollback, reason: "not Ready after 20m", in: func() Input {
			in := input(canary("dev", 7, 6, t0.Add(-21*time.Minute)))
			in.Revisions["dev"] = Revision{Known: true}
			return in
		}},
		{name: "canary: revision crashed", env: "dev", kind: Rollback, reason: "crashed: ExitCode 1", in: func() Input {
			in := input(canary("dev", 7, 6, t0.Add(-time.Minute)))
			in.Revisions["dev"] = Revision{Known: true, Ready: true, Crashed: "ExitCode 1"}
			return in
		}},
		{name: "canary: gates hold, time not up", env: "dev", kind: Wait, reason: "gates hold so far, 1m of 10m", in: func() Input {
			in := input(canary("dev", 7, 6, t0.Add(-time.Minute)))
			in.Revisions["dev"] = ready()
			in.Gates["dev"] = []GateResult{gate(Pass, 0.001)}
			return in
		}},
		{name: "canary: gates held for the duration", env: "dev", kind: Full, reason: "r6 → r7, the gates held for 10m", in: func() Input {
			in := input(canary("dev", 7, 6, t0.Add(-10*time.Minute)))
			in.Revisions["dev"] = ready()
			in.Gates["dev"] = []GateResult{gate(Pass, 0.001)}
			return in
		}, check: func(t *testing.T, a Action) {
			if len(a.Gates) != 1 || !strings.Contains(a.Gates[0].String(), `error-rate pass: 0.001 (max 0.01) query="q"`) {
				t.Errorf("evidence %v", a.Gates)
			}
		}},
		{name: "canary: gate fails", env: "dev", kind: Rollback, reason: "gate error-rate is 0.2, above its max 0.01", in: func() Input {
			in := input(canary("dev", 7, 6, t0.Add(-time.Minute)))
			in.Revisions["dev"] = ready()
			in.Gates["dev"] = []GateResult{gate(Fail, 0.2)}
			return in
		}, check: func(t *testing.T, a Action) {
			if !a.Reject || a.Run != 7 {
				t.Errorf("a rollback must reject r7: %+v", a)
			}
		}},
		{name: "canary: query refused pauses", env: "dev", kind: Paused, reason: "refuses its query", in: func() Input {
			in := input(canary("dev", 7, 6, t0.Add(-time.Minute)))
			in.Revisions["dev"] = ready()
			g := gate(Error, 0)
			g.Refused, g.Err = true, "parse error"
			in.Gates["dev"] = []GateResult{g}
			return in
		}},
		{name: "canary: Prometheus down waits", env: "dev", kind: Wait, reason: "retrying", in: func() Input {
			in := input(canary("dev", 7, 6, t0.Add(-30*time.Minute)))
			in.Revisions["dev"] = ready()
			g := gate(Error, 0)
			g.Err = "connection refused"
			in.Gates["dev"] = []GateResult{g}
			return in
		}},
		{name: "canary: no data waits", env: "dev", kind: Wait, reason: "no data yet", in: func() Input {
			in := input(canary("dev", 7, 6, t0.Add(-15*time.Minute)))
			in.Revisions["dev"] = ready()
			in.Gates["dev"] = []GateResult{gate(NoData, 0)}
			return in
		}},
		{name: "canary: no data for twice the duration fails", env: "dev", kind: Rollback, reason: "no data for 20m", in: func() Input {
			in := input(canary("dev", 7, 6, t0.Add(-20*time.Minute)))
			in.Revisions["dev"] = ready()
			in.Gates["dev"] = []GateResult{gate(NoData, 0)}
			return in
		}},
		{name: "canary: no data passes with onNoData pass", env: "dev", kind: Full, in: func() Input {
			in := input(canary("dev", 7, 6, t0.Add(-10*time.Minute)))
			in.Revisions["dev"] = ready()
			g := gate(NoData, 0)
			g.OnNoData = spec.NoDataPass
			in.Gates["dev"] = []GateResult{g}
			return in
		}},
		{name: "canary: rejected run rolls back", env: "dev", kind: Rollback, reason: "rejected", in: func() Input {
			in := input(canary("dev", 7, 6, t0.Add(-time.Minute)))
			in.Release.Rejected = []int{7}
			return in
		}},
		{name: "canary: bad duration pauses", env: "dev", kind: Paused, reason: "release.canary.duration", in: func() Input {
			st := canary("dev", 7, 6, t0.Add(-time.Minute))
			st.Canary.Duration = "soon"
			return input(st)
		}},
		{name: "canary without a record: its time is up", env: "dev", kind: Full, in: func() Input {
			st := canary("dev", 7, 6, t0)
			st.Record = nil
			in := input(st)
			in.Revisions["dev"] = ready()
			return in
		}},
		{name: "promotion waits for the canary before", env: "staging", kind: Wait, reason: "waits for dev", in: func() Input {
			return input(canary("dev", 7, 6, t0.Add(-time.Minute)))
		}},
		{name: "promotion waits for the soak", env: "staging", kind: Wait, reason: "r7 soaks in dev until 2026-12-07T03:30:00Z", in: func() Input {
			return input(full("dev", 7, t0.Add(-30*time.Minute)))
		}, check: func(t *testing.T, a Action) {
			if !a.Until.Equal(t0.Add(30 * time.Minute)) {
				t.Errorf("until %v", a.Until)
			}
		}},
		{name: "promotion after the soak", env: "staging", kind: Canary, reason: "r6 → r7", in: func() Input {
			return input(full("dev", 7, t0.Add(-time.Hour)))
		}, check: func(t *testing.T, a Action) {
			if a.From != "dev" || a.Finished.IsZero() {
				t.Errorf("the promotion must say where from and carry the run's finish: %+v", a)
			}
		}},
		{name: "promotion of a rolled-back environment's stable run: nothing", env: "staging", kind: None, reason: "serves r6", in: func() Input {
			st := canary("dev", 7, 6, t0.Add(-time.Hour))
			st.Percent = pct(0)
			st.Record = &spec.ReleaseState{Step: spec.StepRollback, Run: 7, At: t0.Format(time.RFC3339), Serving: st.Tuple()}
			in := input(st)
			in.Release.Rejected = []int{7}
			return in
		}},
		{name: "approval awaited", env: "prod", kind: Approval, reason: "dmls approve mnist --env prod", in: func() Input {
			return input(full("dev", 7, t0.Add(-3*time.Hour)), full("staging", 7, t0.Add(-time.Hour)))
		}},
		{name: "approved", env: "prod", kind: Canary, in: func() Input {
			in := input(full("dev", 7, t0.Add(-3*time.Hour)), full("staging", 7, t0.Add(-time.Hour)))
			in.Approved = "prod"
			return in
		}},
		{name: "approval before the soak is still a wait", env: "prod", kind: Wait, reason: "soaks", in: func() Input {
			in := input(full("dev", 7, t0.Add(-3*time.Hour)), full("staging", 7, t0.Add(-time.Minute)))
			in.Release.Promotion[1].After = "1h"
			in.Approved = "prod"
			return in
		}},
		{name: "a newer run never steps back", env: "staging", kind: None, reason: "serves r8", in: func() Input {
			return input(full("dev", 7, t0.Add(-3*time.Hour)), full("staging", 8, t0.Add(-time.Hour)))
		}},
		{name: "paused environment before holds the next", env: "staging", kind: Wait, reason: "waits for dev", in: func() Input {
			st := full("dev", 7, t0.Add(-3*time.Hour))
			st.Run = 8
			st.Revision = "r8"
			return input(st)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			actions := Decide(tt.in())
			if len(actions) != 3 {
				t.Fatalf("%d actions, want one per environment of the chain", len(actions))
			}
			var a Action
			for _, x := range actions {
				if x.Env == tt.env {
					a = x
				}
			}
			if a.Kind != tt.kind || !strings.Contains(a.Reason, tt.reason) {
				t.Fatalf("%s: %s %q, want %s with %q", tt.env, a.Kind, a.Reason, tt.kind, tt.reason)
			}
			if tt.check != nil {
				tt.check(t, a)
			}
		})
	}
}

func TestDefaultChain(t *testing.T) {
	r := &spec.Release{}
	envs := []string{"dev", "staging", "prod"}
	steps := r.Steps(envs)
	if len(steps) != 2 || steps[0] != (spec.PromotionStep{From: "dev", To: "staging", After: "1h"}) ||
		steps[1] != (spec.PromotionStep{From: "staging", To: "prod", After: "1h", Approval: true}) {
		t.Fatalf("default chain %+v", steps)
	}
	r.TrainIn = "staging"
	if c := r.Chain(envs); strings.Join(c, ",") != "staging,prod" {
		t.Fatalf("chain from trainIn staging: %v", c)
	}
}

func TestNext(t *testing.T) {
	if Next([]Action{{Kind: Wait}, {Kind: Approval}}) != nil {
		t.Fatal("nothing commits")
	}
	if a := Next([]Action{{Kind: Wait}, {Env: "staging", Kind: Canary}}); a == nil || a.Env != "staging" {
		t.Fatalf("got %+v", a)
	}
}
