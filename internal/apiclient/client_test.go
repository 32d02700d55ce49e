package apiclient

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRetryKeepsIdempotencyKey answers 429 and 503 before 202 and checks
// that the client waits, retries and sends the same Idempotency-Key each
// time, so that the server can tell a retry from a new change.
func TestRetryKeepsIdempotencyKey(t *testing.T) {
	var mu sync.Mutex
	var keys []string
	statuses := []int{429, 503, 202}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer tok" {
			t.Errorf("Authorization %q", r.Header.Get("Authorization"))
		}
		keys = append(keys, r.Header.Get(HeaderIdempotencyKey))
		status := statuses[len(keys)-1]
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(status)
		if status == 202 {
			_, _ = w.Write([]byte(`{"requestId":"r1","operation":"retrain","team":"t","app":"a","changed":true,"commits":[{"repo":"ml-model","sha":"abc"}],"applications":["a-dev"]}`))
			return
		}
		_, _ = w.Write([]byte(`{"errors":[{"message":"busy"}]}`))
	}))
	defer srv.Close()
	c := &Client{BaseURL: srv.URL, Token: "tok", MaxRetryWait: 10 * time.Millisecond}
	var status int
	res, err := c.Retrain(context.Background(), "t", "a", Status(&status))
	if err != nil {
		t.Fatal(err)
	}
	if status != 202 || res.Commit("ml-model") != "abc" || len(keys) != 3 {
		t.Fatalf("status %d, result %+v, %d attempts", status, res, len(keys))
	}
	if keys[0] == "" || keys[0] != keys[1] || keys[1] != keys[2] {
		t.Errorf("keys %q: want one key for all attempts", keys)
	}
}

// TestErrorsListFindings checks that a 400 comes back as an *Error with
// the server's findings, and is not retried.
func TestErrorsListFindings(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Header().Set(HeaderRequestID, "req-1")
		w.WriteHeader(400)
		_, _ = w.Write([]byte(`{"requestId":"req-1","errors":[{"path":"training.image","message":"must be an image reference"}]}`))
	}))
	defer srv.Close()
	c := &Client{BaseURL: srv.URL, Token: "tok"}
	_, err := c.SubmitTrainingJob(context.Background(), "t", TrainingJobSubmission{Name: "a"})
	if !IsStatus(err, 400) || calls != 1 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
	if got := err.Error(); !strings.Contains(got, "training.image: must be an image reference") {
		t.Errorf("error %q", got)
	}
	if e := err.(*Error); e.RequestID != "req-1" {
		t.Errorf("request id %q", e.RequestID)
	}
}
