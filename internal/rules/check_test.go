package rules

import (
	"strings"
	"testing"

	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/internal/spec"
)

// TestInstanceOnSpecData checks the contract of the split from the loader:
// the checks take spec data plus provenance, with no CUE and no files,
// and place each finding at the position the provenance gives, naming a
// value an override set by the override's own path.
func TestInstanceOnSpecData(t *testing.T) {
	long := strings.Repeat("a", 60)
	in := &spec.Instance{
		Env:       &spec.Environment{Name: "prod"},
		Namespace: "research-prod",
		Spec: &spec.AppSpec{Name: "mnist", Team: "research", Training: &spec.TrainingJob{
			Name:      long,
			Container: spec.Container{Image: "registry.example.com/t:1"},
			Replicas:  spec.Replicas{Worker: &spec.ReplicaSet{Replicas: 2}},
		}},
		Prov: provenance.Map{
			"training":      {File: "ws/apps/mnist/app.cue", Line: 3, Col: 1},
			"training.name": {File: "ws/apps/mnist/app.cue", Line: 9, Col: 10},
		},
		Origins: map[string]string{"training.name": "overrides.prod.training.name"},
	}
	d := Instance(&spec.Platform{Name: "p"}, in)
	var f *diag.Diagnostic
	for i := range d {
		if strings.Contains(d[i].Message, "TFJob name") {
			f = &d[i]
		}
	}
	if f == nil {
		t.Fatalf("no finding for a %d-character TFJob name: %v", len(long), d)
	}
	if f.Pos != (provenance.Pos{File: "ws/apps/mnist/app.cue", Line: 9, Col: 10}) {
		t.Errorf("placed at %v, want the training.name line", f.Pos)
	}
	if f.Path != "overrides.prod.training.name" {
		t.Errorf("path %q, want the override's own path", f.Path)
	}
	if f.IsWarning() {
		t.Errorf("severity %v, want an error", f.Severity)
	}

	in.Spec.Training.Name = "short"
	for _, f := range Instance(&spec.Platform{Name: "p"}, in) {
		if strings.Contains(f.Message, "TFJob name") {
			t.Errorf("a short name is refused: %v", f)
		}
	}
}
