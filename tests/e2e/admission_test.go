//go:build e2e

package e2e

import (
	"context"
	"testing"

	"github.com/dmls-project/dmls/internal/admission"
	"github.com/dmls-project/dmls/internal/admission/corpus"
)

// TestOfflineValidationAgreesWithTheCluster submits every object of the
// admission corpus to the real API server as a server-side dry run, with
// strict field validation, and requires the same verdict as dmls's offline
// checks: both accept the valid objects and both refuse the broken ones
// (issue 11). TestDryRunRenderedExample covers what dmls generates.
func TestOfflineValidationAgreesWithTheCluster(t *testing.T) {
	c := connect(t)
	schemas, err := admission.Default()
	if err != nil {
		t.Fatal(err)
	}
	cases, err := corpus.Load("../../internal/admission/testdata/corpus")
	if err != nil {
		t.Fatal(err)
	}
	ns := newNamespace(t, c, "corpus")
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			obj := tc.Obj.DeepCopy()
			if obj.GetKind() != "Namespace" {
				obj.SetNamespace(ns)
			}
			offline := schemas.Check(obj)
			server := c.dryRun(ctx, obj)
			if (len(offline) == 0) != tc.Valid() {
				t.Errorf("dmls: want valid=%v, got %v", tc.Valid(), offline)
			}
			if (server == nil) != tc.Valid() {
				t.Errorf("API server: want valid=%v, got %v", tc.Valid(), server)
			}
			if server != nil {
				t.Logf("API server: %v", server)
			}
		})
	}
}
