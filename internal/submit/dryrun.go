package submit

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/dmls-project/dmls/internal/apiclient"
	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/diff"
	"github.com/dmls-project/dmls/internal/preview"
)

// DryRun plans j on the latest ml-model (at most maxAge old) exactly as
// the writer plans a batch (the same checks, the same field errors), commits nothing, and
// answers with the preview of what the change would do to the config:
// the semantic summary and risks of dmls diff (internal/preview), from
// the workspace as it is to the workspace with the change.
func (w *Writer) DryRun(ctx context.Context, j *Job, maxAge time.Duration) (*apiclient.Result, *Error) {
	sn, err := w.repo.Current(ctx, maxAge)
	if err != nil {
		return nil, GitFailure("read ml-model", err)
	}
	op := j.Op
	p := w.plan(sn, []*Job{j})
	if o := p.outcomes[0]; o != nil {
		return o.Result, o.Err
	}
	res := &apiclient.Result{
		RequestID: j.ID, Operation: op.Kind(), Team: j.Team, App: op.AppName(), Changed: p.changed[0],
		Commits: []apiclient.Commit{}, Applications: sn.EntryByName(op.AppName()).Applications(), DryRun: true,
		Preview: &apiclient.Preview{Summary: []apiclient.PreviewLine{}, Risks: []apiclient.PreviewLine{}},
	}
	if p.next != nil {
		res.Warnings = appWarnings(op, p.next.EntryByName(op.AppName()))
	}
	if len(p.changes) == 0 {
		return res, nil
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
			return nil, Errorf(http.StatusConflict, "the change cannot be previewed: %s", firstLine(d.Error()))
		}
		return nil, Errorf(http.StatusInternalServerError, "preview the change: %v", err)
	}
	for _, l := range report.Summary {
		res.Preview.Summary = append(res.Preview.Summary, apiclient.PreviewLine{Where: l.Where, What: l.What})
	}
	for _, l := range report.Risks {
		res.Preview.Risks = append(res.Preview.Risks, apiclient.PreviewLine{Where: l.Where, What: l.What})
	}
	return res, nil
}
