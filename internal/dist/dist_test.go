package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dmls-project/dmls/internal/gittest"
	"github.com/dmls-project/dmls/internal/outdir"
)

const root = "../.."

// sbomTool is the pinned cyclonedx-gomod: the Makefile's (DMLS_SBOM_TOOL),
// else installed once for this test run.
var sbomTool = sync.OnceValues(func() (string, error) {
	if p := os.Getenv("DMLS_SBOM_TOOL"); p != "" {
		return p, nil
	}
	dir, err := os.MkdirTemp("", "dmls-sbom-tool-*")
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "install", "github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@v1.10.0")
	cmd.Env = append(os.Environ(), "GOBIN="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", &exec.Error{Name: string(out), Err: err}
	}
	return filepath.Join(dir, "cyclonedx-gomod"), nil
})

// release builds the linux/amd64 archive of this tree into a new folder.
func release(t *testing.T, version string) string {
	t.Helper()
	tool, err := sbomTool()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "dist")
	if _, err := Build(Options{Version: version, Out: out, Platforms: []string{"linux/amd64"}, SBOMTool: tool, AllowDirty: true, Root: root}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTarGzIsDeterministic(t *testing.T) {
	mtime := time.Unix(1700000000, 0).UTC()
	files := []file{{name: "z", mode: 0o644, data: []byte("z")}, {name: "man/man1/a.1", mode: 0o644, data: []byte("a")}, {name: "dmls", mode: 0o755, data: []byte("bin")}}
	a, err := tarGz("d", append([]file(nil), files...), mtime)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tarGz("d", []file{files[2], files[0], files[1]}, mtime)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("the same files in another order made another archive")
	}
	entries := readTarGz(t, a)
	var names []string
	for _, h := range entries {
		names = append(names, h.Name)
		if !h.ModTime.Equal(mtime) || h.Uid != 0 || h.Gid != 0 || h.Uname != "" {
			t.Errorf("%s: time %v, owner %d/%d %q; want the source time and owner 0", h.Name, h.ModTime, h.Uid, h.Gid, h.Uname)
		}
	}
	if got := strings.Join(names, " "); got != "d/ d/dmls d/man/ d/man/man1/ d/man/man1/a.1 d/z" {
		t.Fatalf("entries %s", got)
	}
	if entries[1].Mode != 0o755 {
		t.Fatalf("dmls has mode %o", entries[1].Mode)
	}
}

func readTarGz(t *testing.T, b []byte) []*tar.Header {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Fatalf("gzip header carries name %q, time %v", zr.Name, zr.ModTime)
	}
	tr := tar.NewReader(zr)
	var hs []*tar.Header
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return hs
		}
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
}

func TestOptionsAreChecked(t *testing.T) {
	for _, o := range []Options{
		{Version: "", SBOMTool: "x", Platforms: []string{"linux/amd64"}},
		{Version: "v1/../x", SBOMTool: "x", Platforms: []string{"linux/amd64"}},
		{Version: "v1.0.0", SBOMTool: "x", Platforms: []string{"windows/amd64"}},
		{Version: "v1.0.0", Platforms: []string{"linux/amd64"}},
	} {
		if _, err := Build(o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}

func TestOutputFolderOfTheUserIsKept(t *testing.T) {
	dir := t.TempDir()
	mine := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(mine, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := outdir.ReplaceMarked(dir, ownMarker, "make dist"); err == nil || !strings.Contains(err.Error(), "did not write") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(mine); err != nil {
		t.Fatal("the user's file is gone")
	}
}

// TestDirtyTreeIsRefused: a release never carries uncommitted code.
func TestDirtyTreeIsRefused(t *testing.T) {
	l := gittest.NewLocal(t, t.TempDir())
	l.Write(map[string]string{"a": "1"})
	l.Commit("one")
	l.Write(map[string]string{"a": "2"})
	_, err := Build(Options{Version: "v1.0.0", Out: filepath.Join(t.TempDir(), "d"), Platforms: []string{"linux/amd64"}, SBOMTool: "x", Root: l.Dir})
	if err == nil || !strings.Contains(err.Error(), "ALLOW_DIRTY=1") {
		t.Fatalf("err = %v", err)
	}
}

// TestReleaseArchive builds the linux/amd64 release twice: the same bytes
// each time, holding the binary (which runs and knows its version), the
// license, the README, completions, man pages and the SBOM.
func TestReleaseArchive(t *testing.T) {
	a, b := release(t, "v0.0.1"), release(t, "v0.0.1")
	sumsA, err := os.ReadFile(filepath.Join(a, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	sumsB, _ := os.ReadFile(filepath.Join(b, "SHA256SUMS"))
	if !bytes.Equal(sumsA, sumsB) {
		t.Fatalf("two builds differ:\n%s\n%s", sumsA, sumsB)
	}
	for _, want := range []string{"  dmls_v0.0.1_linux_amd64.tar.gz", "  dmls_v0.0.1_linux_amd64.sbom.cdx.json"} {
		if !strings.Contains(string(sumsA), want) {
			t.Errorf("SHA256SUMS lacks %s:\n%s", want, sumsA)
		}
	}
	archive, err := os.ReadFile(filepath.Join(a, "dmls_v0.0.1_linux_amd64.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, h := range readTarGz(t, archive) {
		have[strings.TrimPrefix(h.Name, "dmls_v0.0.1_linux_amd64/")] = true
	}
	for _, want := range []string{"dmls", "LICENSE", "README.md", "sbom.cdx.json", "completions/dmls.bash", "completions/_dmls", "completions/dmls.fish", "man/man1/dmls.1", "man/man1/dmls-render.1"} {
		if !have[want] {
			t.Errorf("the archive lacks %s", want)
		}
	}
	sbom, _ := os.ReadFile(filepath.Join(a, "dmls_v0.0.1_linux_amd64.sbom.cdx.json"))
	for _, want := range []string{`"bomFormat": "CycloneDX"`, `pkg:golang/github.com/spf13/cobra@`, `pkg:golang/cuelang.org/go@`} {
		if !strings.Contains(string(sbom), want) {
			t.Errorf("the SBOM lacks %s", want)
		}
	}
	out, err := exec.Command(filepath.Join(a, "build", "linux_amd64", "dmls"), "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "dmls v0.0.1 ") {
		t.Fatalf("dmls version: %v: %s", err, out)
	}
}

// TestActionInstallsAVerifiedRelease runs the action's install script as
// the action does, against a release made by Build and served on
// 127.0.0.1, then its preview step with the installed binary.
func TestActionInstallsAVerifiedRelease(t *testing.T) {
	dist := release(t, "v0.0.1")
	var mu sync.Mutex
	corrupt := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, "/v0.0.1/")
		if !ok || strings.Contains(name, "/") {
			http.NotFound(w, r)
			return
		}
		b, err := os.ReadFile(filepath.Join(dist, name))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		if corrupt && strings.HasSuffix(name, ".tar.gz") {
			b = append(b[:len(b)-1:len(b)-1], b[len(b)-1]^0xff)
		}
		mu.Unlock()
		w.Write(b)
	}))
	defer srv.Close()

	install := func(env ...string) (string, string, error) {
		bin := t.TempDir()
		cmd := exec.Command("bash", filepath.Join(root, ".github/scripts/dmls-install.sh"))
		cmd.Env = append(os.Environ(), append([]string{"DMLS_RELEASE_URL=" + srv.URL, "DMLS_BIN_DIR=" + bin, "RUNNER_OS=Linux", "RUNNER_ARCH=X64", "DMLS_SOURCE="}, env...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return bin, stdout.String() + stderr.String(), err
	}

	bin, log, err := install("DMLS_VERSION=v0.0.1")
	if err != nil || !strings.Contains(log, "checksum verified") {
		t.Fatalf("install: %v\n%s", err, log)
	}
	dmls := filepath.Join(bin, "dmls")
	if out, err := exec.Command(dmls, "version").CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "dmls v0.0.1 ") {
		t.Fatalf("the installed dmls: %v: %s", err, out)
	}

	// The action's preview step with it.
	l := gittest.NewLocal(t, t.TempDir())
	files := map[string]string{}
	for _, p := range []string{"platform.cue", "overlays/dev.cue", "overlays/staging.cue", "overlays/prod.cue", "apps/fashion-mnist/app.cue", "apps/fashion-mnist/serving.cue", "apps/fashion-mnist/training.cue",
		"charts/nvidia-device-plugin/Chart.yaml", "charts/nvidia-device-plugin/values.yaml", "charts/nvidia-device-plugin/templates/daemonset.yaml"} {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		files[p] = string(b)
	}
	l.Write(files)
	base := l.Commit("base")
	l.Write(map[string]string{"apps/fashion-mnist/serving.cue": strings.Replace(files["apps/fashion-mnist/serving.cue"], "canaryPercent: 10", "canaryPercent: 25", 1)})
	l.Commit("canary 25%")
	out := filepath.Join(t.TempDir(), "preview")
	script, err := filepath.Abs(filepath.Join(root, ".github/scripts/dmls-preview.sh"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", script)
	cmd.Dir = l.Dir
	cmd.Env = append(os.Environ(), "DMLS="+dmls, "BASE_SHA="+base, "OUT="+out, "FORMAT=markdown")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("preview: %v\n%s", err, b)
	}
	md, err := os.ReadFile(filepath.Join(out, "preview.md"))
	if err != nil || !strings.Contains(string(md), "canary 10%→25%") {
		t.Fatalf("preview.md: %v\n%s", err, md)
	}

	// A corrupt archive is refused, and nothing is installed.
	mu.Lock()
	corrupt = true
	mu.Unlock()
	bin, log, err = install("DMLS_VERSION=v0.0.1")
	if err == nil || !strings.Contains(log, "checksum mismatch") || !strings.Contains(log, "not running it") {
		t.Fatalf("a corrupt archive: %v\n%s", err, log)
	}
	if _, err := os.Stat(filepath.Join(bin, "dmls")); err == nil {
		t.Fatal("a corrupt archive was installed")
	}

	// Each of these fails with a message naming what it tried.
	for _, c := range []struct {
		env  []string
		want string
	}{
		{[]string{"DMLS_VERSION=v9.9.9"}, srv.URL + "/v9.9.9/SHA256SUMS"},
		{[]string{"DMLS_VERSION=v0.0.1", "RUNNER_OS=Windows"}, "operating system 'Windows'"},
		{[]string{"DMLS_VERSION=v0.0.1", "RUNNER_ARCH=X86"}, "architecture 'X86'"},
		{[]string{"DMLS_VERSION=main"}, "main is not a release version"},
		{[]string{"DMLS_VERSION="}, "no version"},
	} {
		bin, log, err := install(c.env...)
		if err == nil || !strings.Contains(log, c.want) {
			t.Errorf("%v: err %v, want a message with %q:\n%s", c.env, err, c.want, log)
		}
		if _, err := os.Stat(filepath.Join(bin, "dmls")); err == nil {
			t.Errorf("%v: a binary was installed", c.env)
		}
	}
}
