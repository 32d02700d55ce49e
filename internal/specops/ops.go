package specops

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dmls-project/dmls/internal/apiclient"
	"github.com/dmls-project/dmls/internal/spec"
)

// Sections of an app that operations change.
const (
	Training = "training"
	Serving  = "serving"
)

// PreviousTag is the Knative route tag that keeps the revision a rollout
// replaced: it stays routable (at 0%) and Knative does not collect it, so
// a rollback can send traffic back to it by name.
const PreviousTag = "previous"

// Operation is one change to one app. The API calls Apply on a copy of
// the app's document, in the order requests arrived; Apply is pure (no
// I/O) and returns an *Error for a request that cannot apply. It may run
// more than once for one request (after a lost race), so it must depend
// on its arguments only.
type Operation interface {
	// Kind names the operation in results, commit messages and the audit log.
	Kind() string
	// AppName is the app the operation changes.
	AppName() string
	// Creates reports whether the operation may create the app.
	Creates() bool
	// SectionName is the part of the app the operation is about: Training,
	// Serving, or "" for both.
	SectionName() string
	// Apply changes d. Use the package's Apply, which runs the checks
	// every operation shares first.
	Apply(c *Context, d *Doc) error
	// BodyPath maps a finding's spec path in the app to the field of the
	// request body that caused it.
	BodyPath(specPath string) string
}

// Context is what operations know of the workspace and the request.
type Context struct {
	// Team is the team the request acts for.
	Team string
	// Envs are the environment names in promotion order.
	Envs []string
}

func (c *Context) hasEnv(env string) bool { return slices.Contains(c.Envs, env) }

// checkEnv validates an env field of a request against the app.
func (c *Context) checkEnv(d *Doc, field, env string) error {
	if env == "" {
		return nil
	}
	if !c.hasEnv(env) {
		return invalid(field, "unknown environment %q; the environments are %s", env, strings.Join(c.Envs, ", "))
	}
	if !d.RunsIn(env) {
		return invalid(field, "app %s does not run in environment %s (see its envs)", d.Name, env)
	}
	return nil
}

// submit adds a training job or a model service to an app, creating it.
type submit struct {
	name string
	sec  string
	body map[string]any
}

func (o *submit) Kind() string {
	if o.sec == Training {
		return "submit-training-job"
	}
	return "submit-model-service"
}
func (o *submit) AppName() string          { return o.name }
func (o *submit) Creates() bool            { return true }
func (o *submit) SectionName() string      { return o.sec }
func (o *submit) BodyPath(p string) string { return p }
func (o *submit) Apply(c *Context, d *Doc) error {
	body := deepCopy(o.body).(map[string]any)
	if !d.Exists() {
		body["team"] = c.Team
		if o.sec == Serving {
			defaultRevision(body)
		}
		d.Data = body
		d.Managed = true
		return nil
	}
	if d.Section(o.sec) != nil {
		what := "a training job"
		if o.sec == Serving {
			what = "a model service"
		}
		return conflict("app %s already has %s; change it instead of submitting another", d.Name, what)
	}
	for _, k := range []string{"envs", "labels"} {
		if v, ok := body[k]; ok && !equalAny(v, d.Data[k]) {
			return conflictAt(k, "app %s exists with other %s; leave %s out to keep the app's", d.Name, k, k)
		}
	}
	if r, ok := body["release"]; ok {
		if d.Data["release"] != nil && !equalAny(r, d.Data["release"]) {
			return conflictAt("release", "app %s has another release policy; leave release out to keep the app's", d.Name)
		}
		d.Data["release"] = r
	}
	if o.sec == Serving {
		defaultRevision(body)
	}
	d.Data[o.sec] = body[o.sec]
	if ov, ok := body["overrides"].(map[string]any); ok {
		for env, v := range ov {
			for _, k := range []string{o.sec, "release"} {
				if sec := asMap(v)[k]; sec != nil {
					child(child(d.Data, "overrides", true), env, true)[k] = sec
				}
			}
		}
	}
	return nil
}

// defaultRevision names the first revision of a new model service, so
// that the first rollout has a revision to keep as stable.
func defaultRevision(body map[string]any) {
	// A model from training names its revisions after its runs (r<N>).
	if s, ok := body[Serving].(map[string]any); ok && str(s, "revision") == "" && asMap(s["model"])["fromTraining"] != true {
		s["revision"] = "v1"
	}
}

func equalAny(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// patchTraining changes parameters of a training job by JSON merge patch.
type patchTraining struct {
	name    string
	env     string
	patch   map[string]any
	retrain bool
}

func (o *patchTraining) Kind() string        { return "set-training-job" }
func (o *patchTraining) AppName() string     { return o.name }
func (o *patchTraining) Creates() bool       { return false }
func (o *patchTraining) SectionName() string { return Training }
func (o *patchTraining) BodyPath(p string) string {
	if o.env != "" {
		if rest, ok := cutSpecPrefix(p, "overrides."+o.env+".training"); ok {
			return rest
		}
	}
	if rest, ok := cutSpecPrefix(p, "training"); ok {
		return rest
	}
	return p
}
func (o *patchTraining) Apply(c *Context, d *Doc) error {
	if d.Section(Training) == nil {
		return notFound("app %s has no training job", d.Name)
	}
	if err := c.checkEnv(d, "env", o.env); err != nil {
		return err
	}
	if _, ok := o.patch["run"]; ok {
		return invalid("run", "run cannot be set; POST .../retrain (or ?retrain=true) starts a new run")
	}
	mergePatch(d.Target(o.env, Training), o.patch)
	if o.retrain {
		bumpRun(d)
	}
	return nil
}

// retrain starts a new run: training.run + 1, so a new TFJob <app>-r<run>.
type retrain struct{ name string }

func (o *retrain) Kind() string             { return "retrain" }
func (o *retrain) AppName() string          { return o.name }
func (o *retrain) Creates() bool            { return false }
func (o *retrain) SectionName() string      { return Training }
func (o *retrain) BodyPath(p string) string { return p }
func (o *retrain) Apply(c *Context, d *Doc) error {
	if d.Section(Training) == nil {
		return notFound("app %s has no training job", d.Name)
	}
	bumpRun(d)
	return nil
}

// bumpRun sets training.run to one more than the highest run of any
// environment, and drops runs from the overrides so that every environment
// starts the same run.
func bumpRun(d *Doc) {
	run := 1
	if n, ok := intValue(d.Section(Training), "run"); ok {
		run = n
	}
	if o, ok := d.Data["overrides"].(map[string]any); ok {
		for _, v := range o {
			if t := child(asMap(v), Training, false); t != nil {
				if n, ok := intValue(t, "run"); ok && n > run {
					run = n
				}
				delete(t, "run")
			}
		}
	}
	d.Section(Training)["run"] = json.Number(strconv.Itoa(run + 1))
	// A job that kept its own name (dmls import) would keep it for every
	// run; the new run is a new object, <app>-r<run>.
	delete(d.Section(Training), "name")
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// remove deletes a training job or a model service, and the app when
// nothing is left.
type remove struct {
	name string
	sec  string
}

func (o *remove) Kind() string {
	if o.sec == Training {
		return "delete-training-job"
	}
	return "delete-model-service"
}
func (o *remove) AppName() string          { return o.name }
func (o *remove) Creates() bool            { return false }
func (o *remove) SectionName() string      { return o.sec }
func (o *remove) BodyPath(p string) string { return p }
func (o *remove) Apply(c *Context, d *Doc) error {
	if d.Section(o.sec) == nil {
		return notFound("app %s has no %s", d.Name, SectionNoun(o.sec))
	}
	delete(d.Data, o.sec)
	d.DropOverrides(o.sec)
	if d.Section(Training) == nil && d.Section(Serving) == nil {
		d.Data = nil
	}
	return nil
}

func SectionNoun(sec string) string {
	if sec == Training {
		return "training job"
	}
	return "model service"
}

// rollout rolls out a new version of a model service.
type rollout struct {
	name string
	r    apiclient.Rollout
}

func (o *rollout) Kind() string        { return "rollout" }
func (o *rollout) AppName() string     { return o.name }
func (o *rollout) Creates() bool       { return false }
func (o *rollout) SectionName() string { return Serving }
func (o *rollout) BodyPath(p string) string {
	return servingBodyPath(p, o.r.Env, map[string]string{
		"image": "image", "model.storageUri": "storageUri", "model": "storageUri",
		"revision": "revision", "traffic.canaryPercent": "canaryPercent", "traffic.stable": "canaryPercent",
	})
}
func (o *rollout) Apply(c *Context, d *Doc) error {
	if d.Section(Serving) == nil {
		return notFound("app %s has no model service", d.Name)
	}
	if err := c.checkEnv(d, "env", o.r.Env); err != nil {
		return err
	}
	if (o.r.Image == "") == (o.r.StorageURI == "") {
		return invalid("", "set exactly one of image and storageUri")
	}
	if asMap(d.Effective(o.r.Env, Serving)["model"])["fromTraining"] == true {
		return conflictAt("storageUri", "app %s serves a model from training (serving.model.fromTraining): its runs go out through the release pipeline, or by serving.model.run", d.Name)
	}
	return deploy(d, o.r.Env, version{image: o.r.Image, storageURI: o.r.StorageURI, revision: o.r.Revision}, o.r.CanaryPercent)
}

// version is what a rollout or a promotion deploys.
type version struct {
	image, storageURI, revision string
}

// deploy makes env (or the app's own settings) run v: a new revision,
// with a canary of canary percent against the revision that served until
// now, or with all traffic once it is ready. The replaced revision is kept
// under the "previous" tag for rollbacks.
func deploy(d *Doc, env string, v version, canary *int) error {
	eff := d.Effective(env, Serving)
	cur := str(eff, "revision")
	serving := servingRevision(eff)
	rev := v.revision
	if rev == "" {
		rev = nextRevision(cur, serving)
	}
	effImage := str(eff, "image")
	effURI := str(asMap(eff["model"]), "storageUri")
	if rev == cur {
		if v.image == effImage && v.storageURI == effURI {
			return nil // already deployed
		}
		return conflictAt("revision", "revision %s already runs %s; a new version needs a new revision name", rev, orDash(effImage+effURI))
	}
	if rev == serving && canary != nil {
		return conflictAt("revision", "revision %s is the one serving now; name the new revision differently", rev)
	}
	t := d.Target(env, Serving)
	switch {
	case v.image != "":
		if env != "" && d.Section(Serving)["model"] != nil {
			return conflictAt("image", "app %s serves a model from storage in its own settings; roll out a storageUri in %s, or roll out the image without env", d.Name, env)
		}
		t["image"] = v.image
		delete(t, "model")
	default:
		if env != "" && str(d.Section(Serving), "image") != "" {
			return conflictAt("storageUri", "app %s serves an image in its own settings; roll out an image in %s, or the storageUri without env", d.Name, env)
		}
		delete(t, "image")
		m := child(t, "model", true)
		m["storageUri"] = v.storageURI
	}
	t["revision"] = rev
	tr := child(t, "traffic", true)
	if isKServe(eff) {
		// KServe splits by canaryTrafficPercent between the latest spec
		// and the revision it rolled out last; stable only names it.
		if canary != nil {
			if serving != "" {
				tr["stable"] = serving
			}
			tr["canaryPercent"] = json.Number(strconv.Itoa(*canary))
		} else {
			allToRevision(d, env, tr)
		}
		return nil
	}
	if canary != nil {
		if serving == "" {
			return conflictAt("canaryPercent", "app %s has no named revision serving now, so there is nothing to keep as stable; roll out without canaryPercent first", d.Name)
		}
		tr["stable"] = serving
		tr["canaryPercent"] = json.Number(strconv.Itoa(*canary))
	} else {
		allToRevision(d, env, tr)
	}
	if eff := d.Effective(env, Serving); asMap(eff["traffic"])["pinned"] == true {
		tr["pinned"] = false
	}
	if serving != "" && serving != rev {
		child(tr, "tags", true)[PreviousTag] = serving
	}
	return nil
}

// allToRevision ends a canary in tr (env's traffic settings): all traffic
// goes to the template's revision. A canary that comes from the app's own
// settings cannot be removed from an override, so the override sends it
// 100% instead.
func allToRevision(d *Doc, env string, tr map[string]any) {
	delete(tr, "stable")
	delete(tr, "canaryPercent")
	if eff := d.Effective(env, Serving); hasCanary(eff) {
		tr["canaryPercent"] = json.Number("100")
	}
}

// isKServe reports whether a model service (its effective settings) runs
// on KServe, whose canary is canaryTrafficPercent against the revision it
// rolled out last, and which has no named routes.
func isKServe(eff map[string]any) bool { return str(eff, "runtime") == "kserve" }

// hasCanary reports whether a canary is set up in traffic settings tr of
// a service: a stable revision on Knative, a canary percent on KServe.
func hasCanary(eff map[string]any) bool {
	tr := asMap(eff["traffic"])
	if isKServe(eff) {
		_, ok := intValue(tr, "canaryPercent")
		return ok
	}
	return str(tr, "stable") != ""
}

// servingRevision is the revision that serves (most of) the traffic: the
// stable one while a canary runs or after a rollback, else the template's.
func servingRevision(eff map[string]any) string {
	tr := asMap(eff["traffic"])
	if stable := str(tr, "stable"); stable != "" {
		if p, ok := intValue(tr, "canaryPercent"); !ok || p < 100 {
			return stable
		}
	}
	return str(eff, "revision")
}

var revisionNumber = regexp.MustCompile(`^(.*?)([0-9]+)$`)

// nextRevision names the revision after cur: v3 after v2, blue-2 after
// blue; never the one serving.
func nextRevision(cur, serving string) string {
	next := func(r string) string {
		if m := revisionNumber.FindStringSubmatch(r); m != nil {
			n, _ := strconv.Atoi(m[2])
			return m[1] + strconv.Itoa(n+1)
		}
		if r == "" {
			return "v1"
		}
		return r + "-2"
	}
	rev := next(cur)
	for rev == serving || rev == cur {
		rev = next(rev)
	}
	return rev
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// setCanary changes the canary's share of traffic.
type setCanary struct {
	name string
	u    apiclient.CanaryUpdate
}

func (o *setCanary) Kind() string        { return "set-canary" }
func (o *setCanary) AppName() string     { return o.name }
func (o *setCanary) Creates() bool       { return false }
func (o *setCanary) SectionName() string { return Serving }
func (o *setCanary) BodyPath(p string) string {
	return servingBodyPath(p, o.u.Env, map[string]string{"traffic.canaryPercent": "percent"})
}
func (o *setCanary) Apply(c *Context, d *Doc) error {
	if d.Section(Serving) == nil {
		return notFound("app %s has no model service", d.Name)
	}
	if err := c.checkEnv(d, "env", o.u.Env); err != nil {
		return err
	}
	if !hasCanary(d.Effective(o.u.Env, Serving)) {
		return conflict("app %s has no canary%s: roll out with canaryPercent first", d.Name, inEnv(o.u.Env))
	}
	child(d.Target(o.u.Env, Serving), "traffic", true)["canaryPercent"] = json.Number(strconv.Itoa(o.u.Percent))
	return nil
}

// promoteCanary sends all traffic to the canary.
type promoteCanary struct {
	name string
	env  string
}

func (o *promoteCanary) Kind() string             { return "promote-canary" }
func (o *promoteCanary) AppName() string          { return o.name }
func (o *promoteCanary) Creates() bool            { return false }
func (o *promoteCanary) SectionName() string      { return Serving }
func (o *promoteCanary) BodyPath(p string) string { return p }
func (o *promoteCanary) Apply(c *Context, d *Doc) error {
	if d.Section(Serving) == nil {
		return notFound("app %s has no model service", d.Name)
	}
	if err := c.checkEnv(d, "env", o.env); err != nil {
		return err
	}
	svc := d.Effective(o.env, Serving)
	eff := asMap(svc["traffic"])
	stable := str(eff, "stable")
	if !hasCanary(svc) {
		return conflict("app %s has no canary%s to promote", d.Name, inEnv(o.env))
	}
	if p, _ := intValue(eff, "canaryPercent"); p == 100 {
		return nil // already promoted
	}
	tr := child(d.Target(o.env, Serving), "traffic", true)
	allToRevision(d, o.env, tr)
	if !isKServe(svc) {
		child(tr, "tags", true)[PreviousTag] = stable
	}
	return nil
}

// rollback sends all traffic back to the revision that served before.
type rollback struct {
	name string
	env  string
}

func (o *rollback) Kind() string             { return "rollback" }
func (o *rollback) AppName() string          { return o.name }
func (o *rollback) Creates() bool            { return false }
func (o *rollback) SectionName() string      { return Serving }
func (o *rollback) BodyPath(p string) string { return p }
func (o *rollback) Apply(c *Context, d *Doc) error {
	if d.Section(Serving) == nil {
		return notFound("app %s has no model service", d.Name)
	}
	if err := c.checkEnv(d, "env", o.env); err != nil {
		return err
	}
	eff := d.Effective(o.env, Serving)
	tr := asMap(eff["traffic"])
	target := child(d.Target(o.env, Serving), "traffic", true)
	if isKServe(eff) {
		// canaryTrafficPercent 0 sends everything to the revision KServe
		// rolled out last; after a full rollout KServe steps back to the
		// one rolled out before it.
		if p, ok := intValue(tr, "canaryPercent"); ok && p == 0 {
			return nil // already rolled back
		}
		target["canaryPercent"] = json.Number("0")
		return nil
	}
	if stable := str(tr, "stable"); stable != "" {
		if p, ok := intValue(tr, "canaryPercent"); ok && p == 0 {
			return nil // already rolled back
		}
		target["canaryPercent"] = json.Number("0")
		return nil
	}
	prev := str(asMap(tr["tags"]), PreviousTag)
	if prev == "" || prev == str(eff, "revision") {
		return conflict("app %s has no previous revision%s to roll back to", d.Name, inEnv(o.env))
	}
	target["stable"] = prev
	target["canaryPercent"] = json.Number("0")
	if tr["pinned"] == true {
		target["pinned"] = false
	}
	return nil
}

// promoteEnv copies the version an app runs in one environment to the next.
type promoteEnv struct {
	name string
	p    apiclient.Promotion
}

func (o *promoteEnv) Kind() string             { return "promote" }
func (o *promoteEnv) AppName() string          { return o.name }
func (o *promoteEnv) Creates() bool            { return false }
func (o *promoteEnv) SectionName() string      { return "" }
func (o *promoteEnv) BodyPath(p string) string { return p }
func (o *promoteEnv) Apply(c *Context, d *Doc) error {
	if err := c.checkEnv(d, "from", o.p.From); err != nil {
		return err
	}
	i := slices.Index(c.Envs, o.p.From)
	if i == len(c.Envs)-1 {
		return invalid("from", "%s is the last environment; there is nothing to promote to", o.p.From)
	}
	next := c.Envs[i+1]
	to := o.p.To
	if to == "" {
		to = next
	}
	if to != next {
		return invalid("to", "promote one environment at a time: after %s comes %s", o.p.From, next)
	}
	if err := c.checkEnv(d, "to", to); err != nil {
		return err
	}
	promoted := false
	if from := d.Effective(o.p.From, Serving); from != nil {
		tr := asMap(from["traffic"])
		if hasCanary(from) {
			if p, _ := intValue(tr, "canaryPercent"); p != 100 {
				return conflict("a canary runs in %s; promote it or roll it back before promoting %s", o.p.From, d.Name)
			}
		}
		if m := asMap(from["model"]); m["fromTraining"] == true {
			// A model from training is promoted by its run, as the
			// release pipeline does (which this pauses in to).
			run, ok := intValue(m, "run")
			if !ok {
				return conflict("app %s serves no training run in %s yet; there is nothing to promote", d.Name, o.p.From)
			}
			t := d.Override(to, Serving, true)
			child(t, "model", true)["run"] = json.Number(strconv.Itoa(run))
			t["revision"] = spec.RunRevision(run)
			allToRevision(d, to, child(t, "traffic", true))
			promoted = true
		} else if err := promoteVersion(d, o.p.From, to, from); err != nil {
			return err
		} else {
			promoted = true
		}
	}
	if from := d.Effective(o.p.From, Training); from != nil && d.Data["release"] == nil {
		if img := str(from, "image"); img != "" && img != str(d.Effective(to, Training), "image") {
			d.Override(to, Training, true)["image"] = img
		}
		promoted = true
	}
	if !promoted {
		return notFound("app %s has neither a training job nor a model service", d.Name)
	}
	return nil
}

// promoteVersion deploys in to the version from (the effective serving
// settings of env fromEnv) runs.
func promoteVersion(d *Doc, fromEnv, to string, from map[string]any) error {
	v := version{image: str(from, "image"), storageURI: str(asMap(from["model"]), "storageUri"), revision: str(from, "revision")}
	if v.revision == "" {
		return conflict("app %s has no serving.revision in %s; a promotion needs a named revision", d.Name, fromEnv)
	}
	return deploy(d, to, v, nil)
}

func inEnv(env string) string {
	if env == "" {
		return ""
	}
	return " in " + env
}

// servingBodyPath maps a serving spec path of env to a body field.
func servingBodyPath(p, env string, fields map[string]string) string {
	for _, prefix := range []string{"overrides." + env + ".serving", "serving"} {
		if rest, ok := cutSpecPrefix(p, prefix); ok {
			if f, ok := fields[rest]; ok {
				return f
			}
		}
	}
	return p
}

// cutSpecPrefix removes prefix (a whole path element) from p.
func cutSpecPrefix(p, prefix string) (string, bool) {
	if p == prefix {
		return "", true
	}
	if rest, ok := strings.CutPrefix(p, prefix+"."); ok {
		return rest, true
	}
	return "", false
}

// describe is a one-line summary of what o does, for commit messages.
func Describe(o Operation) string {
	switch x := o.(type) {
	case *patchTraining:
		keys := slices.Sorted(maps.Keys(x.patch))
		s := fmt.Sprintf("set %s", strings.Join(keys, ", "))
		if x.env != "" {
			s += " in " + x.env
		}
		if x.retrain {
			s += " and retrain"
		}
		return s
	case *rollout:
		v := x.r.Image
		if v == "" {
			v = x.r.StorageURI
		}
		s := "roll out " + v + inEnv(x.r.Env)
		if x.r.CanaryPercent != nil {
			s += fmt.Sprintf(" as a %d%% canary", *x.r.CanaryPercent)
		}
		return s
	case *setCanary:
		return fmt.Sprintf("canary at %d%%%s", x.u.Percent, inEnv(x.u.Env))
	case *promoteCanary:
		return "promote the canary" + inEnv(x.env)
	case *rollback:
		return "roll back" + inEnv(x.env)
	case *promoteEnv:
		return fmt.Sprintf("promote from %s", x.p.From)
	case *releaseStep:
		return describeRelease(x)
	case *scheduledRun:
		return "scheduled run of " + x.tick.Format(time.RFC3339)
	}
	return o.Kind()
}
