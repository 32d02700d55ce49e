package gitrev

import (
	"io/fs"
	"sync"
	"testing"
)

// TestTreeFSConcurrent reads one revision from many goroutines at once, as
// the workspace loader does; with -race, or by luck without it, an
// unguarded go-git tree fails here.
func TestTreeFSConcurrent(t *testing.T) {
	repo, err := Open("../..")
	if err != nil {
		t.Skipf("not in a git work tree: %v", err)
	}
	h, err := repo.Resolve("HEAD")
	if err != nil {
		t.Skip(err)
	}
	fsys, err := repo.FS(h)
	if err != nil {
		t.Skip(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := fs.WalkDir(fsys, "internal", func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if _, err = d.Info(); err != nil {
					return err
				}
				if d.IsDir() {
					// Open of a folder lists it too
					f, err := fsys.Open(p)
					if err != nil {
						return err
					}
					return f.Close()
				}
				_, err = fs.ReadFile(fsys, p)
				return err
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}
