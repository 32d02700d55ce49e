package main

import (
	"archive/tar"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/dmls-project/dmls/internal/outdir"
)

// TestImageLayout builds the image of a real dmls binary, opens the
// layout, checks the index, the config and the layer, and runs the binary
// from the layer.
func TestImageLayout(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "dmls")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X github.com/dmls-project/dmls/internal/cli.Version=v0.0.1", "-o", bin, "../../cmd/dmls")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	created := time.Unix(1700000000, 0).UTC()
	out := filepath.Join(dir, "oci")
	o := Options{Out: out, Version: "v0.0.1", Revision: "0123abc", Source: "https://example.com/dmls", CACerts: DefaultCACerts, Created: created,
		// The same amd64 binary stands in for arm64 here: the test checks
		// how the index is put together; make image builds the real one.
		Binaries: map[string]string{"linux/amd64": bin, "linux/arm64": bin}}
	digest, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Build(o)
	if err != nil || again != digest {
		t.Fatalf("a second build gave %v (%v), want the same digest %v", again, err, digest)
	}

	lp, err := layout.FromPath(out)
	if err != nil {
		t.Fatal(err)
	}
	top, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	topm, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(topm.Manifests) != 1 || topm.Manifests[0].Digest != digest || topm.Manifests[0].Annotations[RefName] != "v0.0.1" {
		t.Fatalf("index.json: %+v, want the index %v tagged v0.0.1", topm.Manifests, digest)
	}
	idx, err := top.ImageIndex(digest)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var archs []string
	for _, m := range im.Manifests {
		archs = append(archs, m.Platform.OS+"/"+m.Platform.Architecture)
	}
	if strings.Join(archs, ",") != "linux/amd64,linux/arm64" {
		t.Fatalf("platforms %v", archs)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Config
	if c.User != "65532:65532" || strings.Join(c.Entrypoint, " ") != BinPath || cfg.Architecture != "amd64" || cfg.OS != "linux" {
		t.Fatalf("config: user %q, entrypoint %v, platform %s/%s", c.User, c.Entrypoint, cfg.OS, cfg.Architecture)
	}
	for k, v := range map[string]string{"org.opencontainers.image.source": "https://example.com/dmls", "org.opencontainers.image.revision": "0123abc", "org.opencontainers.image.version": "v0.0.1"} {
		if c.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], v)
		}
	}
	if !cfg.Created.Time.Equal(created) {
		t.Errorf("created %v", cfg.Created)
	}

	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			files["/"+h.Name] = b
		}
	}
	if !strings.Contains(string(files["/etc/passwd"]), "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd: %q", files["/etc/passwd"])
	}
	if !strings.Contains(string(files[DefaultCACerts]), "BEGIN CERTIFICATE") {
		t.Error("no CA certificates")
	}
	run := filepath.Join(dir, "from-layer")
	if err := os.WriteFile(run, files[BinPath], 0o755); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(run, "version").CombinedOutput(); err != nil || !strings.HasPrefix(string(b), "dmls v0.0.1 ") {
		t.Fatalf("the binary in the layer: %v: %s", err, b)
	}
}

func TestForeignLayoutFolderIsKept(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "keep"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := outdir.ReplaceMarked(dir, ownMarker, "make image"); err == nil {
		t.Fatal("a folder ociimage did not make was replaced")
	}
	if _, err := os.Stat(filepath.Join(dir, "keep")); err != nil {
		t.Fatal(err)
	}
}
