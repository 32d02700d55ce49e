//go:build e2e

package e2e

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/dmls-project/dmls/internal/api"
	"github.com/dmls-project/dmls/internal/apiclient"
)

var serviceAccountGVR = schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}

// saToken makes a service account in ns and asks the API server for a
// token of it with audience (a TokenRequest, as a projected volume does).
func saToken(t *testing.T, c *Cluster, ns, name, audience string) string {
	t.Helper()
	ctx := context.Background()
	sa := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": name, "namespace": ns}}}
	if _, err := c.Dynamic.Resource(serviceAccountGVR).Namespace(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create service account %s/%s: %v", ns, name, err)
	}
	// The dynamic client posts a subresource to the object's own name:
	// the TokenRequest carries the service account's.
	tr := &authv1.TokenRequest{
		TypeMeta:   metav1.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "TokenRequest"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       authv1.TokenRequestSpec{Audiences: []string{audience}},
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(tr)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Dynamic.Resource(serviceAccountGVR).Namespace(ns).Create(ctx, &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{}, "token")
	if err != nil {
		t.Fatalf("token of %s/%s: %v", ns, name, err)
	}
	tok, _, _ := unstructured.NestedString(out.Object, "status", "token")
	if tok == "" {
		t.Fatalf("token of %s/%s: none in %v", ns, name, out.Object["status"])
	}
	return tok
}

// TestServiceAccountTokenReview is issue 22, section 5: a pod's projected
// service-account token (audience dmls) calls the API as the team that
// api.auth.serviceAccounts maps it to, checked by a TokenReview against
// the real kube-apiserver. A token for another audience is refused (401),
// an account that no team maps is refused (403), and the mapped account
// may not act for another team (403).
func TestServiceAccountTokenReview(t *testing.T) {
	c := connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ns := newNamespace(t, c, "sso")
	trainer := saToken(t, c, ns, "trainer", "dmls")
	stranger := saToken(t, c, ns, "stranger", "dmls")
	otherAudience := saToken(t, c, ns, "trainer", "https://vault.example.com")

	reviewer, err := api.NewKubeTokenReviewer(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	r, err := reviewer.Review(ctx, trainer, []string{"dmls"})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Authenticated || r.User != "system:serviceaccount:"+ns+":trainer" || !slices.Contains(r.Audiences, "dmls") {
		t.Fatalf("review of the trainer's token: %+v", r)
	}
	if r, err := reviewer.Review(ctx, otherAudience, []string{"dmls"}); err != nil || r.Authenticated {
		t.Errorf("review of a token for another audience: %+v %v, want unauthenticated", r, err)
	}

	srv := apiRepos(t, func(platform string) string {
		return platform + "\napi: auth: serviceAccounts: \"" + ns + "/trainer\": \"ml-research\"\n"
	}, nil)
	url := startAPIServer(t, srv, api.Config{Reviewer: reviewer})

	id, err := (&apiclient.Client{BaseURL: url, Token: trainer, Retries: -1}).Whoami(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if id.ServiceAccount != ns+"/trainer" || id.Team != "ml-research" {
		t.Errorf("whoami of the trainer: %+v", id)
	}
	if _, err := (&apiclient.Client{BaseURL: url, Token: trainer, Retries: -1}).TrainingJobs(ctx, "ml-research"); err != nil {
		t.Errorf("the trainer lists its team's jobs: %v", err)
	}
	for _, tc := range []struct {
		name, token, team string
		status            int
	}{
		{"another team", trainer, "ml-serving", 403},
		{"no team", stranger, "ml-research", 403},
		{"another audience", otherAudience, "ml-research", 401},
	} {
		_, err := (&apiclient.Client{BaseURL: url, Token: tc.token, Retries: -1}).TrainingJobs(ctx, tc.team)
		var e *apiclient.Error
		if !errors.As(err, &e) || e.Status != tc.status {
			t.Errorf("%s: %v, want %d", tc.name, err, tc.status)
		}
	}
}
