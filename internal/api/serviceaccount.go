package api

import (
	"context"

	"github.com/dmls-project/dmls/internal/spec"
)

// TokenReviewer checks a Kubernetes service-account token against the
// cluster (a TokenReview) and returns the user the cluster says it is
// ("system:serviceaccount:<namespace>:<name>") and the audiences it
// holds. It is safe for concurrent use.
type TokenReviewer interface {
	Review(ctx context.Context, token string, audiences []string) (user string, audiences2 []string, err error)
}

// serviceAccountsOn reports whether p maps service accounts to teams.
func (s *Server) serviceAccountsOn(p *spec.Platform) bool {
	return p != nil && p.Auth != nil && len(p.Auth.ServiceAccounts) > 0 && s.cfg.Reviewer != nil
}

// serviceAccount authenticates token as a service account of
// api.auth.serviceAccounts; ok is false when it is not one.
func (s *Server) serviceAccount(ctx context.Context, p *spec.Platform, token string) (identity, *apiError, bool) {
	if !s.serviceAccountsOn(p) {
		return identity{}, nil, false
	}
	return identity{}, nil, false
}
