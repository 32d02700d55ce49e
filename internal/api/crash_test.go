package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dmls-project/dmls/internal/apiclient"
	"github.com/dmls-project/dmls/internal/specrepo"
)

// TestCrashMidBurst is issue 8, section 8: `dmls serve` is killed with
// SIGKILL in the middle of a burst of keyed submissions, restarted, and
// every submission is retried with its key. Every change must be in git
// exactly once, and every retry of a change that had an answer must get
// that answer (its request id and ml-model commit). Before, the keys were
// only in memory, and a retry after the restart got 409.
func TestCrashMidBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the dmls binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "dmls")
	build := exec.Command("go", "build", "-o", bin, "github.com/dmls-project/dmls/cmd/dmls")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	r := startRepos(t)
	const token = "crash-token-0123456789abcdef"
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("ml-research/crash="+token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	user, pass := r.git.Credentials()
	start := func(logName string) *exec.Cmd {
		log, err := os.Create(filepath.Join(dir, logName))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "serve", "-w", filepath.Join(dir, "no-workspace"), "--listen", addr, "--tokens", tokens,
			"--repo", "ml-model="+r.git.RepoURL("ml-model"), "--repo", "k8s-config="+r.git.RepoURL("k8s-config"),
			"--repo", "docs="+r.git.RepoURL("docs"), "--batch", "4")
		cmd.Env = append(os.Environ(), "DMLS_GIT_USERNAME="+user, "DMLS_GIT_PASSWORD="+pass)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_, _ = cmd.Process.Wait()
			_ = log.Close()
		})
		deadline := time.Now().Add(time.Minute)
		for {
			resp, err := http.Get("http://" + addr + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return cmd
				}
			}
			if time.Now().After(deadline) {
				b, _ := os.ReadFile(filepath.Join(dir, logName))
				t.Fatalf("server not ready after a minute:\n%s", b)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	type answer struct {
		status    int
		requestID string
		commit    string
		replayed  bool
	}
	send := func(i int) (answer, error) {
		body, _ := json.Marshal(trainingJob(fmt.Sprintf("crash-%d", i)))
		req, _ := http.NewRequest("POST", "http://"+addr+"/v1/teams/ml-research/trainingjobs", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set(apiclient.HeaderIdempotencyKey, fmt.Sprintf("crash-key-%d", i))
		resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
		if err != nil {
			return answer{}, err
		}
		defer resp.Body.Close()
		var res apiclient.Result
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
			return answer{status: resp.StatusCode}, nil
		}
		a := answer{status: resp.StatusCode, requestID: res.RequestID, replayed: resp.Header.Get(apiclient.HeaderReplayed) == "true"}
		for _, c := range res.Commits {
			if c.Repo == "ml-model" {
				a.commit = c.SHA
			}
		}
		return a, nil
	}

	const n = 40
	cmd := start("serve-1.log")
	firsts := make([]*answer, n)
	var mu sync.Mutex
	answered := 0
	killed := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := send(i)
			if err != nil || a.status >= 500 {
				return // the server died under it
			}
			mu.Lock()
			firsts[i] = &a
			answered++
			if answered == n/4 {
				once.Do(func() {
					_ = cmd.Process.Kill() // SIGKILL: no shutdown, no drain
					close(killed)
				})
			}
			mu.Unlock()
		}()
	}
	select {
	case <-killed:
	case <-time.After(3 * time.Minute):
		t.Fatal("fewer than a quarter of the burst was answered")
	}
	_, _ = cmd.Process.Wait()
	wg.Wait()
	got := 0
	for _, a := range firsts {
		if a != nil {
			got++
			if a.status != http.StatusCreated || a.commit == "" {
				t.Fatalf("a first answer: %+v", a)
			}
		}
	}
	committedBefore := r.git.CommitCount(t, "ml-model", "")
	t.Logf("killed after %d of %d answers; ml-model has %d commits", got, n, committedBefore)
	if got == n {
		t.Fatal("every request was answered before the kill; the test proves nothing")
	}

	start("serve-2.log")
	replays := 0
	for i := range n {
		a, err := send(i)
		if err != nil {
			t.Fatalf("retry %d: %v", i, err)
		}
		if a.status != http.StatusCreated {
			t.Errorf("retry %d: status %d, want 201", i, a.status)
			continue
		}
		if a.replayed {
			replays++
		}
		if f := firsts[i]; f != nil && (a.requestID != f.requestID || a.commit != f.commit || !a.replayed) {
			t.Errorf("retry %d: %+v, want the first answer %+v", i, a, *f)
		}
	}
	// Exactly once: every app is in ml-model, and each key's trailer is in
	// exactly one commit.
	files := r.git.Files(t, "ml-model", "")
	msgs := strings.Join(r.git.Messages(t, "ml-model", ""), "\n")
	for i := range n {
		if _, ok := files[fmt.Sprintf("apps/crash-%d/app.json", i)]; !ok {
			t.Errorf("crash-%d is not in ml-model", i)
		}
		if c := strings.Count(msgs, specrepo.KeyHash("crash", fmt.Sprintf("crash-key-%d", i))); c != 1 {
			t.Errorf("key %d is in %d commits, want 1", i, c)
		}
	}
	t.Logf("after the restart: %d of %d retries replayed from history", replays, n)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
