package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"maps"
	"os"
	"path"
	"regexp"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"testing/fstest"

	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/memfs"
	"github.com/dmls-project/dmls/internal/parallel"
	"github.com/dmls-project/dmls/internal/workspace"
	"github.com/dmls-project/dmls/schemas"
)

// ErrUncacheable is returned by Read for a workspace the cache does not
// take on (a symlink, a folder name the loader refuses, ...): the caller
// runs without the cache, and the loader reports what is wrong.
var ErrUncacheable = errors.New("the workspace is not cacheable")

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// Snapshot holds the bytes of every spec file of a workspace, read once:
// the keys are computed from them and a cache miss is loaded from them, so
// that what is stored under a key is what the key was computed from, even
// if a file changes meanwhile.
type Snapshot struct {
	// Root names the workspace in findings, as for workspace.Load.
	Root string
	// Key is the workspace's own key: the dmls version (which covers the
	// embedded schemas), Root, and the platform and environment files.
	Key string
	// Apps are the app folders, sorted, each with its key: the
	// workspace's Key, the folder's name and its spec files.
	Apps []AppFiles
	// shared are the platform and environment files; apps the app files
	// by folder.
	shared fstest.MapFS
	apps   map[string]fstest.MapFS
	// fsys is the workspace itself, for the files the platform names
	// (workspace charts).
	fsys fs.FS
}

// AppFiles is one app folder of a Snapshot.
type AppFiles struct {
	Dir string
	Key string
}

// Read snapshots the workspace in fsys (see workspace.Load for root), with
// version identifying the dmls binary (see BinaryVersion). It reads the
// files the loader reads, and returns ErrUncacheable when the workspace
// has anything the loader would refuse or treat specially.
func Read(fsys fs.FS, root, version string) (*Snapshot, error) {
	s := &Snapshot{Root: root, shared: fstest.MapFS{}, apps: map[string]fstest.MapFS{}, fsys: fsys}
	top, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUncacheable, err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "dmls cache workspace v1\nversion %s\nroot %s\n", version, root)
	platforms := 0
	for _, e := range top {
		name := e.Name()
		isPlatform := layout.IsPlatformFile(name)
		if !isPlatform && name != layout.AppsDir && name != layout.OverlaysDir {
			continue
		}
		if e.Type()&fs.ModeSymlink != 0 || (isPlatform && !e.Type().IsRegular()) || (!isPlatform && !e.IsDir()) {
			return nil, fmt.Errorf("%w: %s", ErrUncacheable, name)
		}
		if isPlatform {
			platforms++
			if err := s.add(fsys, s.shared, name, h); err != nil {
				return nil, err
			}
		}
	}
	if platforms != 1 {
		return nil, fmt.Errorf("%w: %d platform specs", ErrUncacheable, platforms)
	}
	envs, err := specFiles(fsys, layout.OverlaysDir)
	if err != nil {
		return nil, err
	}
	if len(envs) == 0 {
		return nil, fmt.Errorf("%w: no environments", ErrUncacheable)
	}
	for _, f := range envs {
		if err := s.add(fsys, s.shared, f, h); err != nil {
			return nil, err
		}
	}
	s.Key = hex.EncodeToString(h.Sum(nil))
	entries, err := fs.ReadDir(fsys, layout.AppsDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %v", ErrUncacheable, err)
	}
	var dirs []string
	for _, e := range entries {
		dir := e.Name()
		if strings.HasPrefix(dir, ".") {
			continue
		}
		if e.Type()&fs.ModeSymlink != 0 || (e.IsDir() && !dnsLabel.MatchString(dir)) || len(dir) > 63 {
			return nil, fmt.Errorf("%w: app folder %s", ErrUncacheable, dir)
		}
		if e.IsDir() {
			dirs = append(dirs, dir)
		}
	}
	// The apps' files in parallel: reading them waits on system calls.
	apps := make([]fstest.MapFS, len(dirs))
	s.Apps = make([]AppFiles, len(dirs))
	errs := make([]error, len(dirs))
	parallel.For(len(dirs), 4, func(i int) {
		dir := dirs[i]
		rel := path.Join(layout.AppsDir, dir)
		files, err := specFiles(fsys, rel)
		if err != nil {
			errs[i] = err
			return
		}
		if len(files) == 0 {
			errs[i] = fmt.Errorf("%w: no spec files in %s", ErrUncacheable, rel)
			return
		}
		ah := sha256.New()
		fmt.Fprintf(ah, "dmls cache app v1\nworkspace %s\napp %s\n", s.Key, dir)
		m := fstest.MapFS{}
		for _, f := range files {
			if err := s.add(fsys, m, f, ah); err != nil {
				errs[i] = err
				return
			}
		}
		apps[i] = m
		s.Apps[i] = AppFiles{Dir: dir, Key: hex.EncodeToString(ah.Sum(nil))}
	})
	for i, err := range errs {
		if err != nil {
			return nil, err
		}
		s.apps[dirs[i]] = apps[i]
	}
	sort.Slice(s.Apps, func(i, j int) bool { return s.Apps[i].Dir < s.Apps[j].Dir })
	return s, nil
}

// add reads rel into m and the digest h.
func (s *Snapshot) add(fsys fs.FS, m fstest.MapFS, rel string, h hash.Hash) error {
	b, err := workspace.ReadSpecFile(fsys, rel)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrUncacheable, rel, err)
	}
	fmt.Fprintf(h, "file %s %d\n", rel, len(b))
	h.Write(b)
	m[rel] = &fstest.MapFile{Data: b, Mode: 0o644}
	return nil
}

// specFiles lists the spec files of dir as the loader does
// (layout.SpecFiles); one the loader refuses (a symlink, a special file)
// makes the workspace uncacheable, so that the loader reports it.
func specFiles(fsys fs.FS, dir string) ([]string, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, nil
	}
	files, refused := layout.SpecFiles(dir, entries)
	if len(refused) > 0 {
		rel := slices.Sorted(maps.Keys(refused))[0]
		what := "not a regular file"
		if refused[rel]&fs.ModeSymlink != 0 {
			what = "a symlink"
		}
		return nil, fmt.Errorf("%w: %s is %s", ErrUncacheable, rel, what)
	}
	return files, nil
}

// FS is the snapshot's workspace with only the app folders dirs: the spec
// files (platform, environments, apps) as they were read, anything else
// (the charts the platform names) from the workspace itself.
func (s *Snapshot) FS(dirs []string) fs.FS {
	m := map[string][]byte{}
	for k, v := range s.shared {
		m[k] = v.Data
	}
	for _, d := range dirs {
		for k, v := range s.apps[d] {
			m[k] = v.Data
		}
	}
	return memfs.Over(m, s.fsys, isSpec)
}

// isSpec reports whether name is one of the files the snapshot holds.
func isSpec(name string) bool {
	top, _, _ := strings.Cut(name, "/")
	return top == layout.AppsDir || top == layout.OverlaysDir ||
		(name == top && layout.IsPlatformFile(name))
}

// HashFiles adds the files at the workspace paths (a folder's files, or a
// file) to h, for keys of results that depend on files the platform names.
func (s *Snapshot) HashFiles(h hash.Hash, paths []string) {
	for _, p := range paths {
		fmt.Fprintf(h, "path %s\n", p)
		_ = fs.WalkDir(s.fsys, p, func(q string, d fs.DirEntry, err error) error {
			if err != nil {
				fmt.Fprintf(h, "error %s %v\n", q, err)
				return nil
			}
			if d.IsDir() {
				return nil
			}
			b, err := fs.ReadFile(s.fsys, q)
			fmt.Fprintf(h, "file %s %d %v\n", q, len(b), err)
			h.Write(b)
			return nil
		})
	}
}

// BinaryVersion identifies the running dmls binary for cache keys: the
// version it was built as (release, the module's build information with
// its VCS revision and every dependency), the executable file itself (its
// size and modification time, so that any rebuild counts as a new
// version) and the digest of the embedded schemas.
func BinaryVersion(release string) string {
	info := "no build info"
	if bi, ok := debug.ReadBuildInfo(); ok {
		info = bi.String()
	}
	exe := "no executable"
	if p, err := os.Executable(); err == nil {
		if st, err := os.Stat(p); err == nil {
			exe = fmt.Sprintf("%s %d %d", p, st.Size(), st.ModTime().UnixNano())
		}
	}
	return versionOf(release, info, exe, schemas.FS)
}

// versionOf hashes the parts of BinaryVersion.
func versionOf(release, info, exe string, schemaFS fs.FS) string {
	h := sha256.New()
	fmt.Fprintf(h, "release %s\nbuild %s\nexe %s\n", release, info, exe)
	_ = fs.WalkDir(schemaFS, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := fs.ReadFile(schemaFS, p)
			fmt.Fprintf(h, "schema %s %d\n", p, len(b))
			h.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))
}
