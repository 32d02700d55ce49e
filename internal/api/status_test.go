package api

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/dmls-project/dmls/internal/gitops"
	"github.com/dmls-project/dmls/internal/status"
	"github.com/dmls-project/dmls/internal/status/kube"
	"github.com/dmls-project/dmls/internal/status/statustest"
)

// statusServer is an API server whose status routes read the fixture
// cluster, with the published commit the tip of k8s-config.
func statusServer(t *testing.T) (*testServer, *statustest.Cluster, string, *repos) {
	t.Helper()
	r := startRepos(t)
	fc := statustest.Start(t, "")
	fc.Set("application-synced-progressing", "tfjob-running", "ksvc-ready")
	ts := startServer(t, r, func(c *Config) {
		c.Status = &kube.Clusters{ArgoCD: fc.Client(t)}
	})
	// The server publishes the config when it starts: Argo CD is to be at
	// the commit it made.
	var commit string
	for deadline := time.Now().Add(time.Minute); commit == ""; time.Sleep(20 * time.Millisecond) {
		var err error
		if commit, err = gitops.Tip(context.Background(), gitops.Target{URL: r.git.RepoURL("k8s-config")}, r.auth()); err != nil || time.Now().After(deadline) {
			t.Fatalf("no config published: %v", err)
		}
	}
	fc.SetCommit(commit)
	return ts, fc, commit, r
}

func TestStatusRoute(t *testing.T) {
	ts, _, commit, _ := statusServer(t)
	for _, path := range []string{"/v1/teams/ml-research/trainingjobs/fashion-mnist/status", "/v1/teams/ml-research/modelservices/fashion-mnist/status"} {
		code, _, body := ts.do(t, "GET", path, researchToken, nil)
		if code != http.StatusOK {
			t.Fatalf("%s: %d %s", path, code, body)
		}
		if errs := checkBody(ts.schema, "#StatusView", body); len(errs) > 0 {
			t.Errorf("%s: the answer is not a #StatusView: %v", path, errs)
		}
		var v status.View
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatal(err)
		}
		if v.App != "fashion-mnist" || len(v.Environments) != 3 || v.Commit == "" {
			t.Fatalf("%s: %s", path, body)
		}
		for _, e := range v.Environments {
			if e.State != status.Running || e.Commit != commit || e.Training.Replicas["Worker"].Active != 2 || len(e.Serving.Traffic) != 2 {
				t.Errorf("%s %s: %+v", path, e.Env, e)
			}
		}
	}
	code, _, body := ts.do(t, "GET", "/v1/teams/ml-research/trainingjobs/fashion-mnist/status?env=staging", researchToken, nil)
	var v status.View
	if err := json.Unmarshal(body, &v); code != 200 || err != nil || len(v.Environments) != 1 || v.Environments[0].Env != "staging" {
		t.Errorf("?env=staging: %d %s", code, body)
	}
	for _, tc := range []struct {
		name, path, token string
		want              int
	}{
		{"another team", "/v1/teams/ml-research/trainingjobs/fashion-mnist/status", servingToken, 403},
		{"no token", "/v1/teams/ml-research/trainingjobs/fashion-mnist/status", "", 401},
		{"no such app", "/v1/teams/ml-research/trainingjobs/nope/status", researchToken, 404},
		{"no training job", "/v1/teams/ml-serving/trainingjobs/ranker/status", servingToken, 404},
		{"no such env", "/v1/teams/ml-research/trainingjobs/fashion-mnist/status?env=qa", researchToken, 400},
		{"bad watch", "/v1/teams/ml-research/trainingjobs/fashion-mnist/status?watch=yes", researchToken, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, _, body := ts.do(t, "GET", tc.path, tc.token, nil); code != tc.want {
				t.Errorf("%d %s, want %d", code, body, tc.want)
			}
		})
	}
}

// TestStatusUnreachable: a cluster that cannot be read gives each
// environment Unknown with the reason, not a failed answer.
func TestStatusUnreachable(t *testing.T) {
	r := startRepos(t)
	cl, err := dynamic.NewForConfig(&rest.Config{Host: "https://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*kube.Clusters{"unreachable": {ArgoCD: cl}, "not configured": nil} {
		t.Run(name, func(t *testing.T) {
			ts := startServer(t, r, func(cfg *Config) { cfg.Status = c })
			code, _, body := ts.do(t, "GET", "/v1/teams/ml-serving/modelservices/ranker/status", servingToken, nil)
			var v status.View
			if err := json.Unmarshal(body, &v); code != 200 || err != nil || len(v.Environments) != 3 {
				t.Fatalf("%d %s", code, body)
			}
			want := "connection refused"
			if c == nil {
				want = "no cluster access configured"
			}
			for _, e := range v.Environments {
				if e.State != status.Unknown || !strings.Contains(e.Reason, want) {
					t.Errorf("%s: %s %q", e.Env, e.State, e.Reason)
				}
			}
		})
	}
}

func TestStatusStream(t *testing.T) {
	defer func(d time.Duration) { statusResync = d }(statusResync)
	statusResync = 200 * time.Millisecond
	ts, fc, _, _ := statusServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.http.URL+"/v1/teams/ml-research/trainingjobs/fashion-mnist/status?watch=true&env=dev", nil)
	req.Header.Set("Authorization", "Bearer "+researchToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := make(chan status.View)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && event == "status":
				var v status.View
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &v); err != nil {
					t.Error(err)
				}
				events <- v
			}
		}
		close(events)
	}()
	next := func() status.Environment {
		select {
		case v, ok := <-events:
			if !ok || len(v.Environments) != 1 {
				t.Fatalf("stream ended or wrong view: %+v", v)
			}
			return v.Environments[0]
		case <-ctx.Done():
			t.Fatal("no event")
		}
		return status.Environment{}
	}
	if e := next(); e.State != status.Running {
		t.Fatalf("first event %s (%s)", e.State, e.Reason)
	}
	fc.Set("application-synced-healthy", "tfjob-succeeded", "ksvc-ready")
	if e := next(); e.State != status.Serving || e.Training.CompletionTime == "" {
		t.Fatalf("second event %s (%s)", e.State, e.Reason)
	}
	// Draining ends the stream, so that shutdown does not wait for it.
	ts.Drain()
	select {
	case _, ok := <-events:
		if ok {
			t.Error("an event after drain")
		}
	case <-time.After(10 * time.Second):
		t.Error("the stream did not end on drain")
	}
}
