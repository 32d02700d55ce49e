package workspace

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/dmls-project/dmls/internal/diag"
)

// TestConflictBetweenFiles checks that two files of one app that set one
// field to different values read as a conflict naming both places, not as
// a value outside an enum ("8 is not one of 1, 3", as it once read).
func TestConflictBetweenFiles(t *testing.T) {
	fsys := fstest.MapFS{
		"platform.cue":        {Data: []byte(testPlatform)},
		"overlays/dev.cue":    {Data: []byte(testDev)},
		"apps/mnist/app.cue":  {Data: []byte(strings.Replace(testApp, "overrides: prod:", "overrides: dev:", 1))},
		"apps/mnist/more.cue": {Data: []byte("overrides: dev: training: replicas: worker: replicas: 3\n")},
	}
	_, err := Load(fsys, "ws", Options{})
	var d diag.List
	if !errors.As(err, &d) || len(d) != 1 {
		t.Fatalf("Load: %v, want one finding", err)
	}
	f := d[0]
	if f.Path != "overrides.dev.training.replicas.worker.replicas" {
		t.Errorf("path %q", f.Path)
	}
	for _, want := range []string{"conflicting values", "ws/apps/mnist/more.cue:1:55", "ws/apps/mnist/app.cue:12:55", "set the field in one of them"} {
		if !strings.Contains(f.Message, want) {
			t.Errorf("message lacks %q: %s", want, f.Message)
		}
	}
	if strings.Contains(f.Message, "not one of") {
		t.Errorf("a conflict reads as an enum: %s", f.Message)
	}
}
