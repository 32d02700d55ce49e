package promtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binary is the command Start runs, looked up on PATH.
const Binary = "prometheus"

// Prom is a running Prometheus and the exporter it scrapes.
type Prom struct {
	// URL is Prometheus's base URL, http://127.0.0.1:PORT.
	URL string
	// Exporter is the scraped exporter, which the test drives.
	Exporter *Exporter

	t       testing.TB
	cmd     *exec.Cmd
	log     string
	stopped chan struct{}
	stop    sync.Once
}

// Start starts Prometheus scraping a new Exporter every second, and
// returns once it is ready. The test fails when the prometheus binary is
// missing (make prometheus installs it). Cleanup stops it and removes
// its storage.
func Start(t testing.TB) *Prom {
	t.Helper()
	bin, err := exec.LookPath(Binary)
	if err != nil {
		t.Fatalf("promtest: the %s binary is not on PATH: run `make prometheus` (it installs Debian's prometheus package)", Binary)
	}
	exp := &Exporter{}
	srv := httptest.NewServer(exp)
	t.Cleanup(srv.Close)

	dir := t.TempDir()
	config := filepath.Join(dir, "prometheus.yml")
	target := strings.TrimPrefix(srv.URL, "http://")
	// honor_labels: the exporter's series carry their pod's instance label,
	// as if each pod were its own target.
	if err := os.WriteFile(config, []byte(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: `+Job+`
    honor_labels: true
    static_configs:
      - targets: ['`+target+`']
`), 0o600); err != nil {
		t.Fatal(err)
	}

	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		p, err := start(t, bin, dir, config, attempt)
		if err == nil {
			p.Exporter = exp
			return p
		}
		lastErr = err
	}
	t.Fatalf("promtest: %v", lastErr)
	return nil
}

// start runs one Prometheus on a port just found free; another process
// may take the port in between, so Start tries again.
func start(t testing.TB, bin, dir, config string, attempt int) (*Prom, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	logPath := filepath.Join(dir, "prometheus-"+strconv.Itoa(attempt)+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin,
		"--config.file="+config,
		"--storage.tsdb.path="+filepath.Join(dir, "data-"+strconv.Itoa(attempt)),
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &Prom{URL: "http://" + addr, t: t, cmd: cmd, log: logPath, stopped: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.stopped) }()
	t.Cleanup(p.Stop)

	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.stopped:
			return nil, fmt.Errorf("prometheus exited while starting on %s:\n%s", addr, p.Log())
		default:
		}
		resp, err := http.Get(p.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.Stop()
	return nil, fmt.Errorf("prometheus on %s not ready within 30s:\n%s", addr, p.Log())
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Stop stops Prometheus, by its PID: SIGTERM, then SIGKILL after 10s. A
// test calls it to see Prometheus down; Cleanup calls it too.
func (p *Prom) Stop() {
	p.stop.Do(func() {
		select {
		case <-p.stopped:
			return
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.stopped:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.stopped
		}
	})
}

// Log returns what Prometheus wrote to its log so far.
func (p *Prom) Log() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// WaitScraped returns once Prometheus has scraped the exporter after
// this call began, so every change made before it is in Prometheus; call
// it twice for two samples of the same state.
func (p *Prom) WaitScraped(ctx context.Context) error {
	want := p.Exporter.bump()
	for {
		got, err := p.generation(ctx)
		if err == nil && got >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("prometheus did not scrape generation %d (last: %d, %v): %w\n%s", want, got, err, ctx.Err(), p.Log())
		case <-p.stopped:
			return errors.New("prometheus has stopped")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// generation asks Prometheus for the exporter's latest scraped
// generation.
func (p *Prom) generation(ctx context.Context) (int, error) {
	u := p.URL + "/api/v1/query?" + url.Values{"query": {"promtest_generation"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, err
	}
	if len(r.Data.Result) != 1 {
		return 0, fmt.Errorf("promtest_generation: %d series", len(r.Data.Result))
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	f, err := strconv.ParseFloat(s, 64)
	return int(f), err
}
