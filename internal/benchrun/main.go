// Command benchrun is `make bench`: it measures the dmls binary, run as a
// process, cold and warm, on synthetic workspaces of several sizes, side
// by side with the peer pipeline (`cue export` once per app plus
// `kustomize build` once per overlay, as processes, two at a time), and
// writes a Markdown table.
//
// Each measurement is one run of a child process: wall time from start to
// exit, and its peak RSS from the kernel's rusage (ru_maxrss). For the
// peer pipeline the peak RSS is the largest of its processes.
//
// Cold is the first run on a workspace, with an empty dmls cache. Warm is
// the run after one app's spec changed, with the cache the cold run left.
// When the binary has no --cache-dir flag (no on-disk cache yet), warm is
// the same command run again after the change, and the table says so.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dmls-project/dmls/internal/synth"
)

func main() {
	dmls := flag.String("dmls", "bin/dmls", "the dmls binary to measure")
	tools := flag.String("tools", ".cache/tools", "folder with the cue and kustomize binaries of the peer pipeline")
	sizes := flag.String("sizes", "100,1000", "workspace sizes (apps), comma-separated")
	peer := flag.String("peer", "100,1000", "sizes at which to run the peer pipeline")
	jobs := flag.Int("jobs", 2, "peer processes at once")
	work := flag.String("work", "", "scratch folder (default: a new temporary folder, removed at the end)")
	out := flag.String("out", "", "also write the Markdown table to this file")
	commands := flag.String("commands", "render,generate,diff", "the dmls commands to measure")
	flag.Parse()
	if err := run(*dmls, *tools, *sizes, *peer, *commands, *jobs, *work, *out); err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(1)
	}
}

// sample is one measured run.
type sample struct {
	wall time.Duration
	cpu  time.Duration // user + system
	rss  int64         // bytes
}

func run(dmls, tools, sizeList, peerList, commands string, jobs int, work, out string) error {
	dmls, err := filepath.Abs(dmls)
	if err != nil {
		return err
	}
	sizes, err := ints(sizeList)
	if err != nil {
		return err
	}
	peers, err := ints(peerList)
	if err != nil {
		return err
	}
	if work == "" {
		if work, err = os.MkdirTemp("", "dmls-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(work)
	}
	help, _ := exec.Command(dmls, "render", "--help").CombinedOutput()
	cache := bytes.Contains(help, []byte("--cache-dir"))
	version, _ := exec.Command(dmls, "version").Output()

	var md strings.Builder
	fmt.Fprintf(&md, "Measured %s on %s, %d cores (load average at start %s), dmls %s.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), cpuModel(), runtime.NumCPU(), loadAvg(), strings.TrimSpace(string(version)))
	warmNote := "warm: after one app's spec changed, with the on-disk cache the cold run filled"
	if !cache {
		warmNote = "warm: the same command again after one app's spec changed (this dmls has no on-disk cache: no --cache-dir flag)"
	}
	fmt.Fprintf(&md, "Synthetic workspaces (internal/synth), 3 environments; cold: first run, empty cache; %s.\n\n", warmNote)
	md.WriteString("CPU is user plus system time: on a shared machine it shows what the run costs when the wall time is inflated by others' load.\n\n")
	md.WriteString("| apps | command | cold wall | cold CPU | cold peak RSS | warm wall | warm CPU | warm peak RSS |\n|---:|---|---:|---:|---:|---:|---:|---:|\n")
	var peerRows []string
	for _, n := range sizes {
		fmt.Fprintf(os.Stderr, "benchrun: %d apps\n", n)
		ws := filepath.Join(work, fmt.Sprintf("ws-%d", n))
		if err := synth.Write(ws, n); err != nil {
			return err
		}
		if err := gitCommit(ws); err != nil {
			return err
		}
		var coldRender sample
		for _, c := range []struct {
			name string
			args []string
		}{
			{"render --out", []string{"render", "-w", ws, "--out", filepath.Join(work, fmt.Sprintf("render-%d", n))}},
			{"generate --out", []string{"generate", "-w", ws, "--out", filepath.Join(work, fmt.Sprintf("generate-%d", n))}},
			{"diff --base HEAD", []string{"diff", "-w", ws, "--base", "HEAD"}},
		} {
			generated := filepath.Join(work, fmt.Sprintf("generate-%d", n))
			if !strings.Contains(","+commands+",", ","+strings.Fields(c.name)[0]+",") {
				if c.name == "generate --out" && contains(peers, n) {
					// the peer pipeline builds the generated overlays
					if _, err := measure(dmls, "generate", "-w", ws, "--out", generated); err != nil {
						return err
					}
				}
				continue
			}
			args := c.args
			if cache {
				args = append(args, "--cache-dir", filepath.Join(work, fmt.Sprintf("cache-%d-%s", n, strings.Fields(c.name)[0])))
			}
			// cold: the workspace as committed (diff then compares it
			// with itself); warm: one app changed.
			if err := setChange(ws, 0); err != nil {
				return err
			}
			cold, err := measure(dmls, args...)
			if err != nil {
				return fmt.Errorf("%d apps, dmls %s: %w", n, c.name, err)
			}
			if err := setChange(ws, 1); err != nil {
				return err
			}
			warm, err := measure(dmls, args...)
			if err != nil {
				return fmt.Errorf("%d apps, dmls %s (warm): %w", n, c.name, err)
			}
			if c.name == "render --out" {
				coldRender = cold
			}
			row := fmt.Sprintf("| %d | `dmls %s` | %s | %s | %s | %s | %s | %s |\n", n, c.name, secs(cold.wall), secs(cold.cpu), mib(cold.rss), secs(warm.wall), secs(warm.cpu), mib(warm.rss))
			fmt.Fprint(os.Stderr, row)
			md.WriteString(row)
		}
		if err := setChange(ws, 0); err != nil {
			return err
		}
		if !contains(peers, n) {
			continue
		}
		fmt.Fprintf(os.Stderr, "benchrun: %d apps, peer pipeline\n", n)
		p, procs, err := peerPipeline(tools, ws, filepath.Join(work, fmt.Sprintf("generate-%d", n)), jobs)
		if err != nil {
			return fmt.Errorf("%d apps, peer pipeline: %w", n, err)
		}
		row := fmt.Sprintf("| %d | %d | %s | %s | %s |", n, procs, secs(p.wall), secs(p.cpu), mib(p.rss))
		if coldRender.wall > 0 {
			row += fmt.Sprintf(" %s | %s | %.1f× | %.1f× |", secs(coldRender.wall), secs(coldRender.cpu), p.wall.Seconds()/coldRender.wall.Seconds(), p.cpu.Seconds()/coldRender.cpu.Seconds())
		} else {
			row += " | | | |"
		}
		peerRows = append(peerRows, row)
		fmt.Fprintln(os.Stderr, peerRows[len(peerRows)-1])
	}
	if len(peerRows) > 0 {
		fmt.Fprintf(&md, "\nThe peer pipeline: `cue export` (cue v0.17.1) of each app's spec and `kustomize build` (kustomize v5.6.0) of each overlay that `dmls generate` wrote, as processes, %d at a time; its peak RSS is its largest process's. The ratios are its wall and CPU time over a cold `dmls render --out`'s.\n\n", jobs)
		md.WriteString("| apps | processes | peer wall | peer CPU | peer peak RSS | dmls cold render wall | CPU | ratio, wall | ratio, CPU |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		md.WriteString(strings.Join(peerRows, "\n") + "\n")
	}
	fmt.Print(md.String())
	if out != "" {
		return os.WriteFile(out, []byte(md.String()), 0o644)
	}
	return nil
}

// changed is the one app the warm runs see changed.
const changed = "apps/app-0001/app.cue"

// setChange writes app-0001 as synth makes it (k = 0) or with one more
// epoch (k = 1).
func setChange(ws string, k int) error {
	src := synth.App(1)
	if k > 0 {
		src = strings.Replace(src, "epochs: ", "epochs: 1+", 1)
	}
	return os.WriteFile(filepath.Join(ws, changed), []byte(src), 0o644)
}

// gitCommit makes ws a git repository with one commit, for dmls diff.
func gitCommit(ws string) error {
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"add", "-A"},
		{"-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-q", "-m", "synthetic workspace"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = ws
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %v: %s", args[0], err, b)
		}
	}
	return nil
}

// measure runs one process and returns its wall time and peak RSS. Its
// output is discarded; a failure returns the end of its stderr.
func measure(name string, args ...string) (sample, error) {
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stdout = io.Discard
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		msg := stderr.String()
		if len(msg) > 2000 {
			msg = msg[len(msg)-2000:]
		}
		return sample{}, fmt.Errorf("%s %s: %v: %s", filepath.Base(name), strings.Join(args, " "), err, msg)
	}
	s := sample{wall: wall, cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.rss = ru.Maxrss * 1024 // kilobytes on Linux
	}
	return s, nil
}

// peerPipeline runs `cue export` on every app and `kustomize build` on
// every overlay of the generated tree, jobs at a time.
func peerPipeline(tools, ws, generated string, jobs int) (sample, int, error) {
	cue, kustomize := filepath.Join(tools, "cue"), filepath.Join(tools, "kustomize")
	for _, t := range []string{cue, kustomize} {
		if _, err := os.Stat(t); err != nil {
			return sample{}, 0, fmt.Errorf("%s: %w (make bench builds it)", t, err)
		}
	}
	var cmds [][]string
	apps, err := filepath.Glob(filepath.Join(ws, "apps", "*", "app.cue"))
	if err != nil {
		return sample{}, 0, err
	}
	for _, a := range apps {
		cmds = append(cmds, []string{cue, "export", "--out", "json", a})
	}
	overlays, err := filepath.Glob(filepath.Join(generated, "*", "apps", "*", "overlays", "*", "kustomization.yaml"))
	if err != nil {
		return sample{}, 0, err
	}
	if len(overlays) == 0 {
		return sample{}, 0, errors.New("no overlays in " + generated)
	}
	sort.Strings(overlays)
	for _, o := range overlays {
		cmds = append(cmds, []string{kustomize, "build", filepath.Dir(o)})
	}
	next := make(chan []string)
	var mu sync.Mutex
	var peak int64
	var cpu time.Duration
	var first error
	var wg sync.WaitGroup
	start := time.Now()
	for range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				s, err := measure(c[0], c[1:]...)
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				peak = max(peak, s.rss)
				cpu += s.cpu
				mu.Unlock()
			}
		}()
	}
	for _, c := range cmds {
		next <- c
	}
	close(next)
	wg.Wait()
	return sample{wall: time.Since(start), cpu: cpu, rss: peak}, len(cmds), first
}

func ints(list string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(list, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 2 {
			return nil, fmt.Errorf("size %q: want a number of apps, at least 2", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func contains(list []int, n int) bool {
	for _, x := range list {
		if x == n {
			return true
		}
	}
	return false
}

func secs(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func mib(b int64) string { return fmt.Sprintf("%d MiB", b>>20) }

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOOS + "/" + runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOOS + "/" + runtime.GOARCH
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
