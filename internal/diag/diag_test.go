package diag

import (
	"testing"

	"github.com/dmls-project/dmls/internal/provenance"
)

func TestWarningsDoNotFail(t *testing.T) {
	pos := provenance.Pos{File: "apps/a/app.cue", Line: 3, Col: 5}
	var l List
	l.Warn(pos, "training.env.TOKEN", "looks like a secret")
	if err := l.Err(); err != nil {
		t.Fatalf("a list of warnings only is no error, got %v", err)
	}
	if l.HasErrors() {
		t.Fatal("HasErrors on warnings only")
	}
	l.Add(pos, "name", "bad name")
	err := l.Err()
	if err == nil {
		t.Fatal("an error finding must fail")
	}
	got := err.(List)
	if len(got) != 1 || got[0].Path != "name" {
		t.Fatalf("Err must hold the errors only, got %v", got)
	}
	if w := l.Warnings(); len(w) != 1 || w[0].Path != "training.env.TOKEN" {
		t.Fatalf("Warnings: got %v", w)
	}
}

func TestString(t *testing.T) {
	pos := provenance.Pos{File: "f.cue", Line: 1, Col: 2}
	tests := []struct {
		name string
		d    Diagnostic
		want string
	}{
		{"error", Diagnostic{Pos: pos, Path: "a", Message: "m"}, "f.cue:1:2: a: m"},
		{"warning with rule", Diagnostic{Pos: pos, Path: "a", Message: "m", Severity: SeverityWarning, Rule: "DMLS001"}, "f.cue:1:2: warning: a: m [DMLS001]"},
		{"error with rule, no path", Diagnostic{Pos: pos, Message: "m", Rule: "R"}, "f.cue:1:2: m [R]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.d.String(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
