package spec

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dmls-project/dmls/internal/gates"
)

// Release is an app's release policy: training runs in one environment,
// and the output of a run that succeeded goes to the others as a canary,
// gated on live metrics, promoted along a chain of environments. The
// reconciler of dmls serve carries it out, one ml-model commit a step.
type Release struct {
	// TrainIn is the environment whose training job runs (TrainEnv).
	TrainIn   string          `json:"trainIn,omitempty"`
	Canary    Canary          `json:"canary"`
	Gates     []Gate          `json:"gates,omitempty"`
	Promotion []PromotionStep `json:"promotion,omitempty"`
	// Rejected are the runs whose canary failed in some environment.
	Rejected []int `json:"rejected,omitempty"`
	// State is the reconciler's record of each environment.
	State map[string]ReleaseState `json:"state,omitempty"`
}

// ReleaseState is the reconciler's record of one environment: its last
// step, and the serving settings it left there (ServingTuple).
type ReleaseState struct {
	Step     string `json:"step"`
	Run      int    `json:"run"`
	At       string `json:"at"`
	Serving  string `json:"serving"`
	Finished string `json:"finished,omitempty"`
}

// Release steps.
const (
	StepDeploy   = "deploy"
	StepCanary   = "canary"
	StepFull     = "full"
	StepRollback = "rollback"
	StepResume   = "resume"
)

// ServingTuple is what the reconciler records of a model from training
// in one environment, and what a hand edit changes: the run, the revision,
// the stable revision and the canary's share ("" for unset).
func ServingTuple(run int, revision, stable string, percent *int) string {
	if run == 0 {
		return "run=0" // the environment serves nothing from training
	}
	p := ""
	if percent != nil {
		p = strconv.Itoa(*percent)
	}
	return fmt.Sprintf("run=%d revision=%s stable=%s percent=%s", run, revision, stable, p)
}

// Canary is a share of traffic and how long its gates are evaluated.
type Canary struct {
	Percent  int    `json:"percent"`
	Duration string `json:"duration"`
}

// Gate is a PromQL query whose one value must not exceed Max.
type Gate struct {
	Name  string  `json:"name"`
	Query string  `json:"query"`
	Max   float64 `json:"max"`
	// OnNoData is "wait" or "pass".
	OnNoData string `json:"onNoData"`
}

// What a gate with no samples does (the gates package's words).
const (
	NoDataWait = gates.NoDataWait
	NoDataPass = gates.NoDataPass
)

// PromotionStep promotes the run that fully serves in From to To, after
// a soak time, an approval, or both.
type PromotionStep struct {
	From     string `json:"from"`
	To       string `json:"to"`
	After    string `json:"after,omitempty"`
	Approval bool   `json:"approval,omitempty"`
}

// TrainingOutput is where a training job's runs write.
type TrainingOutput struct {
	StorageURI string `json:"storageUri"`
}

// Schedule starts a training run at each tick of a cron schedule.
type Schedule struct {
	Cron         string `json:"cron"`
	TimeZone     string `json:"timeZone"`
	WhileRunning string `json:"whileRunning"`
}

// OutputEnvVar tells a training job where its run writes.
const OutputEnvVar = "DMLS_OUTPUT_URI"

// DefaultSoak is how long a run serves in one environment before the
// default promotion chain promotes it to the next.
const DefaultSoak = "1h"

// RunOutput is where run writes under a training output.
func RunOutput(output string, run int) string {
	return strings.TrimSuffix(output, "/") + "/r" + strconv.Itoa(run)
}

// RunRevision names the serving revision of run: r<N>.
func RunRevision(run int) string { return "r" + strconv.Itoa(run) }

var runRevision = regexp.MustCompile(`^r([1-9][0-9]{0,6})$`)

// RevisionRun is the run of a revision named by RunRevision, or 0.
func RevisionRun(rev string) int {
	m := runRevision.FindStringSubmatch(rev)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

var durationRE = regexp.MustCompile(`^(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$`)

// MaxDuration bounds every release duration (a canary's, a soak time).
const MaxDuration = 30 * 24 * time.Hour

// ParseDuration reads a release duration: "45s", "30m", "1h", "2d" or
// combined ("1h30m"), at most MaxDuration.
func ParseDuration(s string) (time.Duration, error) {
	m := durationRE.FindStringSubmatch(s)
	if s == "" || m == nil {
		return 0, fmt.Errorf("%q is not a duration; write it as 45s, 30m, 1h, 2d or 1h30m", s)
	}
	var d time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute, time.Second} {
		if m[i+1] == "" {
			continue
		}
		n, err := strconv.ParseInt(m[i+1], 10, 64)
		if err != nil || n > int64(MaxDuration/unit) {
			return 0, fmt.Errorf("%q is longer than %s, the longest a release waits", s, FormatDuration(MaxDuration))
		}
		d += time.Duration(n) * unit
	}
	if d > MaxDuration {
		return 0, fmt.Errorf("%q is longer than %s, the longest a release waits", s, FormatDuration(MaxDuration))
	}
	return d, nil
}

// FormatDuration writes d as ParseDuration reads it, in whole seconds.
func FormatDuration(d time.Duration) string {
	d = d.Round(time.Second)
	if d <= 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		d time.Duration
		s string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.d; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.s)
			d -= n * u.d
		}
	}
	return b.String()
}

// AppEnvs are the environments of ws that app runs in, in order.
func (w *Workspace) AppEnvs(app *AppSpec) []string {
	var out []string
	for _, e := range w.Envs {
		if len(app.Envs) == 0 || slices.Contains(app.Envs, e.Name) {
			out = append(out, e.Name)
		}
	}
	return out
}

// TrainEnv is the environment a release trains in: TrainIn, or else the
// first environment of the promotion chain, or else the first of envs
// (the app's environments in order).
func (r *Release) TrainEnv(envs []string) string {
	switch {
	case r.TrainIn != "":
		return r.TrainIn
	case len(r.Promotion) > 0:
		return r.Promotion[0].From
	case len(envs) > 0:
		return envs[0]
	}
	return ""
}

// Steps is the promotion chain: Promotion, or else one step from each of
// envs (from TrainEnv on) to the next, after DefaultSoak, the step into
// the last environment waiting for an approval too.
func (r *Release) Steps(envs []string) []PromotionStep {
	if len(r.Promotion) > 0 {
		return r.Promotion
	}
	i := slices.Index(envs, r.TrainEnv(envs))
	if i < 0 {
		return nil
	}
	var out []PromotionStep
	for j := i; j+1 < len(envs); j++ {
		out = append(out, PromotionStep{From: envs[j], To: envs[j+1], After: DefaultSoak, Approval: j+2 == len(envs)})
	}
	return out
}

// Chain is the environments a release visits, in order: TrainEnv, then
// each step's To.
func (r *Release) Chain(envs []string) []string {
	out := []string{r.TrainEnv(envs)}
	for _, s := range r.Steps(envs) {
		out = append(out, s.To)
	}
	return out
}

// StepInto is the promotion step whose To is env, or nil.
func (r *Release) StepInto(envs []string, env string) *PromotionStep {
	for _, s := range r.Steps(envs) {
		if s.To == env {
			return &s
		}
	}
	return nil
}

// IsRejected reports whether run is among the rejected.
func (r *Release) IsRejected(run int) bool { return slices.Contains(r.Rejected, run) }
