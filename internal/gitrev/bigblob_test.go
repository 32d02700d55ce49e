package gitrev_test

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/gitrev"
	"github.com/dmls-project/dmls/internal/gittest"
	"github.com/dmls-project/dmls/internal/workspace"
)

// TestBigBlobRefusedBeforeRead is issue 18, section 2: a 100 MB blob at
// `diff --base REF` cost 750 MB before the 1 MiB refusal. The loader
// checks a spec file's size from its FileInfo, which for a revision is
// the blob's size from its object header, and never reads the blob.
func TestBigBlobRefusedBeforeRead(t *testing.T) {
	const size = 48 << 20
	l := gittest.NewLocal(t, t.TempDir())
	l.Write(map[string]string{
		"platform.cue":     "name: \"p\"\nteams: research: {}\nrepos: \"k8s-config\": url: \"https://git.example.com/k8s.git\"\n",
		"overlays/dev.cue": "order: 0\nnamespaces: research: \"research-dev\"\n",
		"apps/big/app.cue": "name: \"big\"\n" + strings.Repeat(" ", size-12),
		"apps/ok/app.cue":  "name: \"ok\"\nteam: \"research\"\ntraining: {image: \"tensorflow/tensorflow:2.15.0\", replicas: worker: replicas: 1}\n",
	})
	l.Commit("a big blob")
	r, err := gitrev.Open(l.Dir)
	if err != nil {
		t.Fatal(err)
	}
	h, err := r.Resolve("HEAD")
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := r.FS(h)
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err = workspace.Load(fsys, "ws", workspace.Options{Workers: 1})
	runtime.ReadMemStats(&after)
	var d diag.List
	if !errors.As(err, &d) || len(d) != 1 {
		t.Fatalf("Load = %v, want one finding", err)
	}
	if got, want := d[0].String(), "ws/apps/big/app.cue:1:1: file is 50331648 bytes; spec files may be at most 1048576"; got != want {
		t.Errorf("finding:\n got %s\nwant %s", got, want)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/2 {
		t.Errorf("loading allocated %d MiB: the %d MiB blob was read before its size was checked", alloc>>20, size>>20)
	}
}
