package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/dmls-project/dmls/internal/apiclient"
	"github.com/dmls-project/dmls/internal/gitops"
)

// TestIdempotencyInHistory is issue 8, section 8: an Idempotency-Key is
// recorded, hashed with its actor, in the commit that made the change, so
// that a retry on another replica, or after a restart, gets the first
// answer and makes no commit.
func TestIdempotencyInHistory(t *testing.T) {
	r := startRepos(t)
	first := startServer(t, r)
	other := startServer(t, r)

	type call struct {
		name, method, path, token, key string
		body                           any
	}
	calls := []call{
		{"submit", "POST", "/v1/teams/ml-research/trainingjobs", researchToken, "submit-1", trainingJob("hist-a")},
		{"retrain", "POST", "/v1/teams/ml-research/trainingjobs/hist-a/retrain", researchToken, "retrain-1", nil},
		{"patch", "PATCH", "/v1/teams/ml-research/trainingjobs/hist-a", researchToken, "patch-1", map[string]any{"replicas": map[string]any{"worker": map[string]any{"replicas": 3}}}},
		{"rollout by another actor", "POST", "/v1/teams/ml-serving/modelservices/ranker/rollouts", servingToken, "submit-1", map[string]any{"image": "registry.example.com/ranker:2.0"}},
	}
	encode := func(v any) []byte {
		if v == nil {
			return nil
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	headers := func(c call) []string {
		h := []string{apiclient.HeaderIdempotencyKey, c.key}
		if c.method == "PATCH" {
			h = append(h, "Content-Type", "application/merge-patch+json")
		}
		return h
	}
	type answer struct {
		status int
		res    apiclient.Result
	}
	firsts := map[string]answer{}
	for _, c := range calls {
		code, _, b := first.do(t, c.method, c.path, c.token, encode(c.body), headers(c)...)
		var res apiclient.Result
		if err := json.Unmarshal(b, &res); err != nil || code >= 300 {
			t.Fatalf("%s: %d %s", c.name, code, b)
		}
		firsts[c.name] = answer{code, res}
	}
	commits := r.git.CommitCount(t, "ml-model", "")
	msgs := strings.Join(r.git.Messages(t, "ml-model", ""), "\n")
	if strings.Contains(msgs, "submit-1") || strings.Contains(msgs, "retrain-1") {
		t.Errorf("a raw Idempotency-Key is in the commit messages:\n%s", msgs)
	}
	if n := strings.Count(msgs, TrailerIdempotency+": "); n != len(calls) {
		t.Errorf("%d %s trailers for %d keyed changes:\n%s", n, TrailerIdempotency, len(calls), msgs)
	}

	// Another replica, and a restarted server (a new one with an empty
	// memory), answer every retry with the first answer.
	restarted := startServer(t, r)
	for _, srv := range []struct {
		name string
		ts   *testServer
	}{{"other replica", other}, {"restarted", restarted}} {
		for _, c := range calls {
			code, h, b := srv.ts.do(t, c.method, c.path, c.token, encode(c.body), headers(c)...)
			var res apiclient.Result
			_ = json.Unmarshal(b, &res)
			want := firsts[c.name]
			if code != want.status || res.RequestID != want.res.RequestID || fmt.Sprint(res.Commits[:1]) != fmt.Sprint(want.res.Commits[:1]) || !res.Changed {
				t.Errorf("%s, %s: %d %s\nwant %d %+v", srv.name, c.name, code, b, want.status, want.res)
			}
			if h.Get(apiclient.HeaderReplayed) != "true" {
				t.Errorf("%s, %s: not marked as replayed", srv.name, c.name)
			}
		}
		// Issue 18, section 4: replays found in history count too; the
		// metric stayed at 0 after a restart.
		if m := srv.ts.metric(t, "dmls_api_idempotent_replays_total"); m != fmt.Sprintf("dmls_api_idempotent_replays_total %d", len(calls)) {
			t.Errorf("%s: %q, want %d replays", srv.name, m, len(calls))
		}
	}
	if n := r.git.CommitCount(t, "ml-model", ""); n != commits {
		t.Errorf("retries made %d commits", n-commits)
	}

	// A key used again for a different request is refused, on any replica.
	code, _, b := restarted.do(t, "PATCH", "/v1/teams/ml-research/trainingjobs/hist-a", researchToken,
		encode(map[string]any{"replicas": map[string]any{"worker": map[string]any{"replicas": 4}}}), headers(calls[2])...)
	if code != http.StatusUnprocessableEntity {
		t.Errorf("key reused for another body: %d %s, want 422", code, b)
	}
	// The same key from another actor is another request.
	code, h, _ := restarted.do(t, "POST", "/v1/teams/ml-research/trainingjobs/hist-a/retrain", adminToken, nil, apiclient.HeaderIdempotencyKey, "retrain-1")
	if code != http.StatusAccepted || h.Get(apiclient.HeaderReplayed) == "true" {
		t.Errorf("another actor's key: %d, replayed %q", code, h.Get(apiclient.HeaderReplayed))
	}
	if n := r.git.CommitCount(t, "ml-model", ""); n != commits+1 {
		t.Errorf("%d commits after another actor's change, want %d", n, commits+1)
	}
}

// TestCommitTrailers checks the trailer parser on the messages the API
// writes and on ones it must not misread.
func TestCommitTrailers(t *testing.T) {
	for _, tt := range []struct {
		msg  string
		want int
	}{
		{"subject\n\nbody\n\nDmls-Request-Id: a\nDmls-Idempotency: k f a\n", 2},
		{"subject\n\nDmls-Idempotency: k f a", 1},
		{"subject only\n", 0},
		{"subject\n\nDmls-Idempotency: k f a\nnot a trailer line\n", 0},
	} {
		if got := (gitops.Commit{Message: tt.msg}).Trailers(); len(got) != tt.want {
			t.Errorf("%q: %d trailers %v, want %d", tt.msg, len(got), got, tt.want)
		}
	}
}
