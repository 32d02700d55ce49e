package api

import (
	"net/http"
	"strings"
	"testing"
)

// TestServiceAccountIdentity checks how a TokenReview's verdict becomes
// an identity (issue 22): the audience dmls is required, the user must
// be a service account's, and the account must be mapped to a team,
// for which alone it may act. The review itself runs against a real
// kube-apiserver in tests/e2e (TestServiceAccountTokenReview).
func TestServiceAccountIdentity(t *testing.T) {
	accounts := map[string]string{"ci/trainer": "ml-research"}
	for _, tc := range []struct {
		name    string
		review  Review
		status  int
		message string
	}{
		{"unknown to the cluster", Review{}, http.StatusUnauthorized, "invalid bearer token"},
		{"no audience dmls", Review{Authenticated: true, User: "system:serviceaccount:ci:trainer", Audiences: []string{"https://kubernetes.default.svc"}}, http.StatusUnauthorized, "not for dmls (request it with audience dmls)"},
		{"not a service account", Review{Authenticated: true, User: "admin", Audiences: []string{"dmls"}}, http.StatusUnauthorized, "not a service account's"},
		{"no name", Review{Authenticated: true, User: "system:serviceaccount:ci", Audiences: []string{"dmls"}}, http.StatusUnauthorized, "not a service account's"},
		{"no team", Review{Authenticated: true, User: "system:serviceaccount:ci:other", Audiences: []string{"dmls"}}, http.StatusForbidden, "service account ci/other acts for no team: add it to api.auth.serviceAccounts"},
		{"mapped", Review{Authenticated: true, User: "system:serviceaccount:ci:trainer", Audiences: []string{"dmls"}}, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, e := serviceAccountIdentity(tc.review, accounts)
			if tc.status == 0 {
				if e != nil {
					t.Fatalf("refused: %v", e.Errors)
				}
				if id.sa != "ci/trainer" || !id.mayActFor("ml-research") || id.mayActFor("ml-serving") || id.admin() || id.actorTrailer() != "serviceaccount=ci/trainer" {
					t.Errorf("identity %+v", id)
				}
				return
			}
			if e == nil || e.Status != tc.status || !strings.Contains(e.Errors[0].Message, tc.message) {
				t.Errorf("got %+v, want %d %q", e, tc.status, tc.message)
			}
		})
	}
}
