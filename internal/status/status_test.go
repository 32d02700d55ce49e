package status

import (
	"os"
	"strings"
	"testing"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	kubeflowv1 "github.com/kubeflow/training-operator/pkg/apis/kubeflow.org/v1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	"sigs.k8s.io/yaml"
)

// The commits of the fixtures: the one dmls published and an older one.
const (
	published = "3f5e1d2c4b6a79881726354453627180a9b8c7d6"
	older     = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"
)

func load(t *testing.T, name string) map[string]any {
	t.Helper()
	if name == "" {
		return nil
	}
	b, err := os.ReadFile("testdata/" + name + ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

// TestFixturesAreRealDocuments decodes every fixture strictly into the
// upstream Go type of its kind, so that the documents the rule is tested
// with are ones the controllers can write.
func TestFixturesAreRealDocuments(t *testing.T) {
	files, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile("testdata/" + f.Name())
		if err != nil {
			t.Fatal(err)
		}
		var into any
		switch {
		case strings.HasPrefix(f.Name(), "application-"):
			into = &v1alpha1.Application{}
		case strings.HasPrefix(f.Name(), "tfjob-"):
			into = &kubeflowv1.TFJob{}
		case strings.HasPrefix(f.Name(), "ksvc-"):
			into = &servingv1.Service{}
		default:
			continue // InferenceService: KServe's types are not in this module graph
		}
		if err := yaml.UnmarshalStrict(b, into); err != nil {
			t.Errorf("%s is not a valid %T: %v", f.Name(), into, err)
		}
	}
}

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		app, tfjob, ksvc, isvc string
		commit, err            string
		includes               bool
		want                   State
		reason                 string
	}{
		{name: "unreachable cluster", err: "dial tcp 10.0.0.1:443: connect: connection refused", commit: published, want: Unknown, reason: "connection refused"},
		{name: "no Application yet", commit: published, tfjob: "tfjob-running", want: Deploying, reason: "no Application fashion-mnist-dev"},
		{name: "Argo CD at an older commit", app: "application-old-revision", tfjob: "tfjob-succeeded", commit: published, want: Deploying, reason: "Argo CD is at 0a1b2c3d4e5f; dmls published 3f5e1d2c4b6a"},
		{name: "sync running", app: "application-syncing", tfjob: "tfjob-created", commit: published, want: Deploying, reason: "waiting for healthy state"},
		{name: "sync failed", app: "application-sync-failed", commit: published, want: OutOfSync, reason: "the last sync failed: one or more objects failed to apply"},
		{name: "sync of the published commit failed while at an older one", app: "application-sync-failed", commit: older, want: Deploying},
		{name: "drift", app: "application-outofsync", tfjob: "tfjob-running", commit: published, want: OutOfSync, reason: "live objects differ"},
		{name: "comparison error", app: "application-comparison-error", commit: published, want: Unknown, reason: "authentication required"},
		{name: "training created", app: "application-synced-progressing", tfjob: "tfjob-created", commit: published, want: Deploying, reason: "Created (TFJobCreated)"},
		{name: "training running", app: "application-synced-progressing", tfjob: "tfjob-running", commit: published, want: Running, reason: "fashion-mnist-r1 Running (TFJobRunning)"},
		{name: "training restarting", app: "application-synced-progressing", tfjob: "tfjob-restarting", commit: published, want: Running, reason: "Restarting"},
		{name: "training succeeded", app: "application-synced-healthy", tfjob: "tfjob-succeeded", commit: published, want: Succeeded, reason: "successfully completed"},
		{name: "training failed", app: "application-synced-degraded", tfjob: "tfjob-failed", commit: published, want: Failed, reason: "1 Worker replica(s) failed"},
		{name: "TFJob missing although synced", app: "application-synced-progressing", commit: published, tfjob: "-", want: Deploying, reason: "does not exist yet"},
		{name: "serving ready", app: "application-synced-healthy", ksvc: "ksvc-ready", commit: published, want: Serving, reason: "ready at http://fashion-mnist.ml-research-staging.example.com"},
		{name: "serving revision failed", app: "application-synced-degraded", ksvc: "ksvc-failed", commit: published, want: Degraded, reason: "RevisionFailed"},
		{name: "serving rolling out", app: "application-synced-progressing", ksvc: "ksvc-rolling", commit: published, want: Deploying, reason: "RevisionMissing"},
		{name: "serving status of an older generation", app: "application-synced-healthy", ksvc: "ksvc-stale", commit: published, want: Deploying, reason: "NotObserved"},
		{name: "InferenceService ready", app: "application-synced-healthy", isvc: "isvc-ready", commit: published, want: Serving},
		{name: "InferenceService failed", app: "application-synced-degraded", isvc: "isvc-failed", commit: published, want: Degraded, reason: "does not have any ready Revision"},
		{name: "trained and serving", app: "application-synced-healthy", tfjob: "tfjob-succeeded", ksvc: "ksvc-ready", commit: published, want: Serving},
		{name: "training while serving", app: "application-synced-progressing", tfjob: "tfjob-running", ksvc: "ksvc-ready", commit: published, want: Running},
		{name: "failed training beats a ready service", app: "application-synced-degraded", tfjob: "tfjob-failed", ksvc: "ksvc-ready", commit: published, want: Failed},
		{name: "Application degraded, workloads fine", app: "application-synced-degraded", ksvc: "ksvc-ready", commit: published, want: Degraded, reason: "TFJob fashion-mnist-r1 failed"},
		{name: "published commit unknown: Argo CD's word", app: "application-synced-healthy", tfjob: "tfjob-succeeded", want: Succeeded},
		{name: "Argo CD at a later commit that did not change the app", app: "application-synced-healthy", tfjob: "tfjob-succeeded", commit: older, includes: true, want: Succeeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &Environment{Env: "dev", Namespace: "ml-research-dev", Commit: tc.commit, Error: tc.err, RevisionIncludesCommit: tc.includes}
			if tc.err == "" {
				e.Application = FromApplication("fashion-mnist-dev", "argocd", load(t, tc.app))
			}
			switch tc.tfjob {
			case "":
			case "-":
				e.Training = FromTFJob("fashion-mnist-r1", 1, nil)
			default:
				e.Training = FromTFJob("fashion-mnist-r1", 1, load(t, tc.tfjob))
			}
			if tc.ksvc != "" {
				e.Serving = FromKnativeService("fashion-mnist", load(t, tc.ksvc))
			}
			if tc.isvc != "" {
				e.Serving = FromInferenceService("fashion-mnist", load(t, tc.isvc))
			}
			Summarize(e)
			if tc.name == "trained and serving" && (e.Training.State != Succeeded || e.Serving.State != Serving) {
				t.Errorf("workload states %s, %s; want Succeeded, Serving", e.Training.State, e.Serving.State)
			}
			if e.State != tc.want || !strings.Contains(e.Reason, tc.reason) {
				t.Errorf("got %s (%s), want %s with %q", e.State, e.Reason, tc.want, tc.reason)
			}
		})
	}
}

func TestParse(t *testing.T) {
	a := FromApplication("fashion-mnist-dev", "argocd", load(t, "application-sync-failed"))
	if a.Sync != "OutOfSync" || a.Health != "Missing" || a.Revision != published || a.Operation.Phase != "Failed" || a.Operation.Revision != published {
		t.Errorf("application %+v %+v", a, a.Operation)
	}
	if len(a.Conditions) != 1 || a.Conditions[0].Type != "SyncError" {
		t.Errorf("conditions %+v", a.Conditions)
	}
	j := FromTFJob("fashion-mnist-r1", 1, load(t, "tfjob-failed"))
	if w := j.Replicas["Worker"]; w.Active != 1 || w.Failed != 1 || w.Succeeded != 0 {
		t.Errorf("replicas %+v", j.Replicas)
	}
	if j.StartTime != "2026-12-01T09:12:35Z" || j.CompletionTime != "2026-12-01T09:14:10Z" || len(j.Conditions) != 3 {
		t.Errorf("tfjob %+v", j)
	}
	s := FromKnativeService("fashion-mnist", load(t, "ksvc-ready"))
	if s.LatestCreatedRevision != "fashion-mnist-v2" || s.LatestReadyRevision != "fashion-mnist-v2" || len(s.Traffic) != 2 ||
		s.Traffic[0] != (Traffic{Revision: "fashion-mnist-v1", Tag: "stable", Percent: 90, URL: "http://stable-fashion-mnist.ml-research-staging.example.com"}) ||
		s.Traffic[1].Percent != 10 || s.Traffic[1].Tag != "canary" {
		t.Errorf("service %+v", s)
	}
	i := FromInferenceService("fashion-mnist", load(t, "isvc-ready"))
	if i.LatestCreatedRevision != "fashion-mnist-predictor-00002" || len(i.Traffic) != 2 || i.Traffic[0].Percent != 20 || !i.Traffic[0].LatestRevision || i.Ready != "True" {
		t.Errorf("inference service %+v", i)
	}
}

func TestOverall(t *testing.T) {
	for _, tc := range []struct {
		name   string
		states []State
		want   Outcome
	}{
		{"all done", []State{Serving, Succeeded}, Done},
		{"one deploying", []State{Serving, Deploying}, Wait},
		{"one failed", []State{Deploying, Failed}, Fail},
		{"degraded", []State{Degraded}, Fail},
		{"running training waits", []State{Running}, Wait},
		{"out of sync waits", []State{OutOfSync}, Wait},
		{"nothing yet", nil, Wait},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &View{}
			for _, s := range tc.states {
				v.Environments = append(v.Environments, Environment{State: s})
			}
			if got := Overall(v); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
