package api

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dmls-project/dmls/internal/apiclient"
	"github.com/dmls-project/dmls/internal/oidcauth"
	"github.com/dmls-project/dmls/internal/spec"
)

// Scopes asks the identity provider for: the ID token carries the email
// and the groups (Dex and most providers give groups for the groups
// scope; others ignore it).
var oidcScopes = []string{"openid", "email", "profile", "groups"}

// Methods of authentication, the labels of the logins metric.
const (
	methodToken          = "token"
	methodOIDC           = "oidc"
	methodServiceAccount = "serviceaccount"
)

// Reasons of refusals beyond the verifier's.
const (
	reasonMissing    = "missing"
	reasonUnknown    = "unknown_token"
	reasonReview     = "token_review_failed"
	reasonSAAudience = "serviceaccount_audience"
	reasonNoTeam     = "serviceaccount_no_team"
)

// oidcState is the verifier of the platform's api.auth.oidc. The platform
// comes from ml-model, so it is built at first use and built again when
// the platform's issuer settings change.
type oidcState struct {
	mu  sync.Mutex
	cfg spec.OIDC
	v   *oidcauth.Verifier
}

// authMetrics count logins by method and refusals by reason, and tell
// whether the issuer answers.
type authMetrics struct {
	logins      *prometheus.CounterVec
	refusals    *prometheus.CounterVec
	unreachable prometheus.Gauge
}

func newAuthMetrics(reg prometheus.Registerer) *authMetrics {
	m := &authMetrics{
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dmls_api_logins_total",
			Help: "Authenticated requests by method: token (a team token), oidc (a user of the identity provider) or serviceaccount.",
		}, []string{"method"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dmls_api_login_refusals_total",
			Help: "Requests refused 401 by reason: missing, unknown_token, or why the identity provider's token was refused (expired, issuer, audience, signature, ...).",
		}, []string{"reason"}),
		unreachable: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dmls_api_oidc_issuer_unreachable",
			Help: "1 while the identity provider did not answer at its last use; keys already fetched keep working.",
		}),
	}
	reg.MustRegister(m.logins, m.refusals, m.unreachable)
	for _, method := range []string{methodToken, methodOIDC, methodServiceAccount} {
		m.logins.WithLabelValues(method)
	}
	for _, r := range oidcauth.Reasons {
		m.refusals.WithLabelValues(string(r))
	}
	for _, r := range []string{reasonMissing, reasonUnknown, reasonReview, reasonSAAudience, reasonNoTeam} {
		m.refusals.WithLabelValues(r)
	}
	return m
}

// platform returns the platform of the latest workspace read, or nil.
func (s *Server) platform() *spec.Platform {
	if sn := s.store.Latest(); sn != nil {
		return sn.Platform()
	}
	return nil
}

// verifier returns the verifier of p's api.auth.oidc and its settings, or
// nil when p has none.
func (s *Server) verifier(p *spec.Platform) (*oidcauth.Verifier, *spec.OIDC) {
	if p == nil || p.Auth == nil || p.Auth.OIDC == nil {
		return nil, nil
	}
	o := p.Auth.OIDC
	s.oidc.mu.Lock()
	defer s.oidc.mu.Unlock()
	if s.oidc.v == nil || !sameOIDC(s.oidc.cfg, *o) {
		s.oidc.cfg = *o
		s.oidc.cfg.AdminGroups = slices.Clone(o.AdminGroups)
		s.oidc.v = oidcauth.New(oidcauth.Config{
			Issuer: o.Issuer, Audience: o.Audience, UsernameClaim: o.UsernameClaim, GroupsClaim: o.GroupsClaim,
			ClockSkew: o.ClockSkew(), Timeout: s.cfg.OIDCTimeout,
		})
	}
	return s.oidc.v, o
}

func sameOIDC(a, b spec.OIDC) bool {
	return a.Issuer == b.Issuer && a.Audience == b.Audience && a.UsernameClaim == b.UsernameClaim &&
		a.GroupsClaim == b.GroupsClaim && a.ClockSkewSeconds == b.ClockSkewSeconds
}

// authenticate finds who sent r: a team token, a user of the identity
// provider (a JWT), or a service account. A refusal is a 401 whose
// message says why without quoting the token.
func (s *Server) authenticate(r *http.Request) (identity, *apiError) {
	token, ok := bearer(r)
	if !ok {
		s.auth.refusals.WithLabelValues(reasonMissing).Inc()
		return identity{}, errorf(http.StatusUnauthorized, "missing bearer token: send Authorization: Bearer <token>")
	}
	if id, ok := s.cfg.Tokens.lookup(token); ok {
		s.auth.logins.WithLabelValues(methodToken).Inc()
		return id, nil
	}
	p := s.platform()
	var ref *oidcauth.Refusal
	if v, o := s.verifier(p); v != nil && strings.Count(token, ".") == 2 {
		u, err := v.Verify(r.Context(), token)
		s.observeIssuer(v)
		if err == nil {
			teams, admin := p.TeamsOfGroups(o, u.Groups)
			s.auth.logins.WithLabelValues(methodOIDC).Inc()
			return identity{actor: u.Name, user: u, teams: teams, userAdmin: admin}, nil
		}
		if !errors.As(err, &ref) {
			ref = &oidcauth.Refusal{Reason: oidcauth.ReasonMalformed, Message: "the token does not verify"}
		}
		// A token of another issuer may be a service account's; so may
		// one that cannot be checked while the issuer is away.
		if (ref.Reason != oidcauth.ReasonIssuer && ref.Reason != oidcauth.ReasonUnavailable) || !s.serviceAccountsOn(p) {
			return identity{}, s.refuseOIDC(ref)
		}
	}
	if id, e, ok := s.serviceAccount(r.Context(), p, token); ok && (e == nil || ref == nil || e.Status != http.StatusUnauthorized) {
		return id, e
	}
	if ref != nil {
		return identity{}, s.refuseOIDC(ref)
	}
	s.auth.refusals.WithLabelValues(reasonUnknown).Inc()
	return identity{}, errorf(http.StatusUnauthorized, "invalid bearer token")
}

// refuseOIDC counts and words the refusal of an identity provider's token.
func (s *Server) refuseOIDC(ref *oidcauth.Refusal) *apiError {
	s.auth.refusals.WithLabelValues(string(ref.Reason)).Inc()
	return errorf(http.StatusUnauthorized, "invalid bearer token: %s", ref.Message)
}

// observeIssuer records whether v's issuer answered at its last use.
func (s *Server) observeIssuer(v *oidcauth.Verifier) {
	err := v.Reachable()
	s.health.setIssuer(err)
	if err != nil {
		s.auth.unreachable.Set(1)
	} else {
		s.auth.unreachable.Set(0)
	}
}

// probeIssuer asks the platform's issuer for its discovery document, for
// /readyz.
func (s *Server) probeIssuer(ctx context.Context) {
	v, _ := s.verifier(s.platform())
	if v == nil {
		s.health.setIssuer(nil)
		return
	}
	_ = v.Probe(ctx)
	s.observeIssuer(v)
}

// checkAuth refuses, at startup, a server that could authenticate nobody:
// no team token and no api.auth in the platform ml-model holds; and a
// token of a team the platform does not hold.
func (s *Server) checkAuth(teams []string) error {
	if s.cfg.Tokens.Len() == 0 {
		p := s.platform()
		if p == nil || p.Auth == nil || (p.Auth.OIDC == nil && len(p.Auth.ServiceAccounts) == 0) {
			return errNoAuth
		}
	}
	return s.cfg.Tokens.CheckTeams(teams)
}

var errNoAuth = fmt.Errorf("%w: no tokens, and the platform in ml-model sets no api.auth: give --tokens FILE, set "+EnvTokens+", or log people in with api.auth.oidc in platform.cue", ErrTokens)

// authConfig answers GET /v1/auth/config: how the CLI and the console log
// in. It needs no token.
func (s *Server) authConfig(req *request) *response {
	out := apiclient.AuthConfig{Tokens: s.cfg.Tokens.Len() > 0}
	if p := s.platform(); p != nil && p.Auth != nil && p.Auth.OIDC != nil {
		o := p.Auth.OIDC
		out.OIDC = &apiclient.OIDCConfig{Issuer: o.Issuer, ClientID: o.ClientID, Audience: o.Audience, Scopes: oidcScopes}
		if v, _ := s.verifier(p); v != nil {
			if e, err := v.Endpoints(req.r.Context()); err == nil {
				out.OIDC.AuthorizationEndpoint, out.OIDC.TokenEndpoint = e.Authorization, e.Token
			}
		}
	} else if !s.ready.Load() {
		return errorResponse(unavailable(s.retryAfter(), "the server has not read the workspace yet"))
	}
	return &response{status: http.StatusOK, body: out}
}

// consoleOrigins are the origins of the identity provider's endpoints,
// which the console's CSP allows: exactly those of the discovery document,
// none while it cannot be fetched.
func (s *Server) consoleOrigins() []string {
	v, _ := s.verifier(s.platform())
	if v == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	e, err := v.Endpoints(ctx)
	if err != nil {
		return nil
	}
	return e.Origins()
}

// whoami answers GET /v1/whoami.
func (s *Server) whoami(req *request) *response {
	id := req.ident
	out := apiclient.Identity{Team: id.team, Actor: id.actor, Admin: id.admin(), ServiceAccount: id.sa}
	if u := id.user; u != nil {
		out.User, out.Subject, out.Email, out.Groups = u.Name, u.Subject, u.Email, u.Groups
		out.Expires = u.Expiry.UTC().Format(time.RFC3339)
		out.Teams = id.teams
		if id.admin() {
			if p := s.platform(); p != nil {
				out.Teams = slices.Sorted(maps.Keys(p.Teams))
			}
		}
		if out.Teams == nil {
			out.Teams = []string{}
		}
	}
	return &response{status: http.StatusOK, body: out}
}

// forbiddenTeam is the 403 of a caller that may not act for team.
func forbiddenTeam(id identity, team string) *apiError {
	switch {
	case id.user != nil && len(id.teams) == 0:
		return forbidden("user %s is in no team: none of the user's groups is the group of a team in platform.cue", id.actor)
	case id.user != nil:
		return forbidden("user %s may act for %s, not for team %s", id.actor, strings.Join(id.teams, ", "), team)
	case id.sa != "":
		return forbidden("service account %s acts for team %s, not for team %s", id.sa, id.team, team)
	}
	return forbidden("the token of team %s may not act for team %s", id.team, team)
}
