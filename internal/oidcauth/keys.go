package oidcauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/coreos/go-oidc/v3/oidc"
)

// keySet is the issuer's JSON Web Key Set, cached. It is fetched again when
// it is older than KeyMaxAge (rotation), and when a token names a kid it
// does not hold, at most once per RefetchInterval. When a fetch fails the
// keys it holds stay in use. It implements oidc.KeySet.
type keySet struct {
	url  string
	algs []string
	v    *Verifier

	mu      sync.Mutex
	keys    []jose.JSONWebKey
	fetched time.Time // of the keys held
	tried   time.Time // of the last fetch, failed or not
}

var _ oidc.KeySet = (*keySet)(nil)

// VerifySignature checks jwt's signature with the key its kid names and
// returns the payload, or a *Refusal.
func (k *keySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	payload, r := k.verify(ctx, jwt)
	if r != nil {
		if slot, ok := ctx.Value(refusalKey{}).(*refusalSlot); ok {
			slot.r = r
		}
		return nil, r
	}
	return payload, nil
}

func (k *keySet) verify(ctx context.Context, jwt string) ([]byte, *Refusal) {
	algs := make([]jose.SignatureAlgorithm, len(k.algs))
	for i, a := range k.algs {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	jws, err := jose.ParseSignedCompact(jwt, algs)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, refuse(ReasonMalformed, "the token is not a JWT with one signature")
	}
	kid := jws.Signatures[0].Header.KeyID
	now := k.v.cfg.Now()
	k.mu.Lock()
	stale := k.fetched.IsZero() || now.Sub(k.fetched) > k.v.cfg.KeyMaxAge
	k.mu.Unlock()
	if stale {
		k.refresh(ctx, now)
	}
	keys := k.find(kid)
	if len(keys) == 0 {
		k.mu.Lock()
		mayFetch := now.Sub(k.tried) >= k.v.cfg.RefetchInterval
		k.mu.Unlock()
		if mayFetch {
			k.refresh(ctx, now)
			keys = k.find(kid)
		}
	}
	if len(keys) == 0 {
		k.mu.Lock()
		none := len(k.keys) == 0
		k.mu.Unlock()
		if none {
			return nil, refuse(ReasonUnavailable, "the identity provider's keys cannot be fetched to verify the token; try again later")
		}
		return nil, refuse(ReasonUnknownKey, "the token is signed with a key the identity provider does not publish")
	}
	for _, key := range keys {
		if payload, err := jws.Verify(key); err == nil {
			return payload, nil
		}
	}
	return nil, refuse(ReasonSignature, "the token's signature does not verify")
}

// find returns the signing keys of kid (every signing key when kid is "").
func (k *keySet) find(kid string) []jose.JSONWebKey {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []jose.JSONWebKey
	for _, key := range k.keys {
		if (kid == "" || key.KeyID == kid) && (key.Use == "" || key.Use == "sig") && key.IsPublic() {
			out = append(out, key)
		}
	}
	return out
}

// refresh fetches the key set; concurrent callers may each fetch, which
// is harmless (RefetchInterval bounds the rate of unknown kids).
func (k *keySet) refresh(ctx context.Context, now time.Time) {
	k.mu.Lock()
	k.tried = now
	k.mu.Unlock()
	keys, err := k.fetch(ctx)
	k.v.observe(err)
	if err != nil {
		return
	}
	k.mu.Lock()
	k.keys, k.fetched = keys, now
	k.mu.Unlock()
}

func (k *keySet) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), k.v.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, fmt.Errorf("key set of %s: %w", k.v.cfg.Issuer, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.v.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("key set of %s: %s", k.v.cfg.Issuer, firstLine(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("key set of %s: %s", k.v.cfg.Issuer, firstLine(err))
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("key set of %s: %s", k.v.cfg.Issuer, resp.Status)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("key set of %s: not a JSON Web Key Set", k.v.cfg.Issuer)
	}
	if len(set.Keys) == 0 {
		return nil, errors.New("key set of " + k.v.cfg.Issuer + ": no keys")
	}
	return set.Keys, nil
}
