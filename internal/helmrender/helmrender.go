// Package helmrender renders Helm charts of the workspace in-process, as
// `helm template` does, with the safety rules a chart from a pull request
// needs: bounded size, no symlinks or escaping paths, no network, only
// vendored dependencies, and never Helm's chartutil.Expand.
//
// It uses Helm v4.3.2, the Helm that Argo CD v3.6 renders charts with, so
// that a chart renders here as Argo CD renders it. Helm v3.18's advisory
// GHSA-hr2v-4r36-88hr (a chart named "." or ".." makes chartutil.Expand
// write over its target directory) is fixed in this Helm; this package
// still never calls Expand (charts are read into memory, by Read or
// ReadArchive, and loaded with loader.LoadFiles) and still refuses those
// names, in the chart and in every subchart, because no path may come from
// a chart's name.
package helmrender

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/dmls-project/dmls/internal/spec"
	"helm.sh/helm/v4/pkg/chart/common"
	chartutilcommon "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/loader/archive"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Limits cap what a chart may hold. The zero value means DefaultLimits.
type Limits struct {
	// Files is the most files a chart (with its subcharts) may have.
	Files int
	// Bytes caps the sum of the files' sizes, unpacked.
	Bytes int64
	// FileBytes caps each file.
	FileBytes int64
}

// DefaultLimits fit the charts of platform components (cert-manager with
// its CRDs is about 1 MiB) with room to spare.
var DefaultLimits = Limits{Files: 1000, Bytes: 16 << 20, FileBytes: 4 << 20}

func (l Limits) orDefault() Limits {
	if l == (Limits{}) {
		return DefaultLimits
	}
	return l
}

// ErrUnsafe is wrapped by every refusal of this package's safety rules.
var ErrUnsafe = errors.New("unsafe chart")

func unsafe(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsafe, fmt.Sprintf(format, args...))
}

// Files is a chart read into memory: slash-separated paths relative to
// the chart root. It is the model's type, so that a loaded workspace
// carries its charts without importing Helm.
type Files = spec.ChartFiles

// Read reads the chart folder dir of fsys. It refuses symlinks and
// anything but regular files and folders, and stops at the limits. fsys
// paths cannot leave fsys (fs.ValidPath refuses ".."), so neither can a
// chart.
func Read(fsys fs.FS, dir string, lim Limits) (Files, error) {
	lim = lim.orDefault()
	var out Files
	var total int64
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, dir), "/")
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			return unsafe("%s is a symlink; copy its target into the chart", p)
		case d.IsDir():
			return nil
		case !d.Type().IsRegular():
			return unsafe("%s is not a regular file", p)
		}
		if len(out) >= lim.Files {
			return unsafe("more than %d files", lim.Files)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Size() > lim.FileBytes {
			return unsafe("%s is %d bytes, more than %d", p, info.Size(), lim.FileBytes)
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		if int64(len(data)) > lim.FileBytes {
			return unsafe("%s is %d bytes, more than %d", p, len(data), lim.FileBytes)
		}
		if total += int64(len(data)); total > lim.Bytes {
			return unsafe("more than %d bytes in all", lim.Bytes)
		}
		out = append(out, spec.ChartFile{Name: rel, Data: data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read chart %s: %w", dir, err)
	}
	return out, nil
}

// ReadArchive reads a chart .tgz held in memory. Its entries must all be
// regular files or folders under one top folder, with clean relative
// names; links, absolute names and names with ".." are refused.
func ReadArchive(data []byte, lim Limits) (Files, error) {
	lim = lim.orDefault()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("read chart archive: %w", err)
	}
	tr := tar.NewReader(zr)
	var out Files
	var total int64
	top := ""
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read chart archive: %w", err)
		}
		name := h.Name
		if strings.Contains(name, `\`) || path.IsAbs(name) || path.Clean(name) != strings.TrimSuffix(name, "/") || hasDotDot(name) {
			return nil, unsafe("archive entry %q leaves the chart", name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg:
		case tar.TypeSymlink, tar.TypeLink:
			return nil, unsafe("archive entry %q is a link", name)
		default:
			return nil, unsafe("archive entry %q is not a regular file", name)
		}
		first, rest, ok := strings.Cut(name, "/")
		if !ok || rest == "" {
			return nil, unsafe("archive entry %q is not inside the chart's folder", name)
		}
		if top == "" {
			top = first
		} else if first != top {
			return nil, unsafe("archive holds two top folders, %q and %q", top, first)
		}
		if len(out) >= lim.Files {
			return nil, unsafe("more than %d files", lim.Files)
		}
		if h.Size > lim.FileBytes {
			return nil, unsafe("%s is %d bytes, more than %d", name, h.Size, lim.FileBytes)
		}
		b, err := io.ReadAll(io.LimitReader(tr, lim.FileBytes+1))
		if err != nil {
			return nil, fmt.Errorf("read chart archive %s: %w", name, err)
		}
		if int64(len(b)) > lim.FileBytes {
			return nil, unsafe("%s is more than %d bytes", name, lim.FileBytes)
		}
		if total += int64(len(b)); total > lim.Bytes {
			return nil, unsafe("more than %d bytes in all", lim.Bytes)
		}
		out = append(out, spec.ChartFile{Name: rest, Data: b})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("read chart archive: no files")
	}
	return out, nil
}

func hasDotDot(name string) bool {
	for _, s := range strings.Split(name, "/") {
		if s == ".." || s == "." {
			return true
		}
	}
	return false
}

// Load builds a chart from files and checks it: names (never "." or
// ".."), and that every dependency Chart.yaml declares is vendored under
// charts/, in the chart and in each subchart. Nothing is fetched.
func Load(files Files) (*chart.Chart, error) {
	// Refuse a bad name before Helm parses further.
	for _, f := range files {
		if f.Name == "Chart.yaml" || strings.HasSuffix(f.Name, "/Chart.yaml") {
			var md chart.Metadata
			if err := yaml.Unmarshal(f.Data, &md); err != nil {
				return nil, fmt.Errorf("%s: %w", f.Name, err)
			}
			if err := checkName(md.Name, f.Name); err != nil {
				return nil, err
			}
		}
	}
	bf := make([]*archive.BufferedFile, len(files))
	for i, f := range files {
		bf[i] = &archive.BufferedFile{Name: f.Name, Data: f.Data}
	}
	c, err := loader.LoadFiles(bf)
	if err != nil {
		return nil, fmt.Errorf("load chart: %w", err)
	}
	if err := checkChart(c, c.Name()); err != nil {
		return nil, err
	}
	return c, nil
}

func checkName(name, at string) error {
	if name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return unsafe("%s: chart name %q is refused (GHSA-hr2v-4r36-88hr); name the chart with letters, digits, '-', '_' or '.'", at, name)
	}
	return nil
}

func checkChart(c *chart.Chart, at string) error {
	if err := checkName(c.Name(), at+"/Chart.yaml"); err != nil {
		return err
	}
	have := map[string]bool{}
	for _, d := range c.Dependencies() {
		have[d.Name()] = true
	}
	for _, d := range c.Metadata.Dependencies {
		if !have[d.Name] {
			return unsafe("%s: dependency %q (%s %s) is not vendored under charts/; dmls renders without network, so run `helm dependency build` and commit charts/", at, d.Name, d.Repository, d.Version)
		}
	}
	for _, d := range c.Dependencies() {
		if err := checkChart(d, at+"/charts/"+d.Name()); err != nil {
			return err
		}
	}
	return nil
}

// KubeVersion is the Kubernetes version charts see (.Capabilities): the
// version of the pinned Kubernetes modules, fixed so that output does not
// depend on the machine.
var KubeVersion = common.KubeVersion{Version: "v1.37.2", Major: "1", Minor: "37"}

// Options name the release.
type Options struct {
	Release   string
	Namespace string
	Values    map[string]any
}

// Render renders c as `helm template` does, with the steps of Helm's
// action.Install under its client dry-run strategy (IncludeCRDs, hooks
// included, no cluster, no DNS lookups, no registry client; the action
// package itself is not linked, for the storage drivers, registry,
// plugin runtime and kubectl packages it brings; TestRenderAgreesWithHelm
// holds the two to the same output). It returns the objects in Helm's
// install order. A chart whose output differs between two renders (it
// uses now, rand or uuid functions) is refused: its commits would never
// settle.
func Render(c *chart.Chart, opts Options) ([]*unstructured.Unstructured, error) {
	first, err := render(c, opts)
	if err != nil {
		return nil, err
	}
	second, err := render(c, opts)
	if err != nil {
		return nil, err
	}
	if first != second {
		return nil, fmt.Errorf("chart %s renders differently each time (now, rand or uuid functions?); dmls needs the same output for the same input", c.Name())
	}
	return decode(first)
}

// render returns the manifest `helm template --include-crds` prints: the
// CRDs, the templates in install order, then the hooks.
func render(c *chart.Chart, opts Options) (string, error) {
	vals := opts.Values
	if vals == nil {
		vals = map[string]any{}
	}
	// Helm's coalescing writes into the values; give it a copy.
	vals, err := copyValues(vals)
	if err != nil {
		return "", err
	}
	manifest, err := install(c, opts.Release, opts.Namespace, vals)
	if err != nil {
		return "", fmt.Errorf("render chart %s: %w", c.Name(), err)
	}
	return manifest, nil
}

// install is action.Install's RunWithContext and renderResources, as far
// as a client-only dry run takes them, with their error messages.
func install(c *chart.Chart, name, namespace string, vals map[string]any) (string, error) {
	if err := chartutil.ValidateReleaseName(name); err != nil {
		return "", fmt.Errorf("release name check failed: %w", fmt.Errorf("release name %q: %w", name, err))
	}
	if err := chartutil.ProcessDependencies(c, vals); err != nil {
		return "", fmt.Errorf("chart dependencies processing failed: %w", err)
	}
	caps := common.DefaultCapabilities.Copy()
	caps.KubeVersion = KubeVersion
	options := common.ReleaseOptions{Name: name, Namespace: namespace, Revision: 1, IsInstall: true}
	values, err := chartutilcommon.ToRenderValuesWithSchemaValidation(c, vals, options, caps, false)
	if err != nil {
		return "", err
	}
	if c.Metadata.KubeVersion != "" && !chartutil.IsCompatibleRange(c.Metadata.KubeVersion, caps.KubeVersion.String()) {
		return "", fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s", c.Metadata.KubeVersion, caps.KubeVersion.Version)
	}
	var e engine.Engine
	files, err := e.RenderWithContext(context.Background(), c, values)
	if err != nil {
		return "", err
	}
	// NOTES.txt is neither a template nor a hook.
	for k := range files {
		if strings.HasSuffix(k, "NOTES.txt") {
			delete(files, k)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, crd := range c.CRDObjects() {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", crd.Filename, string(crd.File.Data))
	}
	for _, m := range manifests {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", m.Name, m.Content)
	}
	for _, h := range hooks {
		fmt.Fprintf(&b, "\n---\n# Source: %s\n%s\n", h.Path, h.Manifest)
	}
	return b.String(), nil
}

func copyValues(v map[string]any) (map[string]any, error) {
	b, err := yaml.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	out := map[string]any{}
	if err := yaml.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	return out, nil
}

// decode splits a rendered manifest into objects, in order; empty
// documents are dropped.
func decode(manifest string) ([]*unstructured.Unstructured, error) {
	docs := releaseutil.SplitManifests(manifest)
	keys := make([]string, 0, len(docs))
	for k := range docs {
		keys = append(keys, k)
	}
	// SplitManifests names documents manifest-0, manifest-1, ...
	sort.Slice(keys, func(i, j int) bool { return docIndex(keys[i]) < docIndex(keys[j]) })
	var out []*unstructured.Unstructured
	for _, k := range keys {
		m := map[string]any{}
		if err := yaml.Unmarshal([]byte(docs[k]), &m); err != nil {
			return nil, fmt.Errorf("rendered %s: %w", k, err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "" || u.GetAPIVersion() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("rendered document %d has no apiVersion, kind or name", docIndex(k))
		}
		out = append(out, u)
	}
	return out, nil
}

func docIndex(k string) int {
	var n int
	fmt.Sscanf(strings.TrimPrefix(k, "manifest-"), "%d", &n)
	return n
}
