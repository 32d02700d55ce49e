package workspace

import (
	"io/fs"
	"testing"
)

// CorpusForTests returns the workspaces of the loader's tests, for the tests
// of other packages in this test binary.
func CorpusForTests(t testing.TB) (names []string, workspaces []fs.FS) {
	for _, w := range testWorkspaces(t) {
		names = append(names, w.name)
		workspaces = append(workspaces, w.fsys)
	}
	return names, workspaces
}
