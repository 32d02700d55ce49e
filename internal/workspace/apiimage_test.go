package workspace

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/dmls-project/dmls/internal/diag"
)

// TestAPIImageDefault checks that a platform's api.image defaults to the
// image of the dmls release that loads it, and that a development build,
// which has no image of its own, asks for it at the api line.
func TestAPIImageDefault(t *testing.T) {
	platform := testPlatform + `repos: "ml-model": url: "https://git.example.com/ml.git"
api: replicas: 1
`
	fsys := fstest.MapFS{
		"platform.cue":       {Data: []byte(platform)},
		"overlays/dev.cue":   {Data: []byte(testDev)},
		"overlays/prod.cue":  {Data: []byte(testProd)},
		"apps/mnist/app.cue": {Data: []byte(testApp)},
	}
	restore := SetVersion("v1.4.0")
	ws, err := Load(fsys, "ws", Options{})
	restore()
	if err != nil {
		t.Fatal(err)
	}
	if got := ws.Platform.API.Image; got != "ghcr.io/dmls-project/dmls:v1.4.0" {
		t.Errorf("api.image = %q, want the release's image", got)
	}

	defer SetVersion("(devel)")()
	_, err = Load(fsys, "ws", Options{})
	var d diag.List
	if !errors.As(err, &d) || len(d) != 1 {
		t.Fatalf("Load: %v, want one finding", err)
	}
	if f := d[0]; f.Path != "api.image" || f.Pos.File != "ws/platform.cue" || !strings.Contains(f.Message, "this dmls (version (devel)) is not a release; set api.image") {
		t.Errorf("finding: %v", f)
	}
}
