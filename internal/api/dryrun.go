package api

import (
	"errors"
	"net/http"

	"github.com/dmls-project/dmls/internal/apiclient"
	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/diff"
	"github.com/dmls-project/dmls/internal/preview"
	"github.com/dmls-project/dmls/internal/specops"
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

// dryRun plans op on the latest ml-model exactly as the writer plans a
// batch (the same checks, the same field errors), commits nothing, and
// answers with the preview of what the change would do to the config:
// the semantic summary and risks of dmls diff (internal/preview), from
// the workspace as it is to the workspace with the change.
func (s *Server) dryRun(req *request, team string, op specops.Operation) *response {
	sn, err := s.store.Current(req.r.Context(), s.cfg.ReadMaxAge)
	if err != nil {
		return errorResponse(gitFailure("read ml-model", err))
	}
	j := &job{id: req.id, actor: req.ident.actor, team: team, op: op}
	p := s.writer.plan(sn, []*job{j})
	if o := p.outcomes[0]; o != nil {
		if o.err != nil {
			return errorResponse(o.err)
		}
		return &response{status: http.StatusOK, body: o.result}
	}
	res := &apiclient.Result{
		RequestID: req.id, Operation: op.Kind(), Team: team, App: op.AppName(), Changed: p.changed[0],
		Commits: []apiclient.Commit{}, Applications: applications(sn.EntryByName(op.AppName())), DryRun: true,
		Preview: &apiclient.Preview{Summary: []apiclient.PreviewLine{}, Risks: []apiclient.PreviewLine{}},
	}
	if p.next != nil {
		res.Warnings = appWarnings(op, p.next.EntryByName(op.AppName()))
	}
	if len(p.changes) == 0 {
		return &response{status: http.StatusOK, body: res}
	}
	// Both sides come from the snapshots the plan used: their apps are
	// those the store loaded and built already, and only the changed app
	// was evaluated again. A base that does not build counts as empty.
	base := preview.Built{Rev: sn.SHA}
	if bres, bws, err := sn.Build(); err == nil {
		base.WS, base.Res = bws, bres
	}
	head := preview.Built{Rev: "the change"}
	hres, hws, err := p.next.Build()
	if err == nil {
		head.WS, head.Res = hws, hres
	}
	var report *diff.Report
	if err == nil {
		report, err = preview.Compare(base, head, preview.Options{})
	}
	if err != nil {
		// The plan checked the change as the writer does, so this is
		// not the request's fault.
		var d diag.List
		if errors.As(err, &d) {
			return errorResponse(errorf(http.StatusConflict, "the change cannot be previewed: %s", firstLine(d.Error())))
		}
		return errorResponse(errorf(http.StatusInternalServerError, "preview the change: %v", err))
	}
	for _, l := range report.Summary {
		res.Preview.Summary = append(res.Preview.Summary, apiclient.PreviewLine{Where: l.Where, What: l.What})
	}
	for _, l := range report.Risks {
		res.Preview.Risks = append(res.Preview.Risks, apiclient.PreviewLine{Where: l.Where, What: l.What})
	}
	return &response{status: http.StatusOK, body: res}
}
