package api

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"

	"github.com/dmls-project/dmls/internal/apiclient"
	"github.com/dmls-project/dmls/internal/schema"
	"github.com/dmls-project/dmls/internal/specops"
	"github.com/dmls-project/dmls/internal/specrepo"
	"github.com/dmls-project/dmls/internal/submit"
)

// route is one endpoint. The same table registers the handlers and writes
// the paths of the OpenAPI document, so the two cannot differ.
type route struct {
	method  string
	path    string // a net/http.ServeMux pattern without the method
	id      string // OpenAPI operationId
	summary string
	// auth requires a bearer token; team routes also require the token's
	// team (or an admin token).
	auth bool
	// mutation reads a body (within MaxBodyBytes) and honours
	// Idempotency-Key.
	mutation bool
	// body is the CUE definition of the request body, if any.
	body        string
	contentType string
	// ok is the status of success and result the CUE definition of its body.
	ok     int
	result string
	query  []queryParam
	h      func(*request) *response
	// raw routes answer on their own, without JSON, auth or audit.
	raw http.Handler
}

type queryParam struct {
	name, description, typ string
}

func (s *Server) routes() []*route {
	team := "/v1/teams/{team}"
	return append([]*route{
		{method: "GET", path: "/healthz", id: "healthz", summary: "The process is alive.", ok: 200, raw: http.HandlerFunc(s.healthz)},
		{method: "GET", path: "/readyz", id: "readyz", summary: "The server has read the workspace and takes changes.", ok: 200, raw: http.HandlerFunc(s.readyz)},
		{method: "GET", path: "/metrics", id: "metrics", summary: "Prometheus metrics.", ok: 200, raw: s.metricsHandler()},
		{method: "GET", path: "/openapi.json", id: "openapi", summary: "This document.", ok: 200, raw: http.HandlerFunc(s.serveOpenAPI)},
		{method: "GET", path: "/v1/whoami", id: "whoami", summary: "Who the token is: a team token's team and actor, or a user's name, groups and teams.", auth: true, ok: 200, result: "#Identity", h: s.whoami},
		{method: "GET", path: "/v1/auth/config", id: "getAuthConfig", summary: "How to log in: the identity provider's issuer and client ID (no token needed).", ok: 200, result: "#AuthConfig", h: s.authConfig},

		{method: "POST", path: team + "/trainingjobs", id: "submitTrainingJob", summary: "Submit a training job: create the app, or add a training job to an app of the team that has none.",
			auth: true, mutation: true, body: "#TrainingJobSubmission", ok: 201, result: "#Result", h: s.submitTrainingJob},
		{method: "GET", path: team + "/trainingjobs", id: "listTrainingJobs", summary: "List the team's training jobs.", auth: true, ok: 200, result: "#TrainingJobList", h: s.listTrainingJobs},
		{method: "GET", path: team + "/trainingjobs/{app}", id: "getTrainingJob", summary: "Get a training job, its spec and the commit that last changed it.", auth: true, ok: 200, result: "#TrainingJobView", h: s.getTrainingJob},
		{method: "PATCH", path: team + "/trainingjobs/{app}", id: "setTrainingJob", summary: "Change parameters (replicas, image, args, hyperparameters, resources, ...) by JSON merge patch.",
			auth: true, mutation: true, body: "#TrainingJobPatch", contentType: "application/merge-patch+json", ok: 202, result: "#Result", h: s.setTrainingJob,
			query: []queryParam{
				{"env", "Change overrides.<env>.training instead of the app's own training job.", "string"},
				{"retrain", "Also start a new run in the same commit.", "boolean"},
			}},
		{method: "POST", path: team + "/trainingjobs/{app}/retrain", id: "retrain", summary: "Start a new run: training.run + 1, a new TFJob or TrainJob <app>-r<run>.",
			auth: true, mutation: true, ok: 202, result: "#Result", h: s.retrain},
		{method: "DELETE", path: team + "/trainingjobs/{app}", id: "deleteTrainingJob", summary: "Delete the training job (and the app, when nothing else is left in it).",
			auth: true, mutation: true, ok: 202, result: "#Result", h: s.deleteTrainingJob},

		{method: "POST", path: team + "/modelservices", id: "submitModelService", summary: "Submit a model service: create the app, or add a model service to an app of the team that has none.",
			auth: true, mutation: true, body: "#ModelServiceSubmission", ok: 201, result: "#Result", h: s.submitModelService},
		{method: "GET", path: team + "/modelservices", id: "listModelServices", summary: "List the team's model services.", auth: true, ok: 200, result: "#ModelServiceList", h: s.listModelServices},
		{method: "GET", path: team + "/modelservices/{app}", id: "getModelService", summary: "Get a model service, its spec, traffic and the commit that last changed it.", auth: true, ok: 200, result: "#ModelServiceView", h: s.getModelService},
		{method: "DELETE", path: team + "/modelservices/{app}", id: "deleteModelService", summary: "Delete the model service (and the app, when nothing else is left in it).",
			auth: true, mutation: true, ok: 202, result: "#Result", h: s.deleteModelService},
		{method: "POST", path: team + "/modelservices/{app}/rollouts", id: "rollout", summary: "Roll out a new model version (image or storage URI) as a new revision, optionally as a canary.",
			auth: true, mutation: true, body: defRollout, ok: 202, result: "#Result", h: s.rollout},
		{method: "PUT", path: team + "/modelservices/{app}/canary", id: "setCanary", summary: "Set the canary's share of traffic.",
			auth: true, mutation: true, body: defCanaryUpdate, ok: 202, result: "#Result", h: s.setCanary},
		{method: "POST", path: team + "/modelservices/{app}/canary/promote", id: "promoteCanary", summary: "Send all traffic to the canary revision.",
			auth: true, mutation: true, body: defTarget, ok: 202, result: "#Result", h: s.promoteCanary},
		{method: "POST", path: team + "/modelservices/{app}/rollback", id: "rollback", summary: "Send all traffic back to the previous revision.",
			auth: true, mutation: true, body: defTarget, ok: 202, result: "#Result", h: s.rollback},

		{method: "POST", path: team + "/apps/{app}/promote", id: "promote", summary: "Promote the version an app runs in one environment to the next (dev → staging → prod).",
			auth: true, mutation: true, body: defPromotion, ok: 202, result: "#Result", h: s.promote},
	}, append(s.releaseRoutes(), s.statusRoutes()...)...)
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte("ok\n"))
}

func (s *Server) serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(s.openapi)
}

// authorize checks that the token may act for the path's team, and that
// the platform has that team.
func (s *Server) authorize(req *request) (string, *apiError) {
	team := req.r.PathValue("team")
	if !req.ident.mayActFor(team) {
		return "", forbiddenTeam(req.ident, team)
	}
	if !s.ready.Load() {
		return "", unavailable(s.retryAfter(), "the server has not read the workspace yet")
	}
	if sn := s.store.Latest(); sn != nil {
		if p := sn.Platform(); p != nil {
			if _, ok := p.Teams[team]; !ok {
				return "", notFound("the platform has no team %s; its teams are %v", team, slices.Sorted(maps.Keys(p.Teams)))
			}
		}
	}
	return team, nil
}

// enqueue hands a change to the writer and waits for its outcome. The
// wait does not end when the client goes away: an accepted change is
// always finished, and its answer kept for an Idempotency-Key.
func (s *Server) enqueue(req *request, team string, op specops.Operation, okStatus int) *response {
	if dry, e := dryRunRequested(req); e != nil {
		return errorResponse(e)
	} else if dry {
		return s.dryRun(req, team, op)
	}
	j := &submit.Job{ID: req.id, Actor: req.ident.actor, ActorID: req.ident.actorTrailer(), Team: team, Op: op, IdemKey: req.idemKey, IdemFP: req.idemFP}
	s.mu.RLock()
	if s.draining {
		s.mu.RUnlock()
		return errorResponse(unavailable(s.retryAfter(), "the server is shutting down; try again (another replica takes over)"))
	}
	if !s.ready.Load() {
		s.mu.RUnlock()
		return errorResponse(unavailable(s.retryAfter(), "the server has not read the workspace yet"))
	}
	done, ok := s.writer.Enqueue(j)
	s.mu.RUnlock()
	if !ok {
		e := errorf(http.StatusTooManyRequests, "too many changes are waiting (%d); try again shortly", s.cfg.QueueSize)
		e.RetryAfter = s.retryAfter()
		return errorResponse(e)
	}
	o := <-done
	if o.Err != nil {
		return errorResponse(o.Err)
	}
	status := okStatus
	if !o.Result.Changed {
		status = http.StatusOK
	}
	if o.Replayed {
		// Found in ml-model's history (after a restart, or by another
		// replica): a replay as much as one from memory.
		s.metrics.replays.Inc()
	}
	return &response{status: status, body: o.Result, replayed: o.Replayed}
}

// submission checks the shape of a submission body: an #App with one
// section, without team. The workspace loader checks the rest, with the
// same findings as for spec files.
func submission(body []byte, team, section string) (map[string]any, *apiError) {
	m, err := specops.DecodeJSON(body)
	if err != nil {
		return nil, badRequest("", "the body must be a JSON object: %v", err)
	}
	allowed := map[string]bool{"name": true, "envs": true, "labels": true, "overrides": true, "release": true, section: true}
	for k := range m {
		if k == "team" {
			if m[k] != team {
				return nil, badRequest("team", "the team is %s, from the path; leave team out", team)
			}
			delete(m, k)
			continue
		}
		if !allowed[k] {
			return nil, badRequest(k, "field not allowed: a %s submission holds name, envs, labels, %s, release and overrides", specops.SectionNoun(section), section)
		}
	}
	name, _ := m["name"].(string)
	if msg := schema.AppNameProblem(name); msg != "" {
		return nil, badRequest("name", "%s", msg)
	}
	if _, ok := m[section].(map[string]any); !ok {
		return nil, badRequest(section, "required: a %s object", section)
	}
	if o, ok := m["overrides"]; ok {
		om, ok := o.(map[string]any)
		if !ok {
			return nil, badRequest("overrides", "must be an object of environments")
		}
		for env, v := range om {
			em, ok := v.(map[string]any)
			if !ok {
				return nil, badRequest("overrides."+env, "must be an object")
			}
			for k := range em {
				if k != section && k != "release" {
					return nil, badRequest("overrides."+env+"."+k, "field not allowed: overrides of a %s submission hold %s and release only", specops.SectionNoun(section), section)
				}
			}
		}
	}
	return m, nil
}

func (s *Server) submitTrainingJob(req *request) *response {
	return s.submit(req, specops.Training)
}

func (s *Server) submitModelService(req *request) *response {
	return s.submit(req, specops.Serving)
}

func (s *Server) submit(req *request, section string) *response {
	team, e := s.authorize(req)
	if e != nil {
		return errorResponse(e)
	}
	body, e := submission(req.body, team, section)
	if e != nil {
		return errorResponse(e)
	}
	return s.enqueue(req, team, specops.Submit(body["name"].(string), section, body), http.StatusCreated)
}

func (s *Server) setTrainingJob(req *request) *response {
	team, e := s.authorize(req)
	if e != nil {
		return errorResponse(e)
	}
	patch, err := specops.DecodeJSON(req.body)
	if err != nil {
		return errorResponse(badRequest("", "the body must be a JSON merge patch of a training job (a JSON object): %v", err))
	}
	q := req.r.URL.Query()
	retrain := false
	switch q.Get("retrain") {
	case "", "false":
	case "true":
		retrain = true
	default:
		return errorResponse(badRequest("retrain", "must be true or false"))
	}
	return s.enqueue(req, team, specops.PatchTraining(req.r.PathValue("app"), q.Get("env"), patch, retrain), http.StatusAccepted)
}

func (s *Server) retrain(req *request) *response {
	team, e := s.authorize(req)
	if e != nil {
		return errorResponse(e)
	}
	if len(req.body) > 0 {
		if m, err := specops.DecodeJSON(req.body); err != nil || len(m) > 0 {
			return errorResponse(badRequest("", "retrain takes no body (or {})"))
		}
	}
	return s.enqueue(req, team, specops.Retrain(req.r.PathValue("app")), http.StatusAccepted)
}

func (s *Server) deleteTrainingJob(req *request) *response {
	return s.remove(req, specops.Training)
}

func (s *Server) deleteModelService(req *request) *response {
	return s.remove(req, specops.Serving)
}

func (s *Server) remove(req *request, section string) *response {
	team, e := s.authorize(req)
	if e != nil {
		return errorResponse(e)
	}
	return s.enqueue(req, team, specops.Remove(req.r.PathValue("app"), section), http.StatusAccepted)
}

// action decodes a body valid against def into v.
func (s *Server) action(req *request, def string, v any) *apiError {
	body := req.body
	if len(body) == 0 {
		body = []byte("{}")
	}
	if errs := checkBody(s.schema, def, body); len(errs) > 0 {
		return &apiError{Status: http.StatusBadRequest, Errors: errs}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return badRequest("", "%v", err)
	}
	return nil
}

// handleAction authorizes req, decodes its body, an instance of def, into
// a T, and queues the operation op makes of it for the app in the path.
func handleAction[T any](s *Server, req *request, def string, op func(app string, body T) specops.Operation) *response {
	team, e := s.authorize(req)
	if e != nil {
		return errorResponse(e)
	}
	var body T
	if e := s.action(req, def, &body); e != nil {
		return errorResponse(e)
	}
	return s.enqueue(req, team, op(req.r.PathValue("app"), body), http.StatusAccepted)
}

func (s *Server) rollout(req *request) *response {
	return handleAction(s, req, defRollout, func(app string, r apiclient.Rollout) specops.Operation {
		return specops.Rollout(app, r)
	})
}

func (s *Server) setCanary(req *request) *response {
	return handleAction(s, req, defCanaryUpdate, func(app string, u apiclient.CanaryUpdate) specops.Operation {
		return specops.SetCanary(app, u)
	})
}

func (s *Server) promoteCanary(req *request) *response {
	return handleAction(s, req, defTarget, func(app string, t apiclient.Target) specops.Operation {
		return specops.PromoteCanary(app, t.Env)
	})
}

func (s *Server) rollback(req *request) *response {
	return handleAction(s, req, defTarget, func(app string, t apiclient.Target) specops.Operation {
		return specops.Rollback(app, t.Env)
	})
}

func (s *Server) promote(req *request) *response {
	return handleAction(s, req, defPromotion, func(app string, p apiclient.Promotion) specops.Operation {
		return specops.Promote(app, p)
	})
}

// view reads the latest snapshot for a GET and finds app of the path's team.
func (s *Server) view(req *request) (*specrepo.Snapshot, *specrepo.Entry, *apiError) {
	team, e := s.authorize(req)
	if e != nil {
		return nil, nil, e
	}
	sn, err := s.store.Current(req.r.Context(), s.cfg.ReadMaxAge)
	if err != nil {
		return nil, nil, submit.GitFailure("read ml-model", err)
	}
	if req.r.PathValue("app") == "" {
		return sn, nil, nil
	}
	name := req.r.PathValue("app")
	ent := sn.EntryByName(name)
	switch {
	case ent == nil:
		return nil, nil, notFound("team %s has no app %s", team, name)
	case ent.App == nil || !ent.Valid():
		return nil, nil, conflict("app %s has errors in ml-model: %s", name, firstLine(ent.Diags.Error()))
	case ent.App.Team != team:
		return nil, nil, forbidden("app %s belongs to team %s", name, ent.App.Team)
	}
	return sn, ent, nil
}

func (s *Server) getTrainingJob(req *request) *response {
	sn, ent, e := s.view(req)
	if e != nil {
		return errorResponse(e)
	}
	v := trainingView(sn, ent)
	if v == nil {
		return errorResponse(notFound("app %s has no training job", ent.App.Name))
	}
	return &response{status: http.StatusOK, body: v}
}

func (s *Server) getModelService(req *request) *response {
	sn, ent, e := s.view(req)
	if e != nil {
		return errorResponse(e)
	}
	v := serviceView(sn, ent)
	if v == nil {
		return errorResponse(notFound("app %s has no model service", ent.App.Name))
	}
	return &response{status: http.StatusOK, body: v}
}

func (s *Server) listTrainingJobs(req *request) *response {
	sn, _, e := s.view(req)
	if e != nil {
		return errorResponse(e)
	}
	out := apiclient.TrainingJobList{Items: []apiclient.TrainingJob{}}
	for _, name := range slices.Sorted(maps.Keys(sn.ByName)) {
		if ent := sn.ByName[name]; ent.App.Team == req.r.PathValue("team") {
			if v := trainingView(sn, ent); v != nil {
				out.Items = append(out.Items, *v)
			}
		}
	}
	return &response{status: http.StatusOK, body: out}
}

func (s *Server) listModelServices(req *request) *response {
	sn, _, e := s.view(req)
	if e != nil {
		return errorResponse(e)
	}
	out := apiclient.ModelServiceList{Items: []apiclient.ModelService{}}
	for _, name := range slices.Sorted(maps.Keys(sn.ByName)) {
		if ent := sn.ByName[name]; ent.App.Team == req.r.PathValue("team") {
			if v := serviceView(sn, ent); v != nil {
				out.Items = append(out.Items, *v)
			}
		}
	}
	return &response{status: http.StatusOK, body: out}
}
