// Command ociimage builds the dmls image (make image) without a Docker
// engine and without a base image: from scratch, with go-containerregistry,
// into an OCI image layout. The image holds the static dmls binary as its
// entrypoint, the CA certificates of the build machine's Debian
// ca-certificates package, and passwd and group entries for the non-root
// user it runs as. Each platform's image is one layer; together they form a
// multi-arch index tagged with the version, whose digest is printed.
//
//	go run ./internal/ociimage -out dist/oci -version v1.2.3 -revision $(git rev-parse HEAD) \
//	  -bin linux/amd64=dist/build/linux_amd64/dmls -bin linux/arm64=dist/build/linux_arm64/dmls
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/dmls-project/dmls/internal/outdir"
)

// The user the image runs as: not root, and the id distroless's nonroot
// user has, which Kubernetes' runAsNonRoot accepts.
const (
	uid  = 65532
	home = "/home/nonroot"
	// BinPath is where the binary lives in the image.
	BinPath = "/usr/local/bin/dmls"
	// DefaultCACerts is the bundle of Debian's ca-certificates package.
	DefaultCACerts = "/etc/ssl/certs/ca-certificates.crt"
	// RefName is the annotation that names the index's tag in the layout.
	RefName = "org.opencontainers.image.ref.name"
)

type binFlags map[string]string

func (b binFlags) String() string { return fmt.Sprint(map[string]string(b)) }
func (b binFlags) Set(s string) error {
	plat, file, ok := strings.Cut(s, "=")
	if !ok || !strings.HasPrefix(plat, "linux/") || file == "" {
		return fmt.Errorf("-bin %q: want linux/ARCH=PATH", s)
	}
	b[plat] = file
	return nil
}

func main() {
	o := Options{Binaries: binFlags{}}
	flag.StringVar(&o.Out, "out", "dist/oci", "the OCI layout folder; ociimage owns it and replaces it")
	flag.StringVar(&o.Version, "version", "", "the version: the tag and the version label (required)")
	flag.StringVar(&o.Revision, "revision", "", "the source commit, for the revision label (required)")
	flag.StringVar(&o.Source, "source", "https://github.com/dmls-project/dmls", "the source repository, for the source label")
	flag.StringVar(&o.CACerts, "cacerts", DefaultCACerts, "the CA certificate bundle to ship")
	flag.Var(binFlags(o.Binaries), "bin", "linux/ARCH=PATH of a static dmls binary (repeat per platform)")
	created := flag.Int64("created", 0, "the creation time, seconds since 1970 (default: SOURCE_DATE_EPOCH, else 0)")
	flag.Parse()
	o.Created = time.Unix(*created, 0).UTC()
	if *created == 0 {
		if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
			var sec int64
			if _, err := fmt.Sscan(s, &sec); err != nil {
				fmt.Fprintf(os.Stderr, "ociimage: SOURCE_DATE_EPOCH %q: want seconds since 1970\n", s)
				os.Exit(2)
			}
			o.Created = time.Unix(sec, 0).UTC()
		}
	}
	digest, err := Build(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ociimage: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("%s@%s (tag %s)\n", o.Out, digest, o.Version)
}

// Options say what Build makes.
type Options struct {
	Out, Version, Revision, Source, CACerts string
	Binaries                                map[string]string // linux/ARCH -> binary
	Created                                 time.Time
}

// Build writes the index into a new OCI layout at o.Out and returns its
// digest.
func Build(o Options) (v1.Hash, error) {
	if o.Version == "" || o.Revision == "" {
		return v1.Hash{}, errors.New("give -version and -revision")
	}
	if len(o.Binaries) == 0 {
		return v1.Hash{}, errors.New("give at least one -bin linux/ARCH=PATH")
	}
	certs, err := os.ReadFile(o.CACerts)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("CA certificates: %w (on Debian: apt-get install ca-certificates)", err)
	}
	plats := make([]string, 0, len(o.Binaries))
	for p := range o.Binaries {
		plats = append(plats, p)
	}
	sort.Strings(plats)
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range plats {
		bin, err := os.ReadFile(o.Binaries[p])
		if err != nil {
			return v1.Hash{}, err
		}
		arch := strings.TrimPrefix(p, "linux/")
		img, err := image(o, arch, bin, certs)
		if err != nil {
			return v1.Hash{}, fmt.Errorf("%s: %w", p, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}},
		})
	}
	idx = mutate.Annotations(idx, labels(o)).(v1.ImageIndex)
	if err := outdir.ReplaceMarked(o.Out, ownMarker, "make image"); err != nil {
		return v1.Hash{}, err
	}
	lp, err := layout.Write(o.Out, empty.Index)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{RefName: o.Version})); err != nil {
		return v1.Hash{}, err
	}
	return idx.Digest()
}

// labels are the OCI annotations of the image and the index.
func labels(o Options) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "dmls",
		"org.opencontainers.image.description": "GitOps for distributed machine learning on Kubernetes: the dmls API server and CLI",
		"org.opencontainers.image.source":      o.Source,
		"org.opencontainers.image.revision":    o.Revision,
		"org.opencontainers.image.version":     o.Version,
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.created":     o.Created.Format(time.RFC3339),
	}
}

// image is one platform's image: a single layer from scratch.
func image(o Options, arch string, bin, certs []byte) (v1.Image, error) {
	layer, err := rootfs(bin, certs, o.Created)
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", arch
	cfg.Created = v1.Time{Time: o.Created}
	cfg.Author = "dmls"
	cfg.Config = v1.Config{
		User:         fmt.Sprintf("%d:%d", uid, uid),
		Entrypoint:   []string{BinPath},
		Cmd:          []string{"serve", "--listen", ":8080"},
		WorkingDir:   home,
		Env:          []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + home, "SSL_CERT_FILE=" + DefaultCACerts},
		ExposedPorts: map[string]struct{}{"8080/tcp": {}},
		Labels:       labels(o),
	}
	cfg.History = []v1.History{{Created: v1.Time{Time: o.Created}, CreatedBy: "dmls ociimage", Comment: "dmls " + o.Version}}
	return mutate.ConfigFile(img, cfg)
}

// rootfs is the layer: the binary, the CA bundle, passwd, group, and the
// user's home and /tmp, every entry with a fixed time.
func rootfs(bin, certs []byte, mtime time.Time) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string, mode int64, owner int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: owner, Gid: owner, ModTime: mtime, Format: tar.FormatPAX})
	}
	reg := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:%s:/sbin/nologin\n", uid, uid, home)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", uid)
	steps := []func() error{
		func() error { return dir("etc", 0o755, 0) },
		func() error { return reg("etc/group", 0o644, []byte(group)) },
		func() error { return reg("etc/passwd", 0o644, []byte(passwd)) },
		func() error { return dir("etc/ssl", 0o755, 0) },
		func() error { return dir("etc/ssl/certs", 0o755, 0) },
		func() error { return reg("etc/ssl/certs/ca-certificates.crt", 0o644, certs) },
		func() error { return dir("home", 0o755, 0) },
		func() error { return dir(strings.TrimPrefix(home, "/"), 0o700, uid) },
		func() error { return dir("tmp", 0o1777, 0) },
		func() error { return dir("usr", 0o755, 0) },
		func() error { return dir("usr/local", 0o755, 0) },
		func() error { return dir("usr/local/bin", 0o755, 0) },
		func() error { return reg(strings.TrimPrefix(BinPath, "/"), 0o755, bin) },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return compressed(buf.Bytes())
}

// compressed makes a gzip layer from an uncompressed tar, deterministic
// for the same bytes.
func compressed(tarball []byte) (v1.Layer, error) {
	var gz bytes.Buffer
	if err := gzipTo(&gz, tarball); err != nil {
		return nil, err
	}
	return static.NewLayer(gz.Bytes(), types.OCILayer), nil
}

// ownMarker marks the output folder as this tool's own (outdir.ReplaceMarked).
const ownMarker = ".dmls-ociimage"

// gzipTo compresses b into w with an empty gzip header (no name, no time).
func gzipTo(w io.Writer, b []byte) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	if _, err := zw.Write(b); err != nil {
		return err
	}
	return zw.Close()
}
