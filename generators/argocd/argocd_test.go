package argocd

import (
	"testing"

	"github.com/dmls-project/dmls/internal/golden"
)

// TestTreeGolden pins the whole Argo CD tree of the fixture: every file and
// its bytes. Refresh with go test -update.
func TestTreeGolden(t *testing.T) {
	tree, err := Tree(fixtureInput(t))
	if err != nil {
		t.Fatal(err)
	}
	golden.CheckTree(t, "testdata/tree", tree)
}
