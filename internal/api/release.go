package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/dmls-project/dmls/internal/apiclient"
	"github.com/dmls-project/dmls/internal/pipeline"
	"github.com/dmls-project/dmls/internal/release"
	"github.com/dmls-project/dmls/internal/specrepo"
)

// defReleaseTarget is the body of the release routes a person takes.
const defReleaseTarget = "#ReleaseTarget"

func (s *Server) releaseRoutes() []*route {
	app := "/v1/teams/{team}/apps/{app}/release"
	return []*route{
		{method: "GET", path: app, id: "getRelease",
			summary: "The app's release pipeline: the run each environment serves, the step under way with its gates' values, and what waits for whom (a run, a soak, an approval, a person after a hand edit).",
			auth:    true, ok: 200, result: "#ReleaseView", h: s.getRelease},
		{method: "POST", path: app + "/approve", id: "approveRelease",
			summary: "Approve the promotion that waits for an approval into env: the run goes in as a canary (or, where nothing serves yet, whole), with the approver in the commit. Anyone who may change the app may approve; 409 when no step waits.",
			auth:    true, mutation: true, body: defReleaseTarget, ok: 202, result: "#Result", h: func(req *request) *response { return s.releaseAction(req, "approve") }},
		{method: "POST", path: app + "/abort", id: "abortRelease",
			summary: "Abort the canary under way in env: all traffic back to the stable run, and the run rejected; 409 when no canary runs there.",
			auth:    true, mutation: true, body: defReleaseTarget, ok: 202, result: "#Result", h: func(req *request) *response { return s.releaseAction(req, "abort") }},
		{method: "POST", path: app + "/resume", id: "resumeRelease",
			summary: "Hand env back to the pipeline after a change made outside it (a hand edit, dmls canary, promote or rollback): it goes on from what the spec holds; 409 when env is not paused.",
			auth:    true, mutation: true, body: defReleaseTarget, ok: 202, result: "#Result", h: func(req *request) *response { return s.releaseAction(req, "resume") }},
	}
}

// releaseEntry finds the app of a release route and checks that it has a
// release policy.
func (s *Server) releaseEntry(req *request) (*specrepo.Snapshot, *specrepo.Entry, *apiError) {
	sn, ent, e := s.view(req)
	if e != nil {
		return nil, nil, e
	}
	if ent.App.Base.Spec.Release == nil {
		return nil, nil, notFound("app %s has no release policy (release)", ent.App.Name)
	}
	return sn, ent, nil
}

func (s *Server) getRelease(req *request) *response {
	sn, ent, e := s.releaseEntry(req)
	if e != nil {
		return errorResponse(e)
	}
	p := s.pipeline.Decide(req.r.Context(), sn, ent, "")
	return &response{status: http.StatusOK, body: p.View(ent.App)}
}

// releaseAction takes a person's step: approve, abort or resume.
func (s *Server) releaseAction(req *request, action string) *response {
	sn, ent, e := s.releaseEntry(req)
	if e != nil {
		return errorResponse(e)
	}
	var body apiclient.ReleaseTarget
	if e := s.action(req, defReleaseTarget, &body); e != nil {
		return errorResponse(e)
	}
	a := ent.App
	approved := ""
	if action == "approve" {
		approved = body.Env
	}
	p := s.pipeline.Decide(req.r.Context(), sn, ent, approved)
	var act *release.Action
	for i := range p.Actions {
		if p.Actions[i].Env == body.Env {
			act = &p.Actions[i]
		}
	}
	if act == nil {
		return errorResponse(badRequest("env", "environment %s is not in the release chain of %s (%v)", body.Env, a.Name, p.Chain))
	}
	st := p.States[body.Env]
	by := req.ident.actor
	switch action {
	case "approve":
		if act.Kind != release.Canary && act.Kind != release.Deploy {
			return errorResponse(conflict("no step waits for an approval into %s: %s", body.Env, act.Reason))
		}
		if step := a.Base.Spec.Release.StepInto(sn.WS.AppEnvs(a.Base.Spec), body.Env); step == nil || !step.Approval {
			return errorResponse(conflict("the step into %s needs no approval (%s)", body.Env, act.Reason))
		}
		act.Reason = fmt.Sprintf("%s, approved by %s", act.Reason, by)
	case "abort":
		if st == nil || !st.Canarying() {
			return errorResponse(conflict("no canary runs in %s to abort", body.Env))
		}
		*act = release.Action{Env: body.Env, Kind: release.Rollback, Run: st.Run, Reject: true,
			Reason: fmt.Sprintf("r%d rolled back in %s: aborted by %s", st.Run, body.Env, by)}
	case "resume":
		why := ""
		if st != nil {
			why = st.PausedBy()
		}
		if why == "" {
			return errorResponse(conflict("the pipeline is not paused in %s: %s", body.Env, act.Reason))
		}
		*act = release.Action{Env: body.Env, Kind: release.Resume, Run: st.Serving(),
			Reason: fmt.Sprintf("%s hands %s back to the pipeline at %s", by, body.Env, st.Tuple())}
	}
	if st == nil {
		st = &release.EnvState{Env: body.Env}
	}
	op := pipeline.StepOp(a.Name, *act, st, time.Now(), by)
	return s.enqueue(req, a.Team, op, http.StatusAccepted)
}
