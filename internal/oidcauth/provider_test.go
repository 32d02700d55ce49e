package oidcauth

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/dmls-project/dmls/internal/oidctest"
)

// TestRealProvider verifies ID tokens of a real OpenID Connect provider
// (oidc-provider, logged in through its login and consent pages): the
// groups claim arrives, the origins of its endpoints are its own, and a
// token for another client of the same issuer is refused.
func TestRealProvider(t *testing.T) {
	p := oidctest.Start(t, oidctest.Options{Users: map[string]oidctest.User{
		"alice": {Email: "alice@example.com", Groups: []string{"ml-research", "ml-serving"}},
		"bob":   {Email: "bob@example.com"},
	}})
	v := New(Config{Issuer: p.Issuer, Audience: oidctest.ClientID, UsernameClaim: "email", GroupsClaim: "groups"})
	u, err := v.Verify(context.Background(), p.IDToken(t, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	if u.Subject != "alice" || u.Name != "alice@example.com" || !slices.Equal(u.Groups, []string{"ml-research", "ml-serving"}) {
		t.Errorf("user = %+v", u)
	}
	e, err := v.Endpoints(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if o := e.Origins(); !slices.Equal(o, []string{p.Issuer}) {
		t.Errorf("origins = %v, want the issuer's", o)
	}
	if !slices.Contains(e.Algorithms, "RS256") || slices.Contains(e.Algorithms, "HS256") {
		t.Errorf("algorithms = %v", e.Algorithms)
	}

	// bob's token has no groups claim.
	_, err = v.Verify(context.Background(), p.IDToken(t, "bob"))
	var r *Refusal
	if !errors.As(err, &r) || r.Reason != ReasonNoGroups {
		t.Errorf("bob: %v, want no_groups", err)
	}

	// A wrong PKCE verifier, then a replayed code: the provider refuses
	// both (the right verifier works once).
	conf, code, _ := p.Code(t, "alice")
	if _, err := conf.Exchange(context.Background(), code, oauth2.VerifierOption(oauth2.GenerateVerifier())); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("a wrong PKCE verifier: %v, want invalid_grant", err)
	}
	conf, code, verifier := p.Code(t, "alice")
	if _, err := conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier)); err != nil {
		t.Fatal(err)
	}
	if _, err := conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier)); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("a replayed code: %v, want invalid_grant", err)
	}

	// Another app of the same issuer: its tokens are not for dmls.
	other := New(Config{Issuer: p.Issuer, Audience: "argocd", UsernameClaim: "email", GroupsClaim: "groups"})
	if _, err := other.Verify(context.Background(), p.IDToken(t, "alice")); !errors.As(err, &r) || r.Reason != ReasonAudience {
		t.Errorf("a token for dmls at the verifier of another client: %v, want audience", err)
	}
}
