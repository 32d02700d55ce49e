package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
)

// TestOpenAPI checks that /openapi.json is served without a token, holds
// the schemas generated from CUE, and documents every route.
func TestOpenAPI(t *testing.T) {
	r := startRepos(t)
	ts := startServer(t, r)
	status, h, body := ts.do(t, "GET", "/openapi.json", "", nil)
	if status != 200 || h.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", status, h.Get("Content-Type"))
	}
	var doc struct {
		OpenAPI    string                               `json:"openapi"`
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	for _, name := range []string{"App", "TrainingJob", "ModelService", "TrainingJobSubmission", "ModelServiceSubmission",
		"Rollout", "CanaryUpdate", "Promotion", "Result", "ErrorResponse", "TrainingJobView", "ModelServiceView"} {
		if doc.Components.Schemas[name] == nil {
			t.Errorf("no schema %s", name)
		}
	}
	// A constraint of schemas/training.cue reaches the document.
	run := doc.Components.Schemas["TrainingJob"]["properties"].(map[string]any)["run"].(map[string]any)
	if run["maximum"] != float64(1000000) || run["default"] != float64(1) {
		t.Errorf("TrainingJob.run: %v", run)
	}
	for _, rt := range ts.routes() {
		op := doc.Paths[rt.path][strings.ToLower(rt.method)]
		if op == nil {
			t.Errorf("%s %s is not documented", rt.method, rt.path)
			continue
		}
		if op["operationId"] != rt.id {
			t.Errorf("%s %s: operationId %v", rt.method, rt.path, op["operationId"])
		}
	}
	post := doc.Paths["/v1/teams/{team}/trainingjobs"]["post"]
	responses := post["responses"].(map[string]any)
	for _, code := range []string{"201", "400", "401", "403", "409", "413", "429", "500"} {
		if responses[code] == nil {
			t.Errorf("POST trainingjobs documents no %s", code)
		}
	}
}

// TestMetrics checks the Prometheus metrics after a change.
func TestMetrics(t *testing.T) {
	r := startRepos(t)
	ts := startServer(t, r)
	must(ts.client(researchToken).SubmitTrainingJob(context.Background(), "ml-research", trainingJob("mnist")))(t)
	status, _, body := ts.do(t, "GET", "/metrics", "", nil)
	if status != 200 {
		t.Fatal(status)
	}
	for _, want := range []string{
		`dmls_api_requests_total{code="201",method="POST",route="POST /v1/teams/{team}/trainingjobs"} 1`,
		`dmls_api_request_duration_seconds_bucket{method="POST",route="POST /v1/teams/{team}/trainingjobs"`,
		`dmls_api_commits_total{repo="ml-model",result="committed"} 1`,
		`dmls_api_commits_total{repo="k8s-config",result="committed"}`,
		`dmls_api_queue_depth 0`,
		`dmls_api_batch_size_count 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestParseTokens checks the token file format.
func TestParseTokens(t *testing.T) {
	hash := sha256.Sum256([]byte("hashed-token-0123456789"))
	tests := []struct {
		name    string
		file    string
		token   string
		team    string
		actor   string
		wantErr string
	}{
		{name: "plain", file: "ml-research=plain-token-0123456789\n", token: "plain-token-0123456789", team: "ml-research", actor: "ml-research#"},
		{name: "actor", file: "# c\n\n  ml-research/ci-bot = plain-token-0123456789 \n", token: "plain-token-0123456789", team: "ml-research", actor: "ci-bot"},
		{name: "hashed", file: "ml-serving=sha256:" + hex.EncodeToString(hash[:]) + "\n", token: "hashed-token-0123456789", team: "ml-serving", actor: "ml-serving#"},
		{name: "admin", file: "*=admin-token-0123456789\n", token: "admin-token-0123456789", team: "*", actor: "*#"},
		{name: "unknown token", file: "ml-research=plain-token-0123456789\n", token: "plain-token-0123456780"},
		{name: "short", file: "ml-research=short\n", wantErr: "shorter than 16"},
		{name: "no equals", file: "ml-research plain-token-0123456789\n", wantErr: "want TEAM=TOKEN"},
		{name: "bad team", file: "ML=plain-token-0123456789\n", wantErr: "must be a team name"},
		{name: "bad hash", file: "ml-research=sha256:abc\n", wantErr: "64 lower-case hex"},
		{name: "shared token", file: "a=plain-token-0123456789\nb=plain-token-0123456789\n", wantErr: "teams a and b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tokens, err := ParseTokens(strings.NewReader(tt.file), "tokens")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "plain-token") {
					t.Errorf("the error quotes the token: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			id, ok := tokens.lookup(tt.token)
			if ok != (tt.team != "") || id.team != tt.team || !strings.HasPrefix(id.actor, tt.actor) {
				t.Errorf("lookup: %+v %v", id, ok)
			}
		})
	}
	if _, err := LoadTokens("", ""); err == nil {
		t.Error("no tokens at all is accepted")
	}
}

// TestWhoamiAndHandWrittenApps checks /v1/whoami for each kind of token,
// and that a hand-written app reads like an API-managed one.
func TestWhoamiAndHandWrittenApps(t *testing.T) {
	r := startRepos(t)
	ts := startServer(t, r)
	ctx := context.Background()
	for _, tt := range []struct {
		token, team, actor string
		admin              bool
	}{
		{researchToken, "ml-research", "ml-research#", false},
		{servingToken, "ml-serving", "ci-bot", false},
		{adminToken, "*", "*#", true},
	} {
		id := must(ts.client(tt.token).Whoami(ctx))(t)
		if id.Team != tt.team || !strings.HasPrefix(id.Actor, tt.actor) || id.Admin != tt.admin {
			t.Errorf("whoami: %+v", id)
		}
		checkSchema(t, ts, "#Identity", id)
	}
	job := must(ts.client(researchToken).TrainingJob(ctx, "ml-research", "fashion-mnist"))(t)
	var training struct{ Image string }
	if err := json.Unmarshal(job.Training, &training); err != nil {
		t.Fatal(err)
	}
	if job.Managed || job.Run != 1 || training.Image != "kubeflow/multi-worker-strategy:v0.1" {
		t.Errorf("hand-written job: managed %v, run %d, image %s", job.Managed, job.Run, training.Image)
	}
	if job.Environments[2].Env != "prod" || job.Environments[2].Replicas["worker"] != 8 {
		t.Errorf("prod %+v", job.Environments[2])
	}
	svc := must(ts.client(researchToken).ModelService(ctx, "ml-research", "fashion-mnist"))(t)
	if got := trafficOf(svc, "staging"); got != "stable:fashion-mnist-v1=90 canary:fashion-mnist-v2=10" {
		t.Errorf("staging traffic %s", got)
	}
}
