package catalog

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/dmls-project/dmls/internal/golden"
	"github.com/dmls-project/dmls/internal/synth"
)

// releaseState: dev serves r8, staging r7 with r8 as a canary at 10%,
// prod r6 after r7 was rolled back there (and rejected).
const releaseState = `	rejected: [7]
	state: {
		dev: {step: "full", run: 8, at: "2026-12-01T10:00:00Z", serving: "run=8 revision=r8 stable= percent="}
		staging: {step: "canary", run: 8, at: "2026-12-01T11:00:00Z", serving: "run=8 revision=r8 stable=r7 percent=10"}
		prod: {step: "rollback", run: 7, at: "2026-12-01T09:00:00Z", serving: "run=7 revision=r7 stable=r6 percent=0"}
	}
`

const releaseOverrides = `overrides: dev: serving: model: run: 8
overrides: staging: serving: {model: run: 8, revision: "r8", traffic: {stable: "r7", canaryPercent: 10}}
overrides: prod: serving: {model: run: 7, revision: "r7", traffic: {stable: "r6", canaryPercent: 0}}
`

// TestReleaseGolden: the page of an app that serves a model from training
// says which run serves in each environment, the canary under way and
// the release's last step there (issue 24, section 5); the team's index
// lists it as training and serving although its base does neither (only
// dev trains, and the runs are set per environment).
func TestReleaseGolden(t *testing.T) {
	fsys := synth.Workspace(0)
	fsys["apps/mnist/app.cue"] = &fstest.MapFile{Data: []byte(synth.ReleaseApp(releaseState, releaseOverrides))}
	in := inputOf(t, fsys, "ws", nil)
	tree := Tree(in)
	page := tree["catalog/t/mnist.md"]
	golden.Check(t, "testdata/release/mnist.md", page)
	for _, want := range []string{"| staging | r7 | r8 at 10% | canary r8 on 2026-12-01T11:00:00Z |", "| prod | r6 | — |", "Rejected runs: r7."} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the page has no %q:\n%s", want, page)
		}
	}
	if idx := string(tree["catalog/t/README.md"]); !strings.Contains(idx, "| [mnist](mnist.md) | yes | yes | dev, staging, prod |") {
		t.Errorf("the team's index:\n%s", idx)
	}
}
