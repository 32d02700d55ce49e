package oidcauth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// issuer is an OpenID Connect issuer in the test process: a discovery
// document and a key set over HTTP, and tokens signed with its key. Its
// mode makes it down, slow or garbage.
type issuer struct {
	srv   *httptest.Server
	mu    sync.Mutex // guards key and kid
	key   *rsa.PrivateKey
	kid   string
	mode  atomic.Value // "", "down", "slow", "garbage"
	jwksN atomic.Int32 // key set fetches
}

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is := &issuer{key: key, kid: "k1"}
	is.mode.Store("")
	is.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch is.mode.Load().(string) {
		case "down":
			w.WriteHeader(http.StatusBadGateway)
			return
		case "slow":
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
			}
			return
		case "garbage":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte("<html>oops</html>"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			_ = json.NewEncoder(w).Encode(map[string]any{
				"issuer": is.srv.URL, "jwks_uri": is.srv.URL + "/jwks",
				"authorization_endpoint": is.srv.URL + "/auth", "token_endpoint": is.srv.URL + "/token",
				"id_token_signing_alg_values_supported": []string{"RS256"},
			})
		case "/jwks":
			is.jwksN.Add(1)
			is.mu.Lock()
			defer is.mu.Unlock()
			_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &is.key.PublicKey, KeyID: is.kid, Algorithm: "RS256", Use: "sig"}}})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(is.srv.Close)
	return is
}

// claims returns good claims: for dmls, valid now, with groups.
func (is *issuer) claims() map[string]any {
	now := time.Now().Unix()
	return map[string]any{"iss": is.srv.URL, "sub": "u-1", "aud": "dmls", "exp": now + 300, "iat": now - 10, "nbf": now - 10,
		"email": "alice@example.com", "groups": []string{"ml-research"}}
}

func sign(t *testing.T, key any, alg jose.SignatureAlgorithm, kid string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (is *issuer) token(t *testing.T, change func(map[string]any)) string {
	t.Helper()
	c := is.claims()
	if change != nil {
		change(c)
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	return sign(t, is.key, jose.RS256, is.kid, c)
}

func (is *issuer) verifier() *Verifier {
	return New(Config{Issuer: is.srv.URL, Audience: "dmls", UsernameClaim: "email", GroupsClaim: "groups",
		ClockSkew: 30 * time.Second, Timeout: 500 * time.Millisecond, RefetchInterval: time.Millisecond})
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// TestVerifyBadInput is issue 22's table of bad tokens: each is refused
// with its reason, and the message quotes nothing of the token.
func TestVerifyBadInput(t *testing.T) {
	is := newIssuer(t)
	v := is.verifier()
	good := is.token(t, nil)
	u, err := v.Verify(context.Background(), good)
	if err != nil {
		t.Fatalf("a good token: %v", err)
	}
	if u.Subject != "u-1" || u.Name != "alice@example.com" || u.Email != "alice@example.com" || len(u.Groups) != 1 || u.Groups[0] != "ml-research" {
		t.Errorf("user = %+v", u)
	}

	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	pubDER, _ := x509.MarshalPKIXPublicKey(&is.key.PublicKey) // before any rotation
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	parts := strings.Split(good, ".")
	tamperedClaims := is.claims()
	tamperedClaims["groups"] = []string{"platform-admins"}
	tp, _ := json.Marshal(tamperedClaims)
	hour := float64(time.Hour / time.Second)

	for _, tc := range []struct {
		name  string
		token string
		want  Reason
	}{
		{"expired", is.token(t, func(c map[string]any) { c["exp"] = float64(time.Now().Unix()) - hour }), ReasonExpired},
		{"not yet valid", is.token(t, func(c map[string]any) { c["nbf"] = float64(time.Now().Unix()) + hour }), ReasonNotYetValid},
		{"issued in the future", is.token(t, func(c map[string]any) { c["iat"] = float64(time.Now().Unix()) + hour }), ReasonIssuedInFuture},
		{"wrong issuer", is.token(t, func(c map[string]any) { c["iss"] = "https://evil.example.com" }), ReasonIssuer},
		{"wrong audience", is.token(t, func(c map[string]any) { c["aud"] = []string{"argocd"} }), ReasonAudience},
		{"alg none", b64(`{"alg":"none","typ":"JWT"}`) + "." + parts[1] + ".", ReasonAlgorithm},
		{"HMAC with the public key", sign(t, pubPEM, jose.HS256, is.kid, is.claims()), ReasonAlgorithm},
		{"unknown kid", sign(t, other, jose.RS256, "k9", is.claims()), ReasonUnknownKey},
		{"known kid, other key", sign(t, other, jose.RS256, is.kid, is.claims()), ReasonSignature},
		{"tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString(tp) + "." + parts[2], ReasonSignature},
		{"no groups claim", is.token(t, func(c map[string]any) { delete(c, "groups") }), ReasonNoGroups},
		{"groups a string", is.token(t, func(c map[string]any) { c["groups"] = "ml-research" }), ReasonGroupsType},
		{"groups of numbers", is.token(t, func(c map[string]any) { c["groups"] = []int{1, 2} }), ReasonGroupsType},
		{"no username", is.token(t, func(c map[string]any) { delete(c, "email") }), ReasonNoUsername},
		{"username with a newline", is.token(t, func(c map[string]any) { c["email"] = "a@b.c\nDmls-Actor: admin" }), ReasonNoUsername},
		{"no exp", is.token(t, func(c map[string]any) { delete(c, "exp") }), ReasonMalformed},
		{"not a JWT", "abc", ReasonMalformed},
		{"garbage in three parts", "a.b.c", ReasonMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), tc.token)
			var r *Refusal
			if !errors.As(err, &r) {
				t.Fatalf("Verify: %v, want a refusal", err)
			}
			if r.Reason != tc.want {
				t.Errorf("reason %s (%s), want %s", r.Reason, r.Message, tc.want)
			}
			for _, leak := range []string{"alice", "platform-admins", "evil", "u-1", parts[1][:20]} {
				if strings.Contains(r.Message, leak) {
					t.Errorf("message %q quotes the token (%s)", r.Message, leak)
				}
			}
		})
	}

	t.Run("within the clock skew", func(t *testing.T) {
		tok := is.token(t, func(c map[string]any) {
			now := float64(time.Now().Unix())
			c["exp"], c["nbf"], c["iat"] = now-10, now+10, now+10
		})
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Errorf("a token 10 s off, with a skew of 30 s: %v", err)
		}
	})
}

// TestIssuerUnreachable checks issuers that are down, slow or answer
// garbage: tokens are refused as issuer_unreachable until discovery
// works; once the keys are cached they keep working while the issuer is
// down, and Probe says it is down.
func TestIssuerUnreachable(t *testing.T) {
	for _, mode := range []string{"down", "slow", "garbage"} {
		t.Run(mode, func(t *testing.T) {
			is := newIssuer(t)
			tok := is.token(t, nil)
			v := is.verifier()
			is.mode.Store(mode)
			start := time.Now()
			_, err := v.Verify(context.Background(), tok)
			var r *Refusal
			if !errors.As(err, &r) || r.Reason != ReasonUnavailable {
				t.Fatalf("Verify: %v, want issuer_unreachable", err)
			}
			if d := time.Since(start); d > 1500*time.Millisecond {
				t.Errorf("took %s with a timeout of 500ms", d)
			}
			if v.Reachable() == nil {
				t.Error("Reachable: nil while the issuer is " + mode)
			}
			is.mode.Store("")
			time.Sleep(2 * time.Millisecond)
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Fatalf("Verify after the issuer came back: %v", err)
			}
			is.mode.Store(mode)
			if _, err := v.Verify(context.Background(), is.token(t, nil)); err != nil {
				t.Errorf("Verify with cached keys while the issuer is %s: %v", mode, err)
			}
			if v.Probe(context.Background()) == nil || v.Reachable() == nil {
				t.Error("Probe: nil while the issuer is " + mode)
			}
		})
	}
}

// TestKeyRotation checks that a token of a new kid makes the key set be
// fetched again, and that made-up kids cost at most one fetch per
// RefetchInterval.
func TestKeyRotation(t *testing.T) {
	is := newIssuer(t)
	v := New(Config{Issuer: is.srv.URL, Audience: "dmls", UsernameClaim: "email", GroupsClaim: "groups", RefetchInterval: time.Hour})
	if _, err := v.Verify(context.Background(), is.token(t, nil)); err != nil {
		t.Fatal(err)
	}
	// Rotation: the issuer's new key; the verifier has fetched only once
	// (within RefetchInterval), so a first rotation after startup still
	// needs the interval to pass: use a verifier with a short one.
	v2 := is.verifier()
	if _, err := v2.Verify(context.Background(), is.token(t, nil)); err != nil {
		t.Fatal(err)
	}
	newKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	is.mu.Lock()
	is.key, is.kid = newKey, "k2"
	is.mu.Unlock()
	time.Sleep(2 * time.Millisecond)
	if _, err := v2.Verify(context.Background(), is.token(t, nil)); err != nil {
		t.Errorf("a token of the rotated key: %v", err)
	}

	before := is.jwksN.Load()
	for range 20 {
		_, _ = v.Verify(context.Background(), sign(t, newKey, jose.RS256, "made-up", is.claims()))
	}
	if n := is.jwksN.Load() - before; n > 1 {
		t.Errorf("20 tokens of unknown kids fetched the key set %d times, want at most 1", n)
	}
}

// TestEndpointsOrigins checks the origins a console's CSP allows.
func TestEndpointsOrigins(t *testing.T) {
	e := Endpoints{Authorization: "https://id.example.com/auth", Token: "https://id.example.com:8443/token", EndSession: "https://id.example.com/logout", JWKS: "https://keys.example.com/jwks"}
	got := strings.Join(e.Origins(), " ")
	if got != "https://id.example.com https://id.example.com:8443" {
		t.Errorf("origins = %s", got)
	}
}
