package api

import (
	"context"
	"os"
	"time"

	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/publish"
	"github.com/dmls-project/dmls/internal/refresh"
	"github.com/dmls-project/dmls/internal/spec"
)

// refreshTimeout bounds one notification of Argo CD.
const refreshTimeout = 15 * time.Second

// notifyArgoCD tells Argo CD what a publish pushed, as argocd.refresh of
// platform.cue says, in the background: it is best effort, a failure is
// a logged warning, and Argo CD's poll catches up.
func (s *Server) notifyArgoCD(p *spec.Platform, res *build.Result, results []publish.Result) {
	rc := p.ArgoCD.Refresh
	pushes := refresh.Pushes(p, results)
	if rc == nil || len(pushes) == 0 {
		return
	}
	n := &refresh.Notifier{Config: rc, Namespace: p.ArgoCD.Namespace, Applications: refresh.Applications(res.ArgoCD), Getenv: os.Getenv}
	if s.cfg.Status != nil {
		n.Cluster = s.cfg.Status.ArgoCD
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), refreshTimeout)
		defer cancel()
		refreshed, warnings := n.Notify(ctx, pushes)
		for _, w := range warnings {
			s.log.Warn(w)
		}
		if len(refreshed) > 0 {
			s.log.Info("refreshed Argo CD Applications", "applications", refreshed)
		}
	}()
}
