package specops

import "github.com/dmls-project/dmls/internal/apiclient"

// Apply runs the checks every operation shares (the app exists unless op
// creates it, belongs to c.Team and is API-managed), then op, then tidies
// the document. It returns an *Error for a request that cannot apply; d
// may be half-changed then, so apply to a Clone.
func Apply(c *Context, op Operation, d *Doc) error {
	switch {
	case !d.Exists() && !op.Creates():
		return notFound("team %s has no app %s", c.Team, d.Name)
	case d.Exists() && d.Team() != c.Team:
		return errorOf(Forbidden, "", "app %s belongs to team %s", d.Name, d.Team())
	case d.Exists() && !d.Managed:
		return conflict("app %s is written by hand (apps/%s holds spec files other than %s): change it in git; the API only reads it", d.Name, d.Name, FileName)
	}
	if err := op.Apply(c, d); err != nil {
		return err
	}
	if !op.Creates() {
		d.Tidy() // what the user submitted stays as it is
	}
	return nil
}

// Submit adds the training job (section Training) or model service
// (Serving) of body, an #App without team, to app, creating the app.
func Submit(app, section string, body map[string]any) Operation {
	return &submit{name: app, sec: section, body: body}
}

// PatchTraining changes the training job of app by JSON merge patch
// (RFC 7386): its own settings, or overrides.<env>.training when env is
// set; retrain also starts a new run.
func PatchTraining(app, env string, patch map[string]any, retrain bool) Operation {
	return &patchTraining{name: app, env: env, patch: patch, retrain: retrain}
}

// Retrain starts a new run of app's training job: training.run + 1.
func Retrain(app string) Operation { return &retrain{name: app} }

// Remove deletes the training job or the model service of app, and the
// app when nothing is left.
func Remove(app, section string) Operation { return &remove{name: app, sec: section} }

// Rollout rolls out a new version of app's model service: a new
// revision (named as nextRevision does unless r names it), as a canary
// when r sets canaryPercent.
func Rollout(app string, r apiclient.Rollout) Operation { return &rollout{name: app, r: r} }

// SetCanary changes the canary's share of traffic.
func SetCanary(app string, u apiclient.CanaryUpdate) Operation { return &setCanary{name: app, u: u} }

// PromoteCanary sends all traffic to the canary, in env or the app's own
// settings.
func PromoteCanary(app, env string) Operation { return &promoteCanary{name: app, env: env} }

// Rollback sends all traffic back to the revision that served before.
func Rollback(app, env string) Operation { return &rollback{name: app, env: env} }

// Promote copies the version app runs in p.From to the next environment.
func Promote(app string, p apiclient.Promotion) Operation { return &promoteEnv{name: app, p: p} }
