package api

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/dmls-project/dmls/internal/spec"
)

// Review is what a cluster says of a token.
type Review struct {
	// Authenticated is false for a token the cluster does not know (or
	// that holds none of the audiences asked for).
	Authenticated bool
	// User is the user the token is, such as
	// system:serviceaccount:<namespace>:<name>.
	User string
	// Audiences are those of the audiences asked for that the token holds.
	Audiences []string
}

// TokenReviewer checks a token against a cluster. It is safe for
// concurrent use.
type TokenReviewer interface {
	Review(ctx context.Context, token string, audiences []string) (Review, error)
}

// KubeTokenReviewer checks tokens with TokenReviews
// (authentication.k8s.io/v1) against the cluster of its client, which
// needs the right to create tokenreviews (ClusterRole system:auth-delegator).
type KubeTokenReviewer struct {
	client dynamic.Interface
}

var _ TokenReviewer = (*KubeTokenReviewer)(nil)

var tokenReviewGVR = schema.GroupVersionResource{Group: "authentication.k8s.io", Version: "v1", Resource: "tokenreviews"}

// NewKubeTokenReviewer returns a reviewer for the cluster of cfg.
func NewKubeTokenReviewer(cfg *rest.Config) (*KubeTokenReviewer, error) {
	c, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("token review client: %w", err)
	}
	return &KubeTokenReviewer{client: c}, nil
}

// Review creates a TokenReview of token for audiences.
func (k *KubeTokenReviewer) Review(ctx context.Context, token string, audiences []string) (Review, error) {
	tr := &authv1.TokenReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "TokenReview"},
		Spec:     authv1.TokenReviewSpec{Token: token, Audiences: audiences},
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(tr)
	if err != nil {
		return Review{}, err
	}
	out, err := k.client.Resource(tokenReviewGVR).Create(ctx, &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{})
	if err != nil {
		// The error quotes no token: the API server never echoes it.
		return Review{}, fmt.Errorf("token review: %w", err)
	}
	var got authv1.TokenReview
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(out.Object, &got); err != nil {
		return Review{}, fmt.Errorf("token review: %w", err)
	}
	return Review{Authenticated: got.Status.Authenticated, User: got.Status.User.Username, Audiences: got.Status.Audiences}, nil
}

// saPrefix starts the user name of a service account.
const saPrefix = "system:serviceaccount:"

// saCacheTTL is how long a review's verdict is kept, so that a busy
// automation does not make one TokenReview per request; saCacheSize
// bounds the verdicts kept.
const (
	saCacheTTL  = time.Minute
	saCacheSize = 1024
)

// saCache keeps reviews by the token's SHA-256 (never the token).
type saCache struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]saVerdict
}

type saVerdict struct {
	review Review
	until  time.Time
}

func (c *saCache) get(h [sha256.Size]byte, now time.Time) (Review, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[h]
	if !ok || now.After(v.until) {
		return Review{}, false
	}
	return v.review, true
}

func (c *saCache) put(h [sha256.Size]byte, r Review, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= saCacheSize {
		c.m = map[[sha256.Size]byte]saVerdict{}
	}
	c.m[h] = saVerdict{review: r, until: now.Add(saCacheTTL)}
}

// serviceAccountsOn reports whether p maps service accounts to teams and
// the server can review their tokens.
func (s *Server) serviceAccountsOn(p *spec.Platform) bool {
	return p != nil && p.Auth != nil && len(p.Auth.ServiceAccounts) > 0 && s.cfg.Reviewer != nil
}

// serviceAccount authenticates token as a service account of
// api.auth.serviceAccounts with a TokenReview that requires the audience
// dmls; ok is false when service accounts are off or token is no JWT.
func (s *Server) serviceAccount(ctx context.Context, p *spec.Platform, token string) (id identity, e *apiError, ok bool) {
	if !s.serviceAccountsOn(p) || strings.Count(token, ".") != 2 {
		return identity{}, nil, false
	}
	h := sha256.Sum256([]byte(token))
	now := time.Now()
	review, cached := s.saReviews.get(h, now)
	if !cached {
		var err error
		review, err = s.cfg.Reviewer.Review(ctx, token, []string{spec.ServiceAccountAud})
		if err != nil {
			s.log.Warn("service-account token review failed", "error", err)
			s.auth.refusals.WithLabelValues(reasonReview).Inc()
			return identity{}, errorf(http.StatusUnauthorized, "invalid bearer token: the cluster cannot check the service-account token now; try again later"), true
		}
		s.saReviews.put(h, review, now)
	}
	id, e = serviceAccountIdentity(review, p.Auth.ServiceAccounts)
	if e != nil {
		reason := reasonUnknown
		if e.Status == http.StatusForbidden {
			reason = reasonNoTeam
		} else if review.Authenticated {
			reason = reasonSAAudience
		}
		s.auth.refusals.WithLabelValues(reason).Inc()
		return identity{}, e, true
	}
	s.auth.logins.WithLabelValues(methodServiceAccount).Inc()
	return id, nil, true
}

// serviceAccountIdentity is the identity of a reviewed token: a service
// account's token that holds the audience dmls, of an account that
// accounts ("<namespace>/<name>" → team) maps to a team.
func serviceAccountIdentity(r Review, accounts map[string]string) (identity, *apiError) {
	if !r.Authenticated {
		return identity{}, errorf(http.StatusUnauthorized, "invalid bearer token")
	}
	if !slices.Contains(r.Audiences, spec.ServiceAccountAud) {
		return identity{}, errorf(http.StatusUnauthorized, "invalid bearer token: the service-account token is not for dmls (request it with audience %s)", spec.ServiceAccountAud)
	}
	rest, isSA := strings.CutPrefix(r.User, saPrefix)
	ns, name, ok := strings.Cut(rest, ":")
	if !isSA || !ok || ns == "" || name == "" {
		return identity{}, errorf(http.StatusUnauthorized, "invalid bearer token: the token is not a service account's")
	}
	key := ns + "/" + name
	team, ok := accounts[key]
	if !ok {
		return identity{}, forbidden("service account %s acts for no team: add it to api.auth.serviceAccounts in platform.cue", key)
	}
	return identity{team: team, actor: key, sa: key}, nil
}
