package workspace

import (
	"errors"
	"testing"

	"github.com/dmls-project/dmls/internal/diag"
)

// FuzzLoad feeds arbitrary app files, as CUE, YAML and JSON, through the
// whole loader. It must never panic, and every failure must be findings
// placed in a file.
func FuzzLoad(f *testing.F) {
	f.Add(testApp, uint8(0))
	f.Add("name: mnist\nteam: research\ntraining:\n  image: x:1\n  replicas: {worker: {replicas: 3}}\n", uint8(1))
	f.Add(`{"name": "mnist", "team": "research", "serving": {"image": "x:1", "traffic": {"canaryPercent": 10}}}`, uint8(2))
	f.Add("a: &a [1,2]\nb: [*a,*a]\n", uint8(1))
	f.Add("name: \"mnist\"\nteam: \"research\"\nserving: model: storageUri: \"pvc://m/../x\"\n", uint8(0))
	exts := []string{"app.cue", "app.yaml", "app.json"}
	f.Fuzz(func(t *testing.T, src string, ext uint8) {
		name := "apps/mnist/" + exts[int(ext)%len(exts)]
		fsys := fsWith(map[string]string{"apps/mnist/app.cue": "<delete>"})
		fsys[name] = mapFile(src)
		ws, err := Load(fsys, "ws", Options{Workers: 1})
		if err == nil {
			if ws.App(ws.Apps[0].Name) == nil {
				t.Fatalf("loaded app is not found by name")
			}
			return
		}
		var d diag.List
		if !errors.As(err, &d) {
			t.Fatalf("error is not findings: %v", err)
		}
		for _, x := range d {
			if !x.Pos.IsValid() {
				t.Fatalf("finding without a file: %s", x)
			}
		}
	})
}
