//go:build e2e

package e2e

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestDryRunExternalSecrets server-side dry-runs everything rendered from
// a workspace with app and platform secrets against the upstream
// ExternalSecret CRD (external-secrets v1.3.2, serving v1), and
// checks that the CRD's schema really judges them (issue 8).
func TestDryRunExternalSecrets(t *testing.T) {
	c := connect(t)
	objs, files := renderedObjects(t, os.DirFS("../../internal/build/testdata/secrets"), "secrets")
	var es *unstructured.Unstructured
	kinds := map[string]int{}
	for i, u := range objs {
		if u.GetKind() == "Secret" && u.GroupVersionKind().Group == "" {
			t.Errorf("%s holds a plain Secret %s", files[i], u.GetName())
		}
		if u.GetKind() == "ExternalSecret" && es == nil {
			es = u.DeepCopy()
		}
		kinds[u.GetKind()]++
	}
	// 3 environments: mnist's 2 ExternalSecrets each, the platform's
	// registry secret in both team namespaces.
	if kinds["ExternalSecret"] != 3*2+3*2 {
		t.Fatalf("rendered %d ExternalSecrets, want 12 (kinds %v)", kinds["ExternalSecret"], kinds)
	}
	if err := c.DryRunAll(context.Background(), objs); err != nil {
		t.Fatalf("the API server rejects rendered objects:\n%v", err)
	}
	t.Logf("%d rendered objects (%v) pass a server-side dry run", len(objs), kinds)

	// The CRD's schema is in force: a bad store kind is refused.
	bad := es.DeepCopy()
	bad.SetName("bad-store-kind")
	if err := unstructured.SetNestedField(bad.Object, "Vault", "spec", "secretStoreRef", "kind"); err != nil {
		t.Fatal(err)
	}
	err := c.DryRunAll(context.Background(), []*unstructured.Unstructured{bad})
	var dre *DryRunError
	if !errors.As(err, &dre) || !strings.Contains(err.Error(), "secretStoreRef.kind") {
		t.Fatalf("DryRunAll(ExternalSecret with store kind Vault) = %v, want a rejection naming secretStoreRef.kind", err)
	}
}
