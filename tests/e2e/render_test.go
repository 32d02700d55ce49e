//go:build e2e

package e2e

import (
	"context"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/cli"
	"github.com/dmls-project/dmls/internal/workspace"
)

// renderedObjects loads the workspace at dir of fsys, builds it and
// renders it as `dmls render --platform` does, and returns every object
// of every environment, platform files (team namespaces) first within
// each environment, with the file each came from.
func renderedObjects(t *testing.T, fsys fs.FS, dir string) (objs []*unstructured.Unstructured, files []string) {
	t.Helper()
	ws, err := workspace.Load(fsys, dir, workspace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := build.Workspace(ws, build.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rendered, err := cli.Render(ws, res, cli.RenderOptions{Platform: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range slices.Sorted(maps.Keys(rendered)) {
		for _, doc := range strings.Split(string(rendered[name]), "\n---\n") {
			var m map[string]any
			if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if len(m) > 0 {
				objs = append(objs, &unstructured.Unstructured{Object: m})
				files = append(files, name)
			}
		}
	}
	return objs, files
}

// TestDryRunRenderedExample server-side dry-runs every object that
// `dmls render` produces for every environment of the example workspace
// against the real API server with the upstream CRDs (issue 5, step 4).
func TestDryRunRenderedExample(t *testing.T) {
	c := connect(t)
	objs, _ := renderedObjects(t, os.DirFS("../.."), ".")
	if len(objs) < 12 {
		t.Fatalf("rendered only %d objects", len(objs))
	}
	// The components' namespaces are made by their Applications.
	ensureNamespaces(t, c, objs)
	if err := c.DryRunAll(context.Background(), objs); err != nil {
		t.Fatalf("the API server rejects rendered objects:\n%v", err)
	}
	t.Logf("%d rendered objects pass a server-side dry run", len(objs))
}

// TestDryRunKops server-side dry-runs the example's kops Cluster and
// InstanceGroups against kops's own CRDs (k8s.io/kops v1.33.1, k8s/crds),
// in the default namespace. They are never applied: kops keeps them in its
// S3 state store, and no kops controller runs here (issue 9).
func TestDryRunKops(t *testing.T) {
	c := connect(t)
	ws, err := workspace.Load(os.DirFS("../.."), ".", workspace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tree, err := build.Infra(ws.Platform)
	if err != nil {
		t.Fatal(err)
	}
	var objs []*unstructured.Unstructured
	for _, name := range slices.Sorted(maps.Keys(tree)) {
		var m map[string]any
		if err := yaml.Unmarshal(tree[name], &m); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		u := &unstructured.Unstructured{Object: m}
		u.SetNamespace("default")
		objs = append(objs, u)
	}
	if len(objs) < 5 {
		t.Fatalf("only %d kops objects", len(objs))
	}
	if err := c.DryRunAll(context.Background(), objs); err != nil {
		t.Fatalf("the API server rejects the kops objects:\n%v", err)
	}
	t.Logf("%d kops objects pass a server-side dry run against the kops CRDs", len(objs))
}
