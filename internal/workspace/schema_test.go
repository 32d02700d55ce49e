package workspace

import (
	"errors"
	"testing"
	"testing/fstest"

	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/schema"
)

// TestCheckJSONAgreesWithLoad checks that Schema.CheckJSON, which the API
// runs on request bodies, reports a bad #TrainingJob as the loader reports
// the same value in a spec file: same path, same message.
func TestCheckJSONAgreesWithLoad(t *testing.T) {
	s, err := schema.NewSchema(schema.SchemaOptions{Omit: []string{"platform.cue", "environment.cue"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		training string
		wantPath string
	}{
		{"bound", `{"image": "registry.example.com/t:1", "replicas": {"worker": {"replicas": 0}}}`, "training.replicas.worker.replicas"},
		{"unknown field", `{"image": "registry.example.com/t:1", "imag": "x", "replicas": {"worker": {"replicas": 1}}}`, "training.imag"},
		{"pattern", `{"image": "Not An Image", "replicas": {"worker": {"replicas": 1}}}`, "training.image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"name": "mnist", "team": "research", "training": ` + tt.training + `}`
			got := s.CheckJSON("#App", "body.json", []byte(body))
			fsys := fstest.MapFS{
				"platform.cue":        {Data: []byte(testPlatform)},
				"overlays/dev.cue":    {Data: []byte(testDev)},
				"apps/mnist/app.json": {Data: []byte(body)},
			}
			_, err := Load(fsys, "ws", Options{})
			var want diag.List
			if !errors.As(err, &want) {
				t.Fatalf("Load: %v, want findings", err)
			}
			find := func(l diag.List) string {
				for _, d := range l {
					if d.Path == tt.wantPath {
						return d.Message
					}
				}
				return ""
			}
			if m := find(want); m == "" || m != find(got) {
				t.Errorf("CheckJSON %q, Load %q, want the same message at %s", got, want, tt.wantPath)
			}
			for _, d := range got {
				if d.Pos.File != "body.json" || d.Pos.Line == 0 {
					t.Errorf("finding %s is not placed in the body", d)
				}
			}
		})
	}
	if d := s.CheckJSON("#App", "body.json", []byte(`{"name":`)); len(d) == 0 {
		t.Error("CheckJSON accepts a body that is not JSON")
	}
}
