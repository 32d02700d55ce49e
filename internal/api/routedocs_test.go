package api

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateRouteDocs = flag.Bool("update-route-docs", false, "rewrite "+RouteDocsFile+" from the route table")

// TestRouteDocsAreCurrent fails when docs/api-routes.md is not what
// RouteDocs writes from the route table (issue 20: the hand-copied list in
// doc.go lacked 5 of 25 routes). `make api-docs` rewrites it.
func TestRouteDocsAreCurrent(t *testing.T) {
	file := filepath.Join("..", "..", RouteDocsFile)
	want := RouteDocs()
	if *updateRouteDocs {
		if err := os.WriteFile(file, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v; run make api-docs", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is not current; run make api-docs", RouteDocsFile)
	}
	// Every route of the table is on the page.
	for _, rt := range (&Server{metrics: newMetrics(nil)}).routes() {
		if !strings.Contains(string(got), "| "+rt.method+" | `"+rt.path+"` |") {
			t.Errorf("%s %s is not on %s", rt.method, rt.path, RouteDocsFile)
		}
	}
}
