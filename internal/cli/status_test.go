package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/dmls-project/dmls/internal/gittest"
	"github.com/dmls-project/dmls/internal/status"
	"github.com/dmls-project/dmls/internal/status/statustest"
)

func runDmls(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestStatus runs dmls status against status documents served as a
// cluster would, with the published commit read from a real git server.
func TestStatus(t *testing.T) {
	g := gittest.Start(t)
	g.CreateRepo(t, "k8s-config")
	commit := g.Push(t, "k8s-config", gittest.Change{Files: map[string]string{"apps/x": "y"}})
	u, p := g.Credentials()
	t.Setenv("DMLS_GIT_USERNAME", u)
	t.Setenv("DMLS_GIT_PASSWORD", p)
	fc := statustest.Start(t, commit)
	fc.Set("application-synced-progressing", "tfjob-running", "ksvc-ready")
	kc := statustest.Kubeconfig(t, fc.URL)
	base := []string{"status", "-w", "../..", "--kubeconfig", kc, "--repo", "k8s-config=" + g.RepoURL("k8s-config"), "--interval", "100ms"}

	t.Run("text", func(t *testing.T) {
		code, out, errs := runDmls(append(base, "fashion-mnist", "--env", "dev")...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "APP ") || !strings.Contains(lines[0], "STATE") {
			t.Fatalf("want a header and one row:\n%s", out)
		}
		f := strings.Fields(lines[1])
		if f[0] != "fashion-mnist" || f[1] != "dev" || f[2] != "Running" || f[3] != commit[:12] || f[4] != commit[:12] || f[5] != "Progressing" {
			t.Errorf("row %q", lines[1])
		}
	})
	t.Run("json", func(t *testing.T) {
		code, out, errs := runDmls(append(base, "fashion-mnist", "-o", "json")...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		var v status.View
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatal(err)
		}
		if v.App != "fashion-mnist" || v.Team != "ml-research" || len(v.Environments) != 3 {
			t.Fatalf("view %+v", v)
		}
		for _, e := range v.Environments {
			if e.State != status.Running || e.Commit != commit || e.Training == nil || e.Training.Replicas["Worker"].Active != 2 ||
				e.Serving == nil || len(e.Serving.Traffic) != 2 || e.Application.Revision != commit {
				t.Errorf("%s: %+v", e.Env, e)
			}
		}
	})
	t.Run("wait until succeeded", func(t *testing.T) {
		// Succeed once --wait has read the running job.
		before := fc.Gets()
		go func() {
			for fc.Gets() < before+3 {
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(300 * time.Millisecond)
			fc.Set("application-synced-healthy", "tfjob-succeeded", "ksvc-ready")
		}()
		start := time.Now()
		code, out, errs := runDmls(append(base, "fashion-mnist", "--wait", "--timeout", "30s")...)
		if code != 0 {
			t.Fatalf("exit %d: %s\n%s", code, errs, out)
		}
		if time.Since(start) < 300*time.Millisecond || !strings.Contains(out, "Running") || !strings.Contains(out, "Serving") {
			t.Errorf("--wait returned at once or did not show the change:\n%s", out)
		}
	})
	t.Run("wait fails on Failed", func(t *testing.T) {
		fc.Set("application-synced-degraded", "tfjob-failed", "ksvc-ready")
		code, out, errs := runDmls(append(base, "fashion-mnist", "--env", "dev", "--wait")...)
		if code != ExitError || !strings.Contains(errs, "fashion-mnist in dev is Failed: TFJob fashion-mnist-r1 Failed (TFJobFailed)") {
			t.Errorf("exit %d: %s\n%s", code, errs, out)
		}
	})
	t.Run("wait times out", func(t *testing.T) {
		fc.Set("application-old-revision", "tfjob-running", "ksvc-ready")
		code, _, errs := runDmls(append(base, "fashion-mnist", "--env", "dev", "--wait", "--timeout", "2s")...)
		if code != ExitError || !strings.Contains(errs, "timed out after 2s waiting for fashion-mnist in dev (Deploying: Argo CD is at 0a1b2c3d4e5f") {
			t.Errorf("exit %d: %s", code, errs)
		}
	})
	t.Run("watch rejects wait", func(t *testing.T) {
		if code, _, _ := runDmls(append(base, "--watch", "--wait")...); code != ExitUsage {
			t.Errorf("exit %d", code)
		}
	})
	t.Run("unreachable cluster", func(t *testing.T) {
		code, out, errs := runDmls("status", "-w", "../..", "--kubeconfig", statustest.Kubeconfig(t, "https://127.0.0.1:1"), "--repo", "k8s-config="+g.RepoURL("k8s-config"), "-o", "json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		var l statusList
		if err := json.Unmarshal([]byte(out), &l); err != nil {
			t.Fatal(err)
		}
		// Every app of the workspace, each environment Unknown with the reason.
		if len(l.Items) < 1 || l.Items[0].App != "fashion-mnist" || len(l.Items[0].Environments) != 3 {
			t.Fatalf("%s", out)
		}
		for _, v := range l.Items {
			for _, e := range v.Environments {
				if e.State != status.Unknown || !strings.Contains(e.Reason, "connection refused") || e.Commit != commit {
					t.Errorf("%s in %s: %s %q", v.App, e.Env, e.State, e.Reason)
				}
			}
		}
	})
}
