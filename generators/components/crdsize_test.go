package components

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// upstreamCRDs are the CRD files of the components' upstream releases
// that the module cache holds: module, version, glob inside the module.
var upstreamCRDs = []struct{ module, version, glob string }{
	{"github.com/kubeflow/training-operator", "v1.9.4", "manifests/base/crds/kubeflow.org_*.yaml"},
	{"knative.dev/serving", "v0.48.1", "config/core/300-resources/*.yaml"},
	{"github.com/argoproj/argo-cd/v3", "v3.6.2", "manifests/crds/*-crd.yaml"},
	{"github.com/kserve/kserve", "v0.20.0", "config/crd/full/serving.kserve.io_*.yaml"},
}

// tooLarge are the CRDs measured above the 256 KiB client-side apply
// limit (the e2e test TestClientSideApplyLimit asks the API server);
// every component Application syncs by server-side apply for them. With
// the training operator 1.9.4 every job CRD is over it (tfjobs 276 401
// bytes), and so is Argo CD 3.6.2's applicationsets (387 318); KServe
// 0.20.0's inferenceservices needs 637 881. Close below: none.
var tooLarge = []string{
	"applicationsets.argoproj.io",
	"inferenceservices.serving.kserve.io",
	"jaxjobs.kubeflow.org",
	"mpijobs.kubeflow.org",
	"paddlejobs.kubeflow.org",
	"pytorchjobs.kubeflow.org",
	"tfjobs.kubeflow.org",
	"xgboostjobs.kubeflow.org",
}

// TestUpstreamCRDSizes measures the last-applied annotation of each
// upstream CRD and checks which exceed 256 KiB. Modules missing from the
// module cache are skipped and logged.
func TestUpstreamCRDSizes(t *testing.T) {
	cache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Skipf("go env GOMODCACHE: %v", err)
	}
	root := strings.TrimSpace(string(cache))
	var over []string
	measured := 0
	for _, u := range upstreamCRDs {
		dir := filepath.Join(root, escape(u.module)+"@"+u.version)
		files, _ := filepath.Glob(filepath.Join(dir, u.glob))
		if len(files) == 0 {
			t.Logf("%s@%s is not in the module cache; skipped", u.module, u.version)
			continue
		}
		for _, f := range files {
			for _, crd := range readCRDs(t, f) {
				n, err := LastAppliedBytes(crd)
				if err != nil {
					t.Fatal(err)
				}
				measured++
				mark := ""
				if n > MaxAnnotationBytes {
					over = append(over, crd.GetName())
					mark = "  > 256 KiB"
				}
				t.Logf("%8d  %s (%s@%s)%s", n, crd.GetName(), u.module, u.version, mark)
			}
		}
	}
	if measured == 0 {
		t.Skip("no upstream CRDs in the module cache")
	}
	sort.Strings(over)
	for _, want := range tooLarge {
		if !contains(over, want) && seen[want] {
			t.Errorf("%s no longer exceeds 256 KiB; update tooLarge and docs/platform.md", want)
		}
	}
	for _, got := range over {
		if !contains(tooLarge, got) {
			t.Errorf("%s exceeds 256 KiB but is not in tooLarge; update it and docs/platform.md", got)
		}
	}
}

// seen are the CRDs read, so that a module missing from the cache does
// not count as a CRD that shrank.
var seen = map[string]bool{}

func readCRDs(t *testing.T, file string) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var out []*unstructured.Unstructured
	for {
		m := map[string]any{}
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "CustomResourceDefinition" {
			seen[u.GetName()] = true
			out = append(out, u)
		}
	}
	return out
}

// escape is the module cache's case encoding: !x for an upper-case X.
func escape(module string) string {
	var b strings.Builder
	for _, r := range module {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}
