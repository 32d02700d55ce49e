package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/dmls-project/dmls/internal/apiclient"
	"github.com/dmls-project/dmls/internal/gittest"
	"github.com/dmls-project/dmls/internal/oidcauth"
	"github.com/dmls-project/dmls/internal/oidctest"
)

// ssoUsers are the identity provider's users of the SSO tests: a member
// of one team, of two, of none, an admin, and one without a groups claim.
var ssoUsers = map[string]oidctest.User{
	"alice": {Email: "alice@example.com", Groups: []string{"ml-research", "staff"}},
	"carol": {Email: "carol@example.com", Groups: []string{"ml-research", "ml-serving"}},
	"dave":  {Email: "dave@example.com", Groups: []string{"staff"}},
	"root":  {Email: "root@example.com", Groups: []string{"platform-admins"}},
	"bob":   {Email: "bob@example.com"},
}

// startSSO starts the identity provider and a server whose platform (in
// ml-model) sets api.auth.oidc to it; opts may take the tokens away.
func startSSO(t *testing.T, opts ...option) (*testServer, *oidctest.Provider, *repos) {
	t.Helper()
	p := oidctest.Start(t, oidctest.Options{Users: ssoUsers})
	r := startRepos(t)
	platform := seedWorkspace(t)["platform.cue"] + `
api: auth: oidc: {
	issuer:   "` + p.Issuer + `"
	clientID: "` + oidctest.ClientID + `"
	adminGroups: ["platform-admins"]
}
`
	r.git.Push(t, "ml-model", gittest.Change{Files: map[string]string{"platform.cue": platform}, Message: "log people in"})
	return startServer(t, r, opts...), p, r
}

func noTokens(c *Config) { c.Tokens = nil }

// TestSSOUsers checks users of the identity provider against the API
// (issue 22): the auth config needs no token; whoami lists a user's
// groups and teams; a user acts for the teams of the user's groups and
// gets 403 for another team or when in no team; an admin group acts for
// every team; a change names the user in the audit log and in the
// commit's Dmls-Actor trailer; logins and refusals are counted.
func TestSSOUsers(t *testing.T) {
	ts, p, r := startSSO(t, noTokens)

	code, _, body := ts.do(t, "GET", "/v1/auth/config", "", nil)
	var ac apiclient.AuthConfig
	if err := json.Unmarshal(body, &ac); err != nil || code != 200 || ac.OIDC == nil || ac.OIDC.Issuer != p.Issuer || ac.OIDC.ClientID != "dmls" || ac.Tokens {
		t.Fatalf("auth config: %d %s", code, body)
	}

	alice := p.IDToken(t, "alice")
	id, err := ts.client(alice).Whoami(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if id.User != "alice@example.com" || id.Subject != "alice" || !slices.Equal(id.Teams, []string{"ml-research"}) || !slices.Equal(id.Groups, []string{"ml-research", "staff"}) || id.Admin || id.Expires == "" {
		t.Errorf("whoami alice: %+v", id)
	}

	res, err := ts.client(alice).SubmitTrainingJob(context.Background(), "ml-research", trainingJob("sso-job"))
	if err != nil || !res.Changed {
		t.Fatalf("alice submits for her team: %v", err)
	}
	msg := r.git.Messages(t, "ml-model", "main")[0]
	if !strings.Contains(msg, "(by alice@example.com, request ") || !strings.Contains(msg, "\nDmls-Actor: request=") || !strings.Contains(msg, " sub=alice email=alice@example.com") {
		t.Errorf("commit message:\n%s", msg)
	}
	if strings.Contains(msg, alice[:40]) {
		t.Error("the commit holds the token")
	}
	var line map[string]any
	for _, l := range ts.audit.lines(t) {
		if l["route"] == "/v1/teams/{team}/trainingjobs" && l["method"] == "POST" {
			line = l
		}
	}
	if line["actor"] != "alice@example.com" || line["subject"] != "alice" || line["auth"] != "oidc" {
		t.Errorf("audit line: %v", line)
	}
	if strings.Contains(ts.audit.String(), alice[:40]) {
		t.Error("the audit log holds the token")
	}

	for _, tc := range []struct {
		user, team string
		want       int
		msg        string
	}{
		{"alice", "ml-serving", 403, "user alice@example.com may act for ml-research, not for team ml-serving"},
		{"carol", "ml-serving", 200, ""},
		{"carol", "ml-research", 200, ""},
		{"dave", "ml-research", 403, "user dave@example.com is in no team"},
		{"root", "ml-serving", 200, ""},
		{"bob", "ml-research", 401, "no groups claim"},
	} {
		code, _, body := ts.do(t, "GET", "/v1/teams/"+tc.team+"/trainingjobs", p.IDToken(t, tc.user), nil)
		if code != tc.want || !strings.Contains(string(body), tc.msg) {
			t.Errorf("%s lists %s: %d %s, want %d %q", tc.user, tc.team, code, body, tc.want, tc.msg)
		}
	}
	if id, err := ts.client(p.IDToken(t, "root")).Whoami(context.Background()); err != nil || !id.Admin || len(id.Teams) != 2 {
		t.Errorf("whoami root: %+v %v", id, err)
	}

	// A team token is not accepted: the server has none.
	if code, _, _ := ts.do(t, "GET", "/v1/whoami", researchToken, nil); code != 401 {
		t.Errorf("a team token at a server without tokens: %d", code)
	}
	if n := counter(ts.auth.logins.WithLabelValues(methodOIDC)); n < 5 {
		t.Errorf("oidc logins = %v", n)
	}
	if n := counter(ts.auth.refusals.WithLabelValues(string(oidcauth.ReasonNoGroups))); n != 1 {
		t.Errorf("no_groups refusals = %v, want 1", n)
	}
	if n := counter(ts.auth.refusals.WithLabelValues(reasonUnknown)); n != 1 {
		t.Errorf("unknown_token refusals = %v, want 1", n)
	}
}

// TestSSOIssuerDown checks that while the identity provider is down
// /readyz says so (degraded, still 200) and tokens whose keys were
// fetched keep working; and that team tokens work beside OIDC.
func TestSSOIssuerDown(t *testing.T) {
	ts, p, _ := startSSO(t)
	alice := p.IDToken(t, "alice")
	if code, _, body := ts.do(t, "GET", "/v1/whoami", alice, nil); code != 200 {
		t.Fatalf("whoami: %d %s", code, body)
	}
	if code, _, body := ts.do(t, "GET", "/v1/whoami", researchToken, nil); code != 200 || !strings.Contains(string(body), `"team": "ml-research"`) {
		t.Errorf("a team token beside OIDC: %d %s", code, body)
	}
	code, _, body := ts.do(t, "GET", "/readyz", "", nil)
	if code != 200 || string(body) != "ok\n" {
		t.Errorf("readyz with the provider up: %d %q", code, body)
	}

	p.Stop()
	code, _, body = ts.do(t, "GET", "/readyz", "", nil)
	if code != 200 || !strings.Contains(string(body), "degraded: identity provider unreachable") || strings.Contains(string(body), "127.0.0.1") {
		t.Errorf("readyz with the provider down: %d %q", code, body)
	}
	if n := gauge(ts.auth.unreachable); n != 1 {
		t.Errorf("issuer unreachable gauge = %v", n)
	}
	if code, _, body := ts.do(t, "GET", "/v1/whoami", alice, nil); code != 200 {
		t.Errorf("a token with cached keys while the provider is down: %d %s", code, body)
	}
	_, _, body = ts.do(t, "GET", "/readyz", adminToken, nil)
	if !strings.Contains(string(body), "degraded: identity provider unreachable (keys already fetched keep working): discovery of") {
		t.Errorf("readyz with details: %q", body)
	}
	if code, _, _ := ts.do(t, "GET", "/v1/whoami", "a.b.c", nil); code != http.StatusUnauthorized {
		t.Errorf("garbage JWT: %d", code)
	}
}

// gauge reads a Prometheus gauge.
func gauge(g prometheus.Gauge) float64 {
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		return -1
	}
	return m.GetGauge().GetValue()
}

// TestNoWayToAuthenticate checks that a server without team tokens
// whose platform sets no api.auth refuses to start, saying what to give.
func TestNoWayToAuthenticate(t *testing.T) {
	ts := newServer(t, startRepos(t), noTokens)
	ts.Start()
	select {
	case err := <-ts.fatal:
		if !errors.Is(err, ErrTokens) || !strings.Contains(err.Error(), "give --tokens FILE, set DMLS_API_TOKENS, or log people in with api.auth.oidc in platform.cue") {
			t.Errorf("fatal: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the server started with no way to authenticate anyone")
	}
}
