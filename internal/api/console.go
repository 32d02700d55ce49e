package api

import (
	"maps"
	"net/http"
	"path"
	"slices"

	"github.com/dmls-project/dmls/internal/console"
	"github.com/dmls-project/dmls/internal/gitops"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/submit"
)

// historyLength is how many commits the history route returns.
const historyLength = 50

// consoleRoutes are the routes the web console needs beyond the others:
// the console itself, what the platform looks like, and an app's history.
func (s *Server) consoleRoutes() []*route {
	return []*route{
		{method: "GET", path: console.Prefix, id: "console", summary: "The web console (HTML, CSS and JavaScript; sign in with a team token).", ok: 200, raw: console.Handler(s.consoleOrigins)},
		{method: "GET", path: "/v1/platform", id: "getPlatform", summary: "The platform as the console shows it: its teams, environments and the Argo CD UI.", auth: true, ok: 200, result: "#PlatformInfo", h: s.platformInfo},
		{method: "GET", path: "/v1/teams/{team}/apps/{app}/history", id: "getAppHistory", summary: "The ml-model commits that changed the app's folder, newest first: author, message and time.", auth: true, ok: 200, result: "#History", h: s.appHistory},
	}
}

func (s *Server) platformInfo(req *request) *response {
	if !s.ready.Load() {
		return errorResponse(unavailable(s.retryAfter(), "the server has not read the workspace yet"))
	}
	sn := s.store.Latest()
	if sn == nil || sn.Platform() == nil {
		return errorResponse(unavailable(s.retryAfter(), "the workspace in ml-model does not load"))
	}
	p := sn.Platform()
	out := map[string]any{"name": p.Name, "argocdNamespace": p.ArgoCD.Namespace, "environments": []string{}, "teams": map[string]any{}}
	if p.ArgoCD.URL != "" {
		out["argocdUrl"] = p.ArgoCD.URL
	}
	var envs []string
	for _, e := range sn.WS.Envs {
		envs = append(envs, e.Name)
	}
	if envs != nil {
		out["environments"] = envs
	}
	teams := map[string]any{}
	for _, t := range slices.Sorted(maps.Keys(p.Teams)) {
		if req.ident.mayActFor(t) {
			teams[t] = map[string]any{"description": p.Teams[t].Description}
		}
	}
	out["teams"] = teams
	return &response{status: http.StatusOK, body: out}
}

func (s *Server) appHistory(req *request) *response {
	_, ent, e := s.view(req)
	if e != nil {
		return errorResponse(e)
	}
	dir := path.Join(s.cfg.Prefix, layout.AppsDir, ent.Dir)
	var items []gitops.CommitInfo
	h := s.store.History()
	if err := h.Graph(req.r.Context(), h.MLModel(), "", func(g *gitops.CommitGraph) { items = g.Log([]string{dir}, historyLength) }); err != nil {
		return errorResponse(submit.GitFailure("read ml-model", err))
	}
	return &response{status: http.StatusOK, body: map[string]any{"items": items}}
}
