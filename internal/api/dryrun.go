package api

import (
	"net/http"

	"github.com/dmls-project/dmls/internal/specops"
	"github.com/dmls-project/dmls/internal/submit"
)

// queryDryRun is the query parameter of every change route that asks for
// a dry run: the change is checked and previewed, and nothing is
// committed. The console asks for one before it confirms a change.
const queryDryRun = "dryRun"

// dryRunRequested reads ?dryRun=true|false.
func dryRunRequested(req *request) (bool, *apiError) {
	switch req.r.URL.Query().Get(queryDryRun) {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, badRequest(queryDryRun, "must be true or false")
}

// dryRun answers a change asked for with ?dryRun=true: the writer plans
// it on the latest ml-model and previews it (submit.Writer.DryRun), and
// nothing is committed.
func (s *Server) dryRun(req *request, team string, op specops.Operation) *response {
	res, e := s.writer.DryRun(req.r.Context(), &submit.Job{ID: req.id, Actor: req.ident.actor, Team: team, Op: op}, s.cfg.ReadMaxAge)
	if e != nil {
		return errorResponse(e)
	}
	return &response{status: http.StatusOK, body: res}
}
