// Command dist builds dmls's release archives (make dist): for each
// platform a static, stripped binary (CGO_ENABLED=0, -trimpath, the version
// stamped), packed with the license, the README, shell completions, man
// pages and a CycloneDX SBOM into dmls_<version>_<os>_<arch>.tar.gz, and a
// SHA256SUMS file over the archives and SBOMs.
//
// Building twice from one commit gives the same bytes: the Go build is
// reproducible with -trimpath and -buildid=, and every archive entry has
// the commit's time, owner 0 and a fixed mode, in a fixed order, behind a
// gzip header without a name or time. The SBOM is written without a serial
// number or timestamp for the same reason.
//
//	go run ./internal/dist -version v1.2.3 -out dist -platforms linux/amd64,darwin/arm64 -sbom-tool .cache/tools/cyclonedx-gomod
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/dmls-project/dmls/internal/docgen"
	"github.com/dmls-project/dmls/internal/outdir"
)

// Platforms are the release's operating systems and architectures.
var Platforms = []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64"}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "dist: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("dist", flag.ContinueOnError)
	var o Options
	platforms := fs.String("platforms", strings.Join(Platforms, ","), "comma-separated GOOS/GOARCH pairs")
	fs.StringVar(&o.Version, "version", "", "the version to stamp and to name the archives by (required)")
	fs.StringVar(&o.Out, "out", "dist", "the output folder; dist owns it and replaces it")
	fs.StringVar(&o.SBOMTool, "sbom-tool", "", "the cyclonedx-gomod binary (required)")
	fs.BoolVar(&o.AllowDirty, "allow-dirty", false, "build from a work tree with uncommitted changes")
	fs.StringVar(&o.Root, "root", ".", "the dmls source tree")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, p := range strings.Split(*platforms, ",") {
		if p = strings.TrimSpace(p); p != "" {
			o.Platforms = append(o.Platforms, p)
		}
	}
	files, err := Build(o)
	if err != nil {
		return err
	}
	for _, f := range files {
		fmt.Fprintln(stdout, f)
	}
	return nil
}

// Options say what Build makes.
type Options struct {
	Version    string
	Out        string
	Platforms  []string
	SBOMTool   string
	AllowDirty bool
	Root       string
}

// Build makes the archives, SBOMs and SHA256SUMS in o.Out and returns the
// paths it wrote, SHA256SUMS last. The linux binaries stay in
// o.Out/build/<os>_<arch>/dmls for the image.
func Build(o Options) ([]string, error) {
	if o.Version == "" || strings.ContainsAny(o.Version, "/\\ \t\n") {
		return nil, fmt.Errorf("-version %q: give the release version, for example v1.2.3", o.Version)
	}
	if o.SBOMTool == "" {
		return nil, errors.New("-sbom-tool: give the cyclonedx-gomod binary (make dist installs it)")
	}
	if len(o.Platforms) == 0 {
		return nil, errors.New("-platforms: give at least one GOOS/GOARCH")
	}
	for _, p := range o.Platforms {
		if !knownPlatform(p) {
			return nil, fmt.Errorf("platform %q: want one of %s", p, strings.Join(Platforms, ", "))
		}
	}
	if !o.AllowDirty {
		if dirty, err := gitOutput(o.Root, "status", "--porcelain", "--untracked-files=no"); err != nil {
			return nil, err
		} else if dirty != "" {
			return nil, fmt.Errorf("the work tree has uncommitted changes, and a release must not carry them; commit them, or set ALLOW_DIRTY=1 for a build that is not a release:\n%s", dirty)
		}
	}
	epoch, err := sourceDate(o.Root)
	if err != nil {
		return nil, err
	}
	if err := outdir.ReplaceMarked(o.Out, ownMarker, "make dist"); err != nil {
		return nil, err
	}
	extras, err := docFiles(epoch)
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"LICENSE", "README.md"} {
		b, err := os.ReadFile(filepath.Join(o.Root, name))
		if err != nil {
			return nil, fmt.Errorf("the archive needs %s: %w", name, err)
		}
		extras = append(extras, file{name: name, mode: 0o644, data: b})
	}

	var written []string
	for _, p := range o.Platforms {
		goos, goarch, _ := strings.Cut(p, "/")
		base := fmt.Sprintf("dmls_%s_%s_%s", o.Version, goos, goarch)
		bin := filepath.Join(o.Out, "build", goos+"_"+goarch, "dmls")
		if err := goBuild(o.Root, goos, goarch, o.Version, bin); err != nil {
			return nil, err
		}
		exe, err := os.ReadFile(bin)
		if err != nil {
			return nil, err
		}
		sbom, err := makeSBOM(o.SBOMTool, o.Version, bin)
		if err != nil {
			return nil, err
		}
		sbomPath := filepath.Join(o.Out, base+".sbom.cdx.json")
		if err := os.WriteFile(sbomPath, sbom, 0o644); err != nil {
			return nil, err
		}
		files := append([]file{{name: "dmls", mode: 0o755, data: exe}, {name: "sbom.cdx.json", mode: 0o644, data: sbom}}, extras...)
		archive, err := tarGz(base, files, epoch)
		if err != nil {
			return nil, err
		}
		archivePath := filepath.Join(o.Out, base+".tar.gz")
		if err := os.WriteFile(archivePath, archive, 0o644); err != nil {
			return nil, err
		}
		written = append(written, archivePath, sbomPath)
	}
	sums, err := checksums(written)
	if err != nil {
		return nil, err
	}
	sumsPath := filepath.Join(o.Out, "SHA256SUMS")
	if err := os.WriteFile(sumsPath, sums, 0o644); err != nil {
		return nil, err
	}
	return append(written, sumsPath), nil
}

func knownPlatform(p string) bool {
	for _, q := range Platforms {
		if p == q {
			return true
		}
	}
	return false
}

// goBuild builds the static, stripped, version-stamped binary.
func goBuild(root, goos, goarch, version, out string) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-trimpath",
		"-ldflags", "-s -w -buildid= -X github.com/dmls-project/dmls/internal/cli.Version="+version,
		"-o", abs, "./cmd/dmls")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch, "GOFLAGS=-mod=readonly")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build for %s/%s: %w", goos, goarch, err)
	}
	return nil
}

// makeSBOM describes the binary's modules, read from its build info, as
// CycloneDX JSON with no serial number or timestamp.
func makeSBOM(tool, version, bin string) ([]byte, error) {
	out, err := os.CreateTemp("", "dmls-sbom-*.json")
	if err != nil {
		return nil, err
	}
	out.Close()
	defer os.Remove(out.Name())
	cmd := exec.Command(tool, "bin", "-json", "-noserial", "-notimestamp", "-version", version, "-output", out.Name(), bin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s bin %s: %w\n%s", filepath.Base(tool), bin, err, stderr.String())
	}
	return os.ReadFile(out.Name())
}

// docFiles are the shell completions and man pages, the same for every
// platform.
func docFiles(epoch time.Time) ([]file, error) {
	root := docgen.Root()
	var files []file
	gen := []struct {
		name string
		fn   func(io.Writer) error
	}{
		{"completions/dmls.bash", func(w io.Writer) error { return root.GenBashCompletionV2(w, true) }},
		{"completions/_dmls", root.GenZshCompletion},
		{"completions/dmls.fish", func(w io.Writer) error { return root.GenFishCompletion(w, true) }},
	}
	for _, g := range gen {
		var b bytes.Buffer
		if err := g.fn(&b); err != nil {
			return nil, fmt.Errorf("%s: %w", g.name, err)
		}
		files = append(files, file{name: g.name, mode: 0o644, data: b.Bytes()})
	}
	pages, err := manPages(epoch)
	if err != nil {
		return nil, err
	}
	return append(files, pages...), nil
}

// manPages renders a page per command, dated by the commit.
func manPages(epoch time.Time) ([]file, error) {
	header := &doc.GenManHeader{Title: "DMLS", Section: "1", Date: &epoch, Source: "dmls", Manual: "dmls manual"}
	pages, err := docgen.Tree(func(root *cobra.Command, dir string) error { return doc.GenManTree(root, header, dir) })
	if err != nil {
		return nil, fmt.Errorf("man pages: %w", err)
	}
	var files []file
	for name, b := range pages {
		files = append(files, file{name: path.Join("man/man1", name), mode: 0o644, data: b})
	}
	return files, nil
}

type file struct {
	name string
	mode int64
	data []byte
}

// tarGz packs files under dir/ in name order, each with the given time,
// owner 0 and its mode, behind a gzip header with no name and no time.
func tarGz(dir string, files []file, mtime time.Time) ([]byte, error) {
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	var buf bytes.Buffer
	gz, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(gz)
	dirs := map[string]bool{}
	writeDir := func(name string) error {
		if dirs[name] {
			return nil
		}
		dirs[name] = true
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX})
	}
	if err := writeDir(dir); err != nil {
		return nil, err
	}
	for _, f := range files {
		full := path.Join(dir, f.name)
		// the parent folders, outermost first
		var parents []string
		for d := path.Dir(full); d != dir && d != "."; d = path.Dir(d) {
			parents = append([]string{d}, parents...)
		}
		for _, d := range parents {
			if err := writeDir(d); err != nil {
				return nil, err
			}
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: full, Mode: f.mode, Size: int64(len(f.data)), ModTime: mtime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// checksums is a SHA256SUMS file (sha256sum's format) over paths, by name.
func checksums(paths []string) ([]byte, error) {
	lines := make([]string, 0, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		lines = append(lines, hex.EncodeToString(sum[:])+"  "+filepath.Base(p))
	}
	sort.Slice(lines, func(i, j int) bool { return lines[i][66:] < lines[j][66:] })
	return []byte(strings.Join(lines, "\n") + "\n"), nil
}

// sourceDate is the time every archive entry carries: SOURCE_DATE_EPOCH
// when set, else the commit's time.
func sourceDate(root string) (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		out, err := gitOutput(root, "log", "-1", "--format=%ct")
		if err != nil {
			return time.Time{}, err
		}
		s = out
	}
	sec, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: want seconds since 1970", s)
	}
	return time.Unix(sec, 0).UTC(), nil
}

func gitOutput(root string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// ownMarker marks the output folder as this tool's own (outdir.ReplaceMarked).
const ownMarker = ".dmls-dist"
