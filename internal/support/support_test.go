package support

import (
	"strings"
	"testing"

	"github.com/dmls-project/dmls/internal/golden"
)

// TestGoldenSupportDoc holds docs/support.md to the matrix: the page is
// generated from it (make golden rewrites it).
func TestGoldenSupportDoc(t *testing.T) {
	golden.Check(t, "../../docs/support.md", []byte(Current.Markdown()))
}

func TestClusterVersion(t *testing.T) {
	for _, tc := range []struct {
		name, version        string
		wantErr, wantWarning string
	}{
		{name: "newest kops provisions", version: "1.33.13", wantWarning: "end of life on 2026-06-28"},
		{name: "too new for kops 1.33", version: "1.34.2", wantErr: "kops 1.33.1 provisions Kubernetes 1.33.x at most"},
		{name: "the validation code's own minor", version: "1.37.2", wantErr: "at most"},
		{name: "too old for kops", version: "1.26.15", wantErr: "1.27.x or newer"},
		{name: "oldest kops provisions", version: "1.27.16", wantWarning: "end of life on 2024-06-28"},
		{name: "not a release", version: "1.33", wantErr: "not a Kubernetes release"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := Current.ClusterVersion(tc.version)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(w, tc.wantWarning) {
				t.Errorf("warning %q, want %q", w, tc.wantWarning)
			}
		})
	}
	// A minor in support on the matrix's day has no warning.
	m := Current
	m.AsOf = "2026-01-01"
	if w, err := m.ClusterVersion("1.33.13"); err != nil || w != "" {
		t.Errorf("1.33 before its end of life: %q, %v", w, err)
	}
}
