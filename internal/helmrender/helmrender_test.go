package helmrender

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"sigs.k8s.io/yaml"

	"github.com/dmls-project/dmls/internal/golden"
	"github.com/dmls-project/dmls/internal/spec"
)

var demoValues = map[string]any{"image": map[string]any{"tag": "1.2.3"}, "replicas": 2}

func readDemo(t *testing.T) Files {
	t.Helper()
	files, err := Read(os.DirFS("testdata"), "demo", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func renderFiles(files Files, values map[string]any) (string, error) {
	c, err := Load(files)
	if err != nil {
		return "", err
	}
	objs, err := Render(c, Options{Release: "demo", Namespace: "demo-system", Values: values})
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	for _, o := range objs {
		y, err := yaml.Marshal(o.Object)
		if err != nil {
			return "", err
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	return b.String(), nil
}

// TestGolden renders the demo chart (a CRD, templates, a vendored
// subchart) in-process and compares the objects with the golden file.
func TestGolden(t *testing.T) {
	got, err := renderFiles(readDemo(t), demoValues)
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/demo.golden.yaml", []byte(got))
	for _, want := range []string{"kind: CustomResourceDefinition", "name: demo-metrics", "image: registry.example.com/demo:1.2.3", `kube: v1.37.2`} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// TestArchive renders the same chart from a .tgz, to the same bytes.
func TestArchive(t *testing.T) {
	files := readDemo(t)
	tgz := tgz(t, prefixed("demo/", files), nil)
	fromTgz, err := ReadArchive(tgz, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := renderFiles(files, demoValues)
	if err != nil {
		t.Fatal(err)
	}
	b, err := renderFiles(fromTgz, demoValues)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Error("the .tgz renders differently from the folder")
	}
}

func TestErrors(t *testing.T) {
	replace := func(name, data string) Files {
		var out Files
		for _, f := range readDemo(t) {
			if f.Name == name {
				f = spec.ChartFile{Name: name, Data: []byte(data)}
			}
			out = append(out, f)
		}
		return out
	}
	chartYAML := func(name string) string {
		return "apiVersion: v2\nname: " + name + "\nversion: 0.1.0\ndependencies:\n  - name: metrics\n    version: 0.1.0\n"
	}
	tests := []struct {
		name    string
		files   Files
		values  map[string]any
		wantErr string
		unsafe  bool
	}{
		{name: "template error", files: replace("templates/serviceaccount.yaml", "metadata:\n  name: {{ .Release.Name | nosuchfunc }}\n"),
			values: demoValues, wantErr: `function "nosuchfunc" not defined`},
		{name: "missing value", files: readDemo(t), values: map[string]any{}, wantErr: "image.tag is required"},
		{name: "dotdot name", files: replace("Chart.yaml", chartYAML("..")), values: demoValues, wantErr: `chart name ".." is refused (GHSA-hr2v-4r36-88hr)`, unsafe: true},
		{name: "dot name", files: replace("Chart.yaml", chartYAML(".")), values: demoValues, wantErr: `chart name "." is refused`, unsafe: true},
		{name: "dotdot subchart name", files: replace("charts/metrics/Chart.yaml", "apiVersion: v2\nname: ..\nversion: 0.1.0\n"), values: demoValues, wantErr: `charts/metrics/Chart.yaml: chart name ".." is refused`, unsafe: true},
		{name: "dependency not vendored", files: replace("Chart.yaml", chartYAML("demo")+"  - name: redis\n    version: 19.0.0\n    repository: https://charts.example.com\n"),
			values: demoValues, wantErr: `dependency "redis" (https://charts.example.com 19.0.0) is not vendored under charts/`, unsafe: true},
		{name: "not deterministic", files: replace("templates/serviceaccount.yaml", "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa-{{ randAlphaNum 8 | lower }}\n"),
			values: demoValues, wantErr: "renders differently each time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := renderFiles(tt.files, tt.values)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
			if errors.Is(err, ErrUnsafe) != tt.unsafe {
				t.Errorf("errors.Is(err, ErrUnsafe) = %v, want %v", !tt.unsafe, tt.unsafe)
			}
		})
	}
}

// TestSymlink refuses a chart folder holding a symlink, which could pull
// in a file from outside the chart.
func TestSymlink(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "demo"), os.DirFS("testdata/demo")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "demo", "templates", "passwd.yaml")); err != nil {
		t.Fatal(err)
	}
	_, err := Read(os.DirFS(dir), "demo", Limits{})
	if !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "demo/templates/passwd.yaml is a symlink") {
		t.Fatalf("err = %v, want a refused symlink", err)
	}
}

func TestArchiveRefusals(t *testing.T) {
	ok := prefixed("demo/", readDemo(t))
	tests := []struct {
		name    string
		extra   *tar.Header
		wantErr string
	}{
		{name: "escaping path", extra: &tar.Header{Name: "demo/../../etc/cron.d/x", Typeflag: tar.TypeReg}, wantErr: "leaves the chart"},
		{name: "absolute path", extra: &tar.Header{Name: "/etc/passwd", Typeflag: tar.TypeReg}, wantErr: "leaves the chart"},
		{name: "symlink", extra: &tar.Header{Name: "demo/templates/x.yaml", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}, wantErr: "is a link"},
		{name: "hard link", extra: &tar.Header{Name: "demo/templates/y.yaml", Typeflag: tar.TypeLink, Linkname: "demo/Chart.yaml"}, wantErr: "is a link"},
		{name: "second top folder", extra: &tar.Header{Name: "other/Chart.yaml", Typeflag: tar.TypeReg}, wantErr: "two top folders"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadArchive(tgz(t, ok, tt.extra), Limits{})
			if !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	files := readDemo(t)
	if _, err := Read(os.DirFS("testdata"), "demo", Limits{Files: 3, Bytes: 1 << 20, FileBytes: 1 << 20}); !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "more than 3 files") {
		t.Errorf("file count: %v", err)
	}
	if _, err := Read(os.DirFS("testdata"), "demo", Limits{Files: 100, Bytes: 1000, FileBytes: 1 << 20}); !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "more than 1000 bytes in all") {
		t.Errorf("total size: %v", err)
	}
	if _, err := ReadArchive(tgz(t, prefixed("demo/", files), nil), Limits{Files: 100, Bytes: 1 << 20, FileBytes: 100}); !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "more than 100") {
		t.Errorf("file size in archive: %v", err)
	}
}

func prefixed(prefix string, files Files) Files {
	var out Files
	for _, f := range files {
		out = append(out, spec.ChartFile{Name: prefix + f.Name, Data: f.Data})
	}
	return out
}

// tgz packs files (and one extra header, with no data) as a .tgz.
func tgz(t *testing.T, files Files, extra *tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.Name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f.Data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			t.Fatal(err)
		}
	}
	if extra != nil {
		extra.Mode = 0o644
		if err := tw.WriteHeader(extra); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestExpandAdvisoryFixed holds the Helm this package links to the fix of
// GHSA-hr2v-4r36-88hr: its chartutil.Expand refuses a chart named "." or
// "..", which Helm v3.18.6's wrote over its target folder. This package
// still never calls Expand and refuses those names itself (TestErrors),
// so that no path comes from a chart's name whatever Helm does.
func TestExpandAdvisoryFixed(t *testing.T) {
	for _, name := range []string{".", ".."} {
		files := Files{{Name: "Chart.yaml", Data: []byte("apiVersion: v2\nname: " + name + "\nversion: 0.1.0\n")}}
		dir := t.TempDir()
		err := chartutil.Expand(dir, bytes.NewReader(tgz(t, prefixed("evil/", files), nil)))
		if err == nil || !strings.Contains(err.Error(), "is not allowed") {
			t.Errorf("Helm's Expand of a chart named %q: %v, want it refused", name, err)
		}
	}
}
