package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmls-project/dmls/internal/synth"
)

// writeSynth writes synth.Workspace(n) into a new folder.
func writeSynth(tb testing.TB, n int) string {
	tb.Helper()
	dir := tb.TempDir()
	for name, f := range synth.Workspace(n) {
		p := filepath.Join(dir, "ws", filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// changeApp changes one app's spec (its epochs) to a new value each time.
func changeApp(tb testing.TB, ws string, app string, i int) {
	tb.Helper()
	p := filepath.Join(ws, "apps", app, "app.cue")
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	s := string(b)
	at := strings.Index(s, "epochs: ")
	end := at + strings.Index(s[at:], "}")
	s = s[:at] + fmt.Sprintf("epochs: %d", 1000+i) + s[end:]
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		tb.Fatal(err)
	}
}

func runMain(tb testing.TB, args ...string) {
	tb.Helper()
	var stderr strings.Builder
	if code := Main(args, io.Discard, &stderr); code != 0 {
		tb.Fatalf("dmls %v: exit %d\n%s", args, code, stderr.String())
	}
	if os.Getenv("DMLS_DEBUG") != "" {
		tb.Logf("dmls %v:\n%s", args, stderr.String())
	}
}

// benchWarmRender measures `dmls render --out` of n apps × 3
// environments after one app's spec changed, with a warm cache.
func benchWarmRender(b *testing.B, n int) {
	dir := writeSynth(b, n)
	ws, out, cache := filepath.Join(dir, "ws"), filepath.Join(dir, "out"), filepath.Join(dir, "cache")
	runMain(b, "render", "-w", ws, "--out", out, "--cache-dir", cache)
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		changeApp(b, ws, "app-0001", i)
		b.StartTimer()
		runMain(b, "render", "-w", ws, "--out", out, "--cache-dir", cache)
	}
}

// BenchmarkWarmRender1000Apps is the warm re-render of issue 13: the
// whole render --out of 1,000 apps × 3 environments after one app's spec
// changed (target: 300 ms).
func BenchmarkWarmRender1000Apps(b *testing.B) { benchWarmRender(b, 1000) }

// BenchmarkColdRender1000Apps is the same render with an empty cache
// (run it with -benchtime 1x: it takes seconds).
func BenchmarkColdRender1000Apps(b *testing.B) {
	dir := writeSynth(b, 1000)
	ws := filepath.Join(dir, "ws")
	i := 0
	for b.Loop() {
		i++
		out, cache := filepath.Join(dir, fmt.Sprint("out", i)), filepath.Join(dir, fmt.Sprint("cache", i))
		runMain(b, "render", "-w", ws, "--out", out, "--cache-dir", cache)
	}
}

// BenchmarkWarmGenerate1000Apps is generate --out of 1,000 apps after one
// app's spec changed, with a warm cache.
func BenchmarkWarmGenerate1000Apps(b *testing.B) {
	dir := writeSynth(b, 1000)
	ws, out, cache := filepath.Join(dir, "ws"), filepath.Join(dir, "out"), filepath.Join(dir, "cache")
	runMain(b, "generate", "-w", ws, "--out", out, "--cache-dir", cache)
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		changeApp(b, ws, "app-0001", i)
		b.StartTimer()
		runMain(b, "generate", "-w", ws, "--out", out, "--cache-dir", cache)
	}
}
