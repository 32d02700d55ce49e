package preview_test

import (
	"testing"
	"testing/fstest"

	"github.com/dmls-project/dmls/internal/preview"
	"github.com/dmls-project/dmls/internal/synth"
)

// TestModelFromTrainingSummary: the preview of each step the release
// pipeline commits in prod, made through the real loader and generators,
// names the model change with its runs (issue 24, section 5).
func TestModelFromTrainingSummary(t *testing.T) {
	const (
		r6       = `model: run: 6`
		canary10 = `{model: run: 7, revision: "r7", traffic: {stable: "r6", canaryPercent: 10, tags: previous: "r6"}}`
		full     = `{model: run: 7, revision: "r7", traffic: tags: previous: "r6"}`
		rollback = `{model: run: 7, revision: "r7", traffic: {stable: "r6", canaryPercent: 0, tags: previous: "r6"}}`
	)
	tests := []struct{ name, base, head, want string }{
		{"canary", r6, canary10, "mnist/prod: serving model r6 → r7, canary 10%"},
		{"full rollout", canary10, full, "mnist/prod: serving model r6 → r7, all traffic"},
		{"rollback", canary10, rollback, "mnist/prod: serving model rolled back to r6 (r7 had 10%)"},
	}
	ws := func(prod string) fstest.MapFS {
		fsys := synth.Workspace(2)
		fsys["apps/mnist/app.cue"] = &fstest.MapFile{Data: []byte(synth.ReleaseApp("", "overrides: staging: serving: model: run: 7\noverrides: prod: serving: "+prod+"\n"))}
		return fsys
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := preview.Run(preview.Revision{FS: ws(tt.base), Rev: "base"}, preview.Revision{FS: ws(tt.head), Rev: "head"}, preview.Options{Root: "ws"})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Summary) != 1 || r.Summary[0].String() != tt.want {
				t.Errorf("summary %q, want %q", r.Summary, tt.want)
			}
		})
	}
}
