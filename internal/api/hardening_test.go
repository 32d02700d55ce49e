package api

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Issue 8, section 9: unauthenticated requests are answered 401 before
// their body is read, so that a slow body without a token holds no
// connection. Each request sends its headers and only part of its body,
// then waits for the answer.
func TestTokenFirst(t *testing.T) {
	r := startRepos(t)
	ts := startServer(t, r)
	addr := strings.TrimPrefix(ts.http.URL, "http://")
	tests := []struct {
		name, method, path, auth string
		chunked                  bool
	}{
		{"no token, submit", "POST", "/v1/teams/ml-research/trainingjobs", "", false},
		{"no token, chunked submit", "POST", "/v1/teams/ml-research/trainingjobs", "", true},
		{"bad token, patch", "PATCH", "/v1/teams/ml-research/trainingjobs/mnist", "Bearer not-a-token-of-anyone", false},
		{"bad token, chunked rollout", "POST", "/v1/teams/ml-serving/modelservices/ranker/rollouts", "Bearer not-a-token-of-anyone", true},
		{"basic auth, canary", "PUT", "/v1/teams/ml-serving/modelservices/ranker/canary", "Basic dXNlcjpwYXNz", false},
		{"empty bearer, delete", "DELETE", "/v1/teams/ml-research/trainingjobs/mnist", "Bearer ", false},
		{"no token, GET with a body", "GET", "/v1/teams/ml-research/trainingjobs", "", false},
		{"no token, unknown route", "POST", "/v1/nothing", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var req strings.Builder
			fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n", tt.method, tt.path, addr)
			if tt.auth != "" {
				fmt.Fprintf(&req, "Authorization: %s\r\n", tt.auth)
			}
			if tt.chunked {
				req.WriteString("Transfer-Encoding: chunked\r\n\r\n5\r\n{\"nam\r\n")
			} else {
				req.WriteString("Content-Length: 100000\r\n\r\n{\"name\":")
			}
			if _, err := c.Write([]byte(req.String())); err != nil {
				t.Fatal(err)
			}
			// The rest of the body never comes.
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("no answer while the body is unfinished: %v", err)
			}
			resp.Body.Close()
			want := http.StatusUnauthorized
			if tt.path == "/v1/nothing" {
				want = http.StatusNotFound
			}
			if resp.StatusCode != want {
				t.Errorf("status %d, want %d", resp.StatusCode, want)
			}
			if !resp.Close {
				t.Error("the connection is kept open for a body that will not be read")
			}
		})
	}
	// A request with its token is still read in full and answered.
	if status, _, body := ts.do(t, "POST", "/v1/teams/ml-research/trainingjobs", researchToken,
		[]byte(`{"name":"tokfirst","training":{"image":"registry.example.com/t:1","replicas":{"worker":{"replicas":1}}}}`)); status != 201 {
		t.Errorf("with a token: %d %s", status, body)
	}
}

// Issue 8, section 9: a JSON body with a key twice is refused with 400 and
// the key's path, as a spec file would be, whatever the route, and nothing
// is committed.
func TestDuplicateKeys(t *testing.T) {
	r := startRepos(t)
	ts := startServer(t, r)
	must(ts.client(researchToken).SubmitTrainingJob(context.Background(), "ml-research", trainingJob("mnist")))(t)
	before := r.git.CommitCount(t, "ml-model", "")
	job := `"training":{"image":"registry.example.com/t:1","replicas":{"worker":{"replicas":1}}}`
	tests := []struct {
		name, method, path, body, wantPath string
	}{
		{"top level", "POST", "/v1/teams/ml-research/trainingjobs", `{"name":"a","name":"b",` + job + `}`, "name"},
		{"same value twice", "POST", "/v1/teams/ml-research/trainingjobs", `{"name":"a","name":"a",` + job + `}`, "name"},
		{"section twice", "POST", "/v1/teams/ml-research/trainingjobs", `{"name":"a",` + job + `,` + job + `}`, "training"},
		{"nested", "POST", "/v1/teams/ml-research/trainingjobs",
			`{"name":"a","training":{"image":"registry.example.com/t:1","replicas":{"worker":{"replicas":1,"replicas":100}}}}`,
			"training.replicas.worker.replicas"},
		{"in overrides", "POST", "/v1/teams/ml-research/trainingjobs",
			`{"name":"a",` + job + `,"overrides":{"prod":{"training":{"image":"x"}},"prod":{}}}`, "overrides.prod"},
		{"in a list", "POST", "/v1/teams/ml-research/trainingjobs",
			`{"name":"a","training":{"image":"registry.example.com/t:1","command":["a"],"env":{"A":"1","A":"2"},"replicas":{"worker":{"replicas":1}}}}`,
			"training.env.A"},
		{"in an object in a list", "POST", "/v1/teams/ml-research/trainingjobs",
			`{"name":"a","envs":["dev"],"training":{"image":"registry.example.com/t:1","replicas":{"worker":{"replicas":1}},"scheduling":{"tolerations":[{"key":"a","key":"b"}]}}}`,
			"training.scheduling.tolerations[0].key"},
		{"escaped the same", "POST", "/v1/teams/ml-research/trainingjobs", `{"name":"a","\u006eame":"b",` + job + `}`, "name"},
		{"model service", "POST", "/v1/teams/ml-serving/modelservices",
			`{"name":"s","serving":{"image":"registry.example.com/s:1","image":"registry.example.com/s:2"}}`, "serving.image"},
		{"patch", "PATCH", "/v1/teams/ml-research/trainingjobs/mnist", `{"image":"registry.example.com/t:2","image":"registry.example.com/t:3"}`, "image"},
		{"rollout", "POST", "/v1/teams/ml-serving/modelservices/ranker/rollouts", `{"image":"registry.example.com/r:2","canary":10,"canary":90}`, "canary"},
		{"canary", "PUT", "/v1/teams/ml-serving/modelservices/ranker/canary", `{"percent":10,"percent":50}`, "percent"},
		{"promote", "POST", "/v1/teams/ml-serving/apps/ranker/promote", `{"from":"dev","from":"staging"}`, "from"},
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
			if len(errs) != 1 || errs[0].Path != tt.wantPath || !strings.Contains(errs[0].Message, "twice") {
				t.Errorf("findings %+v, want one at %s saying the key is there twice", errs, tt.wantPath)
			}
		})
	}
	// Keys that only look alike are different keys.
	if status, _, body := ts.do(t, "POST", "/v1/teams/ml-research/trainingjobs", researchToken,
		[]byte(`{"name":"alike","training":{"image":"registry.example.com/t:1","env":{"A":"1","a":"2"},"replicas":{"worker":{"replicas":1}}}}`)); status != 201 {
		t.Errorf("keys differing in case: %d %s", status, body)
	}
	if n := r.git.CommitCount(t, "ml-model", ""); n != before+1 {
		t.Errorf("%d commits, want 1 (the last, valid request)", n-before)
	}
}

// Issue 8, section 10: the API says what the CLI says about an enum and
// about an error an override causes.
func TestReadableMessages(t *testing.T) {
	r := startRepos(t)
	ts := startServer(t, r)
	must(ts.client(researchToken).SubmitTrainingJob(context.Background(), "ml-research", trainingJob("mnist")))(t)
	img := `"image":"registry.example.com/t:1"`
	worker := `"replicas":{"worker":{"replicas":1}}`
	tests := []struct {
		name, method, path, body, wantPath, wantMessage string
	}{
		{"restart policy", "POST", "/v1/teams/ml-research/trainingjobs", `{"name":"a","training":{` + img + `,` + worker + `,"restartPolicy":"Sometimes"}}`,
			"training.restartPolicy", `"Sometimes" is not one of Always, OnFailure, Never, ExitCode`},
		{"restart policy, wrong case", "POST", "/v1/teams/ml-research/trainingjobs", `{"name":"a","training":{` + img + `,` + worker + `,"restartPolicy":"never"}}`,
			"training.restartPolicy", `"never" is not one of Always, OnFailure, Never, ExitCode`},
		{"restart policy, a number", "POST", "/v1/teams/ml-research/trainingjobs", `{"name":"a","training":{` + img + `,` + worker + `,"restartPolicy":5}}`,
			"training.restartPolicy", `5 is not one of Always, OnFailure, Never, ExitCode (a string is needed)`},
		{"restart policy of a replica set", "POST", "/v1/teams/ml-research/trainingjobs", `{"name":"a","training":{` + img + `,"replicas":{"worker":{"replicas":1,"restartPolicy":"Sometimes"}}}}`,
			"training.replicas.worker.restartPolicy", `"Sometimes" is not one of Always, OnFailure, Never, ExitCode`},
		{"clean pod policy", "POST", "/v1/teams/ml-research/trainingjobs", `{"name":"a","training":{` + img + `,` + worker + `,"cleanPodPolicy":"Most"}}`,
			"training.cleanPodPolicy", `"Most" is not one of None, Running, All`},
		{"hyperparameters as", "POST", "/v1/teams/ml-research/trainingjobs", `{"name":"a","training":{` + img + `,` + worker + `,"hyperparametersAs":"flags"}}`,
			"training.hyperparametersAs", `"flags" is not one of args, env`},
		{"enum in an override", "POST", "/v1/teams/ml-research/trainingjobs", `{"name":"a","training":{` + img + `,` + worker + `},"overrides":{"prod":{"training":{"restartPolicy":"Sometimes"}}}}`,
			"overrides.prod.training.restartPolicy", `"Sometimes" is not one of Always, OnFailure, Never, ExitCode`},
		{"patch", "PATCH", "/v1/teams/ml-research/trainingjobs/mnist", `{"restartPolicy":"Sometimes"}`,
			"restartPolicy", `"Sometimes" is not one of Always, OnFailure, Never, ExitCode`},
		{"patch of an environment", "PATCH", "/v1/teams/ml-research/trainingjobs/mnist?env=prod", `{"cleanPodPolicy":"Most"}`,
			"cleanPodPolicy", `"Most" is not one of None, Running, All`},
		{"override over the prod limit", "POST", "/v1/teams/ml-research/trainingjobs", `{"name":"a","training":{` + img + `,` + worker + `},"overrides":{"prod":{"training":{"replicas":{"worker":{"replicas":100}}}}}}`,
			"overrides.prod.training.replicas.worker.replicas", "exceed the limit of 16"},
		{"override stable is the revision", "POST", "/v1/teams/ml-serving/modelservices", `{"name":"s","serving":{"image":"registry.example.com/s:1","revision":"v2"},"overrides":{"staging":{"serving":{"traffic":{"stable":"v2","canaryPercent":10}}}}}`,
			"overrides.staging.serving.traffic.stable", "stable and revision are both"},
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
			for _, e := range errorsOf(t, body) {
				if e.Path == tt.wantPath && strings.Contains(e.Message, tt.wantMessage) {
					if strings.Contains(e.Message, "conflicting") || strings.Contains(e.Message, "mismatched") {
						t.Errorf("CUE's words in %q", e.Message)
					}
					return
				}
			}
			t.Errorf("no finding at %q containing %q: %s", tt.wantPath, tt.wantMessage, body)
		})
	}
}
