package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/dmls-project/dmls/internal/apiclient"
)

func errorsOf(t *testing.T, body []byte) []apiclient.FieldError {
	t.Helper()
	var e apiclient.ErrorResponse
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return e.Errors
}

// TestInvalidRequests checks that each invalid request gets 400 with a
// finding on the field of the request body that is wrong, and commits
// nothing.
func TestInvalidRequests(t *testing.T) {
	r := startRepos(t)
	ts := startServer(t, r)
	// mnist exists for the changes below.
	must(ts.client(researchToken).SubmitTrainingJob(context.Background(), "ml-research", trainingJob("mnist")))(t)
	before := r.git.CommitCount(t, "ml-model", "")
	tests := []struct {
		name        string
		method      string
		path        string
		body        string
		wantPath    string
		wantMessage string
	}{
		{"replicas below 1", "POST", "/v1/teams/ml-research/trainingjobs",
			`{"name":"a","training":{"image":"registry.example.com/t:1","replicas":{"worker":{"replicas":0}}}}`,
			"training.replicas.worker.replicas", "must be at least 1"},
		{"unknown field", "POST", "/v1/teams/ml-research/trainingjobs",
			`{"name":"a","training":{"image":"registry.example.com/t:1","imag":"x","replicas":{"worker":{"replicas":1}}}}`,
			"training.imag", "field not allowed"},
		{"bad image", "POST", "/v1/teams/ml-research/trainingjobs",
			`{"name":"a","training":{"image":"Not An Image","replicas":{"worker":{"replicas":1}}}}`,
			"training.image", "image reference"},
		{"no replica set", "POST", "/v1/teams/ml-research/trainingjobs",
			`{"name":"a","training":{"image":"registry.example.com/t:1"}}`,
			"training.replicas", "at least one replica set"},
		{"over the prod limit", "POST", "/v1/teams/ml-research/trainingjobs",
			`{"name":"a","training":{"image":"registry.example.com/t:1","replicas":{"worker":{"replicas":2}}},"overrides":{"prod":{"training":{"replicas":{"worker":{"replicas":100}}}}}}`,
			"overrides.prod.training.replicas.worker.replicas", "exceed the limit of 16"}, // issue 8: the override's own path
		{"unknown environment", "POST", "/v1/teams/ml-research/trainingjobs",
			`{"name":"a","training":{"image":"registry.example.com/t:1","replicas":{"worker":{"replicas":1}}},"overrides":{"qa":{"training":{}}}}`,
			"overrides.qa", "unknown environment"},
		{"bad name", "POST", "/v1/teams/ml-research/trainingjobs",
			`{"name":"Bad_Name","training":{"image":"registry.example.com/t:1"}}`, "name", "DNS-1035"},
		{"serving in a training job", "POST", "/v1/teams/ml-research/trainingjobs",
			`{"name":"a","training":{"image":"registry.example.com/t:1"},"serving":{}}`, "serving", "not allowed"},
		{"not JSON", "POST", "/v1/teams/ml-research/trainingjobs", `{"name":`, "", "JSON"},
		{"patch run", "PATCH", "/v1/teams/ml-research/trainingjobs/mnist", `{"run":7}`, "run", "retrain"},
		{"patch wrong type", "PATCH", "/v1/teams/ml-research/trainingjobs/mnist", `{"replicas":{"worker":{"replicas":"four"}}}`,
			"replicas.worker.replicas", ""},
		{"patch unknown env", "PATCH", "/v1/teams/ml-research/trainingjobs/mnist?env=qa", `{"image":"registry.example.com/t:2"}`,
			"env", "unknown environment"},
		{"patch latest in prod", "PATCH", "/v1/teams/ml-research/trainingjobs/mnist?env=prod", `{"image":"registry.example.com/t:latest"}`,
			"image", "refuses the tag"},
		{"retrain with a body", "POST", "/v1/teams/ml-research/trainingjobs/mnist/retrain", `{"run":3}`, "", "no body"},
		{"canary percent", "PUT", "/v1/teams/ml-serving/modelservices/ranker/canary", `{"percent":120}`, "percent", "must be at most 100"},
		{"rollout image and storage", "POST", "/v1/teams/ml-serving/modelservices/ranker/rollouts",
			`{"image":"registry.example.com/r:2","storageUri":"pvc://m/x"}`, "", "exactly one"},
		{"rollout bad storage", "POST", "/v1/teams/ml-serving/modelservices/ranker/rollouts", `{"storageUri":"s3://m/x"}`, "storageUri", ""},
		{"rollout unknown field", "POST", "/v1/teams/ml-serving/modelservices/ranker/rollouts", `{"image":"registry.example.com/r:2","weight":3}`, "weight", "not allowed"},
		{"promote without from", "POST", "/v1/teams/ml-serving/apps/ranker/promote", `{}`, "from", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := researchToken
			if strings.Contains(tt.path, "ml-serving") {
				token = servingToken
			}
			status, _, body := ts.do(t, tt.method, tt.path, token, []byte(tt.body))
			if status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", status, body)
			}
			errs := errorsOf(t, body)
			for _, e := range errs {
				if e.Path == tt.wantPath && strings.Contains(e.Message, tt.wantMessage) {
					return
				}
			}
			t.Errorf("no finding at %q containing %q: %s", tt.wantPath, tt.wantMessage, body)
		})
	}
	if n := r.git.CommitCount(t, "ml-model", ""); n != before {
		t.Errorf("invalid requests made %d commits", n-before)
	}
}

// TestErrorStatuses checks 401, 403, 404, 409, 413 and 422.
func TestErrorStatuses(t *testing.T) {
	r := startRepos(t)
	ts := startServer(t, r, func(c *Config) { c.MaxBodyBytes = 4096 })
	must(ts.client(researchToken).SubmitTrainingJob(context.Background(), "ml-research", trainingJob("mnist")))(t)
	job := `{"name":"mnist","training":{"image":"registry.example.com/t:1","replicas":{"worker":{"replicas":1}}}}`
	tests := []struct {
		name   string
		method string
		path   string
		token  string
		body   string
		header []string
		want   int
		msg    string
	}{
		{"no token", "GET", "/v1/teams/ml-research/trainingjobs", "", "", nil, 401, "missing bearer token"},
		{"bad token", "GET", "/v1/teams/ml-research/trainingjobs", "not-a-token-of-anyone", "", nil, 401, "invalid bearer token"},
		{"basic auth", "GET", "/v1/whoami", "", "", []string{"Authorization", "Basic dXNlcjpwYXNz"}, 401, "missing bearer token"},
		{"other team's path", "POST", "/v1/teams/ml-serving/trainingjobs", researchToken, job, nil, 403, "may not act for team ml-serving"},
		{"other team's app", "POST", "/v1/teams/ml-research/modelservices/ranker/rollouts", adminToken,
			`{"image":"registry.example.com/r:2"}`, nil, 403, "belongs to team ml-serving"},
		{"read other team's app", "GET", "/v1/teams/ml-research/modelservices/ranker", adminToken, "", nil, 403, "belongs to team ml-serving"},
		{"unknown team", "GET", "/v1/teams/nobody/trainingjobs", adminToken, "", nil, 404, "no team nobody"},
		{"unknown app", "GET", "/v1/teams/ml-research/trainingjobs/nothing", researchToken, "", nil, 404, "no app nothing"},
		{"change unknown app", "POST", "/v1/teams/ml-research/trainingjobs/nothing/retrain", researchToken, "", nil, 404, "no app nothing"},
		{"no training job", "GET", "/v1/teams/ml-serving/trainingjobs/ranker", servingToken, "", nil, 404, "no training job"},
		{"unknown route", "GET", "/v1/nothing", researchToken, "", nil, 404, "no such API route"},
		{"hand-written app", "POST", "/v1/teams/ml-research/trainingjobs/fashion-mnist/retrain", researchToken, "", nil, 409, "written by hand"},
		{"submit twice", "POST", "/v1/teams/ml-research/trainingjobs", researchToken, job, nil, 409, "already has a training job"},
		{"no canary", "POST", "/v1/teams/ml-serving/modelservices/ranker/canary/promote", servingToken, "{}", nil, 409, "no canary"},
		{"nothing to roll back", "POST", "/v1/teams/ml-serving/modelservices/ranker/rollback", servingToken, "{}", nil, 409, "no previous revision"},
		{"body too large", "POST", "/v1/teams/ml-research/trainingjobs", researchToken, `{"name":"` + strings.Repeat("x", 5000) + `"}`, nil, 413, "larger than 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := ts.do(t, tt.method, tt.path, tt.token, []byte(tt.body), tt.header...)
			if status != tt.want {
				t.Fatalf("status %d, want %d: %s", status, tt.want, body)
			}
			if !strings.Contains(string(body), tt.msg) {
				t.Errorf("body lacks %q: %s", tt.msg, body)
			}
			if status == 401 && h.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if h.Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id")
			}
		})
	}

	t.Run("idempotency key reused", func(t *testing.T) {
		key := []string{"Idempotency-Key", "reuse-1"}
		if s, _, b := ts.do(t, "POST", "/v1/teams/ml-research/trainingjobs/mnist/retrain", researchToken, nil, key...); s != 202 {
			t.Fatalf("first: %d %s", s, b)
		}
		s, _, b := ts.do(t, "PATCH", "/v1/teams/ml-research/trainingjobs/mnist", researchToken, []byte(`{"image":"registry.example.com/t:9"}`), key...)
		if s != http.StatusUnprocessableEntity || !strings.Contains(string(b), "different request") {
			t.Errorf("reused key: %d %s", s, b)
		}
	})
}

// TestAuditLogHasNoSecrets checks that the audit log names actor, team,
// request id and outcome, and never a token or a body.
func TestAuditLogHasNoSecrets(t *testing.T) {
	r := startRepos(t)
	ts := startServer(t, r)
	must(ts.client(researchToken).SubmitTrainingJob(context.Background(), "ml-research", trainingJob("mnist")))(t)
	ts.do(t, "GET", "/v1/teams/ml-research/trainingjobs", "wrong-token-wrong-token", nil)
	ts.do(t, "POST", "/v1/teams/ml-serving/trainingjobs", researchToken, []byte(`{}`), "Idempotency-Key", "secret-looking-key")
	log := ts.audit.String()
	for _, secret := range []string{researchToken, servingToken, adminToken, "wrong-token-wrong-token", "secret-looking-key", "learning_rate"} {
		if strings.Contains(log, secret) {
			t.Errorf("the audit log holds %q:\n%s", secret, log)
		}
	}
	lines := ts.audit.lines(t)
	if len(lines) != 3 {
		t.Fatalf("%d audit lines, want 3:\n%s", len(lines), log)
	}
	want := []struct {
		status         float64
		outcome, actor string
	}{
		{201, "committed", "ml-research#"},
		{401, "rejected", ""},
		{403, "rejected", "ml-research#"},
	}
	for i, w := range want {
		l := lines[i]
		if l["status"] != w.status || l["outcome"] != w.outcome || !strings.HasPrefix(l["actor"].(string), w.actor) || l["request_id"] == "" {
			t.Errorf("audit line %d: %v", i, l)
		}
	}
	if lines[0]["sha_ml-model"] == nil || lines[0]["sha_k8s-config"] == nil {
		t.Errorf("no commits in the audit line: %v", lines[0])
	}
}
