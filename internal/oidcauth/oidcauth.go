// Package oidcauth verifies the OpenID Connect tokens of one issuer: its
// discovery document and key set (cached and rotated), the signature
// algorithms it advertises, and the iss, aud, exp, nbf and iat claims.
package oidcauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

// Defaults of Config.
const (
	// DefaultTimeout bounds each request to the issuer: a slow issuer
	// fails a login instead of holding every request.
	DefaultTimeout = 5 * time.Second
	// DefaultKeyMaxAge is how long a key set is used before it is fetched
	// again, so that rotated keys are learnt without a restart.
	DefaultKeyMaxAge = time.Hour
	// DefaultRefetchInterval is the least time between two fetches that
	// a token of an unknown kid causes: a flood of made-up kids costs the
	// issuer one fetch per interval, not one per request.
	DefaultRefetchInterval = 30 * time.Second
	// maxDocument bounds what is read of a discovery document or key set.
	maxDocument = 1 << 20
)

// Config configures a Verifier.
type Config struct {
	// Issuer is the issuer URL, exactly as its tokens' iss.
	Issuer string
	// Audience is the aud a token must hold.
	Audience string
	// UsernameClaim names the claim that names the user; GroupsClaim
	// the claim that lists the user's groups.
	UsernameClaim, GroupsClaim string
	// ClockSkew is how far the clocks may disagree for exp, nbf and iat.
	ClockSkew time.Duration
	// Timeout bounds each request to the issuer (DefaultTimeout).
	Timeout time.Duration
	// KeyMaxAge and RefetchInterval: see the defaults.
	KeyMaxAge, RefetchInterval time.Duration
	// Transport, when set, carries the requests to the issuer.
	Transport http.RoundTripper
	// Now is the clock (time.Now).
	Now func() time.Time
}

// Reason is why a token was refused: a label of the refusals metric and
// the start of the message a caller sees.
type Reason string

// The reasons of a refusal.
const (
	ReasonMalformed      Reason = "malformed"
	ReasonAlgorithm      Reason = "algorithm"
	ReasonUnknownKey     Reason = "unknown_key"
	ReasonSignature      Reason = "signature"
	ReasonIssuer         Reason = "issuer"
	ReasonAudience       Reason = "audience"
	ReasonExpired        Reason = "expired"
	ReasonNotYetValid    Reason = "not_yet_valid"
	ReasonIssuedInFuture Reason = "issued_in_future"
	ReasonNoUsername     Reason = "no_username"
	ReasonNoGroups       Reason = "no_groups"
	ReasonGroupsType     Reason = "groups_type"
	ReasonUnavailable    Reason = "issuer_unreachable"
)

// Reasons lists every reason, for metrics that start at zero.
var Reasons = []Reason{ReasonMalformed, ReasonAlgorithm, ReasonUnknownKey, ReasonSignature, ReasonIssuer,
	ReasonAudience, ReasonExpired, ReasonNotYetValid, ReasonIssuedInFuture, ReasonNoUsername, ReasonNoGroups,
	ReasonGroupsType, ReasonUnavailable}

// Refusal is a token that was not accepted. Its message names what was
// wrong and never quotes the token or its claims, so that it may go back
// to the caller and into logs.
type Refusal struct {
	Reason  Reason
	Message string
}

func (r *Refusal) Error() string { return string(r.Reason) + ": " + r.Message }

func refuse(reason Reason, format string, args ...any) *Refusal {
	return &Refusal{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// User is who a verified token names.
type User struct {
	// Subject is sub; Email is email, when the token has it; Name is the
	// username claim.
	Subject, Email, Name string
	Groups               []string
	// Expiry is when the token stops being accepted.
	Expiry time.Time
}

// Endpoints are the issuer's endpoints from its discovery document.
type Endpoints struct {
	Authorization       string `json:"authorization_endpoint"`
	Token               string `json:"token_endpoint"`
	DeviceAuthorization string `json:"device_authorization_endpoint,omitempty"`
	EndSession          string `json:"end_session_endpoint,omitempty"`
	JWKS                string `json:"jwks_uri"`
	// Algorithms are the signature algorithms the verifier accepts: the
	// asymmetric ones among id_token_signing_alg_values_supported.
	Algorithms []string `json:"id_token_signing_alg_values_supported"`
}

// Origins returns the distinct origins (scheme://host[:port]) of the
// endpoints a browser reaches, sorted: what a console's CSP allows.
func (e *Endpoints) Origins() []string {
	var out []string
	for _, s := range []string{e.Authorization, e.Token, e.EndSession, e.DeviceAuthorization} {
		if u, err := url.Parse(s); err == nil && u.Host != "" {
			if o := u.Scheme + "://" + u.Host; !slices.Contains(out, o) {
				out = append(out, o)
			}
		}
	}
	slices.Sort(out)
	return out
}

// asymmetric are the algorithms a verifier may accept: never none, never
// an HMAC (whose key would be the issuer's public key).
var asymmetric = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// Verifier verifies tokens of one issuer. It fetches the discovery
// document at its first use (and again after a failure, at most once per
// RefetchInterval), and keeps the key set; keys it holds keep working
// while the issuer is unreachable. Safe for concurrent use.
type Verifier struct {
	cfg    Config
	client *http.Client

	mu        sync.Mutex
	endpoints *Endpoints
	verifier  *oidc.IDTokenVerifier
	keys      *keySet
	lastTry   time.Time // of discovery, while it has not succeeded
	reachErr  error     // of the last request to the issuer
}

// New returns a verifier of cfg. It does no I/O.
func New(cfg Config) *Verifier {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.KeyMaxAge <= 0 {
		cfg.KeyMaxAge = DefaultKeyMaxAge
	}
	if cfg.RefetchInterval <= 0 {
		cfg.RefetchInterval = DefaultRefetchInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	tr := cfg.Transport
	if tr == nil {
		tr = http.DefaultTransport
	}
	return &Verifier{cfg: cfg, client: &http.Client{Timeout: cfg.Timeout, Transport: limitTransport{tr}}}
}

// limitTransport cuts every answer at maxDocument bytes: an issuer that
// answers without end gets a parse error, not the server's memory.
type limitTransport struct{ rt http.RoundTripper }

func (t limitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.LimitReader(resp.Body, maxDocument), resp.Body}
	return resp, nil
}

// Config returns the verifier's configuration.
func (v *Verifier) Config() Config { return v.cfg }

// Reachable returns nil when the last request to the issuer succeeded (or
// none was made), and otherwise what went wrong.
func (v *Verifier) Reachable() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.reachErr
}

func (v *Verifier) observe(err error) {
	v.mu.Lock()
	v.reachErr = err
	v.mu.Unlock()
}

// Probe fetches the discovery document now, for a readiness probe, and
// records whether the issuer answered.
func (v *Verifier) Probe(ctx context.Context) error {
	_, err := v.discover(ctx)
	v.observe(err)
	return err
}

// Endpoints returns the issuer's endpoints, fetching the discovery
// document if the verifier has none yet.
func (v *Verifier) Endpoints(ctx context.Context) (*Endpoints, error) {
	if _, err := v.ready(ctx); err != nil {
		return nil, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	e := *v.endpoints
	return &e, nil
}

// discover fetches and checks the discovery document.
func (v *Verifier) discover(ctx context.Context) (*Endpoints, error) {
	ctx = oidc.ClientContext(ctx, v.client)
	p, err := oidc.NewProvider(ctx, v.cfg.Issuer)
	if err != nil {
		var mismatch *oidc.IssuerMismatchError
		if errors.As(err, &mismatch) {
			return nil, fmt.Errorf("the discovery document of %s names another issuer", v.cfg.Issuer)
		}
		return nil, fmt.Errorf("discovery of %s: %s", v.cfg.Issuer, firstLine(err))
	}
	var e Endpoints
	if err := p.Claims(&e); err != nil {
		return nil, fmt.Errorf("discovery of %s: %s", v.cfg.Issuer, firstLine(err))
	}
	if e.JWKS == "" {
		return nil, fmt.Errorf("discovery of %s: no jwks_uri", v.cfg.Issuer)
	}
	var algs []string
	for _, a := range e.Algorithms {
		if slices.Contains(asymmetric, a) && !slices.Contains(algs, a) {
			algs = append(algs, a)
		}
	}
	if len(e.Algorithms) == 0 {
		algs = []string{"RS256"} // OpenID Connect Discovery: the default
	}
	if len(algs) == 0 {
		return nil, fmt.Errorf("discovery of %s: no asymmetric signature algorithm among %v", v.cfg.Issuer, e.Algorithms)
	}
	e.Algorithms = algs
	return &e, nil
}

// firstLine keeps an error short: an issuer's garbage answer is quoted by
// go-oidc whole.
func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// ready returns the go-oidc verifier, discovering the issuer first if
// needed; an issuer that failed is tried again after RefetchInterval.
func (v *Verifier) ready(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	v.mu.Lock()
	if v.verifier != nil {
		defer v.mu.Unlock()
		return v.verifier, nil
	}
	if !v.lastTry.IsZero() && v.cfg.Now().Sub(v.lastTry) < v.cfg.RefetchInterval && v.reachErr != nil {
		err := v.reachErr
		v.mu.Unlock()
		return nil, err
	}
	v.lastTry = v.cfg.Now()
	v.mu.Unlock()

	e, err := v.discover(ctx)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.reachErr = err
	if err != nil {
		return nil, err
	}
	if v.verifier == nil {
		v.endpoints = e
		v.keys = &keySet{url: e.JWKS, algs: e.Algorithms, v: v}
		v.verifier = oidc.NewVerifier(v.cfg.Issuer, v.keys, &oidc.Config{
			SupportedSigningAlgs: e.Algorithms,
			// The verifier checks these itself, with the clock skew and a
			// reason for each.
			SkipClientIDCheck: true, SkipExpiryCheck: true, SkipIssuerCheck: true,
		})
	}
	return v.verifier, nil
}

// claims are the claims the verifier reads; exp, nbf and iat are numbers
// (NumericDate), possibly fractional.
type claims struct {
	Issuer   string          `json:"iss"`
	Subject  string          `json:"sub"`
	Audience json.RawMessage `json:"aud"`
	Exp      *float64        `json:"exp"`
	Nbf      *float64        `json:"nbf"`
	Iat      *float64        `json:"iat"`
	Email    json.RawMessage `json:"email"`
}

// Verify checks raw and returns its user, or a *Refusal.
func (v *Verifier) Verify(ctx context.Context, raw string) (*User, error) {
	verifier, err := v.ready(ctx)
	if err != nil {
		return nil, refuse(ReasonUnavailable, "the identity provider cannot be reached to verify the token; try again later")
	}
	v.mu.Lock()
	algs := v.endpoints.Algorithms
	v.mu.Unlock()
	if r := checkHeader(raw, algs); r != nil {
		return nil, r
	}
	// go-oidc wraps the key set's error with %v: the key set leaves its
	// refusal here instead.
	var slot refusalSlot
	tok, err := verifier.Verify(context.WithValue(ctx, refusalKey{}, &slot), raw)
	if err != nil {
		if slot.r != nil {
			return nil, slot.r
		}
		return nil, refuse(ReasonMalformed, "the token is not a JWT that the identity provider signed")
	}
	var c claims
	var all map[string]json.RawMessage
	if err := tok.Claims(&c); err != nil {
		return nil, refuse(ReasonMalformed, "the token's claims do not parse")
	}
	if err := tok.Claims(&all); err != nil {
		return nil, refuse(ReasonMalformed, "the token's claims do not parse")
	}
	if c.Issuer != v.cfg.Issuer {
		return nil, refuse(ReasonIssuer, "the token was issued by another issuer than the one dmls trusts")
	}
	if !audience(c.Audience, v.cfg.Audience) {
		return nil, refuse(ReasonAudience, "the token is not for dmls (its audience is not %s)", v.cfg.Audience)
	}
	now, skew := v.cfg.Now(), v.cfg.ClockSkew
	if c.Exp == nil {
		return nil, refuse(ReasonMalformed, "the token has no expiry (exp)")
	}
	exp := numericDate(*c.Exp)
	if !now.Before(exp.Add(skew)) {
		return nil, refuse(ReasonExpired, "the token has expired; log in again")
	}
	if c.Nbf != nil && now.Add(skew).Before(numericDate(*c.Nbf)) {
		return nil, refuse(ReasonNotYetValid, "the token is not valid yet (nbf is in the future)")
	}
	if c.Iat != nil && now.Add(skew).Before(numericDate(*c.Iat)) {
		return nil, refuse(ReasonIssuedInFuture, "the token was issued in the future (iat); check the clocks")
	}
	u := &User{Subject: c.Subject, Expiry: exp}
	if !printable(c.Subject) {
		return nil, refuse(ReasonNoUsername, "the token has no usable subject (sub)")
	}
	var email string
	if len(c.Email) > 0 && json.Unmarshal(c.Email, &email) == nil && printable(email) {
		u.Email = email
	}
	var name string
	if r, ok := all[v.cfg.UsernameClaim]; !ok || json.Unmarshal(r, &name) != nil || !printable(name) {
		return nil, refuse(ReasonNoUsername, "the token has no usable %s claim (the username claim)", v.cfg.UsernameClaim)
	}
	u.Name = name
	r, ok := all[v.cfg.GroupsClaim]
	if !ok {
		return nil, refuse(ReasonNoGroups, "the token has no %s claim (the groups claim): ask the identity provider to add it", v.cfg.GroupsClaim)
	}
	if err := json.Unmarshal(r, &u.Groups); err != nil || u.Groups == nil {
		return nil, refuse(ReasonGroupsType, "the token's %s claim (the groups claim) is not a list of strings", v.cfg.GroupsClaim)
	}
	return u, nil
}

type refusalKey struct{}

// refusalSlot carries a key set's refusal past go-oidc.
type refusalSlot struct{ r *Refusal }

// checkHeader refuses, with its reason, a token whose protected header
// names an algorithm the issuer does not advertise (none and HMAC among
// them) or that does not parse as a compact JWS at all.
func checkHeader(raw string, algs []string) *Refusal {
	if strings.Count(raw, ".") != 2 {
		return refuse(ReasonMalformed, "the token is not a JWT")
	}
	all := []jose.SignatureAlgorithm{"none", jose.HS256, jose.HS384, jose.HS512}
	for _, a := range asymmetric {
		all = append(all, jose.SignatureAlgorithm(a))
	}
	jws, err := jose.ParseSignedCompact(raw, all)
	if err != nil || len(jws.Signatures) != 1 {
		return refuse(ReasonMalformed, "the token is not a JWT with one signature")
	}
	if alg := jws.Signatures[0].Protected.Algorithm; !slices.Contains(algs, alg) {
		return refuse(ReasonAlgorithm, "the token is signed with an algorithm the identity provider does not use")
	}
	return nil
}

func audience(raw json.RawMessage, want string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == want
	}
	var many []string
	return json.Unmarshal(raw, &many) == nil && slices.Contains(many, want)
}

func numericDate(f float64) time.Time {
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9))
}

// printable reports whether s is a non-empty, short value without control
// characters (a space is fine): a value
// that may go into a log line and a commit trailer as it is.
func printable(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
