// Package outdir writes a generated file tree into a folder all at once,
// replacing only a folder that dmls made: a failed or refused write leaves
// everything as it was.
//
// # Replacing a folder
//
// The new content is written into a temporary sibling folder, which is
// then renamed into place; the old folder goes after the rename. A reader
// sees the old folder whole or the new one whole, never a mix, even when
// a single file changed: that is why an unchanged file is not simply left
// where it is and the changed ones renamed over theirs (a reader between
// two such renames would see one app new and the platform files old, and
// a failure between them would leave that mix behind).
//
// What makes this cheap is that an unchanged file is not written again:
// it is hard-linked from the old folder into the new one (adopt). After
// one app's change of 1,000 apps × 3 environments, that is 3,000 links of
// 3,003 files, at 15-20 ms, where writing them costs this machine's ext4
// 0.2-0.5 s.
//
// # The manifest
//
// Beside the Marker, every output holds a Manifest: each file's path,
// SHA-256, size, inode and modification time, and a CRC-32C of the whole
// (a short, long or altered manifest is ignored). It lets a caller that
// knows the digest of a file it would write, but not its bytes, keep the
// old file (Stream.Keep): a warm render then reads neither its cache
// entries nor the old files.
//
// The manifest's word stands for a file's bytes only when the file's
// inode, size and modification time are the ones it recorded, and that
// time is before the manifest's own (written after every file): an edit
// in place changes the time, a replacement the inode, and a removal or
// an addition the names. A file touched in the same clock tick as the
// manifest (racy, as git calls it) is read and compared, and so is every
// file of a folder without a sound manifest. What this trusts, as make
// and rsync do, is that a change of a file's bytes changes its time:
// someone who edits a file and then sets its time back to the very
// nanosecond, keeping its size and inode, can make dmls keep the edit;
// delete the folder (or the manifest) to be sure. The files are linked
// first and then checked by the inode they link, so a file swapped in
// between is never taken for the one checked.
//
// A file the user added by hand is not in the new content, and goes with
// the old folder, as it always did: the marker says the folder is
// replaced as a whole. Folders without the marker are never touched.
//
// Measured on this project's 2-core machine (1,000 apps × 3
// environments, one app changed, under other helpers' load): keeping the
// 2,997 unchanged files costs 15-25 ms of CPU (a linkat and an fstatat
// each, by open folder handles: resolving each path through os.Root was
// 37 ms), and removing the old folder 10-15 ms, in parallel by top
// folder.
package outdir

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/internal/layout"
)

// Marker is the file that marks a folder as dmls's output. Write puts it in
// every folder it writes and replaces no other non-empty folder.
const Marker = ".dmls-output"

// markerText is the marker's content; a folder whose marker says anything
// else is not taken for dmls's.
var markerText = []byte("This folder was written by dmls (render or generate --out) and is replaced by it as a whole.\n")

// access(2) modes.
const (
	accessX = 1
	accessW = 2
	accessR = 4
)

// ErrRefused is wrapped by every refusal to write: the target is not
// dmls's to replace, or it holds or sits in what must be kept.
var ErrRefused = errors.New("refusing to replace")

// Options say what Write must keep whatever dir is.
type Options struct {
	// Workspace is the workspace folder. dir may not be it, hold it, or
	// hold its git work tree; inside it dir may not be in a folder dmls
	// reads (apps/, overlays/) or in .git.
	Workspace string
}

// Write replaces dir with exactly the files of tree, plus the marker. dir
// must not exist, be an empty folder, or be a folder that carries the
// marker; anything else, and any dir that holds the workspace, its git work
// tree or the current folder, is refused with an error wrapping ErrRefused,
// and nothing is touched.
//
// The files go into a temporary sibling folder through os.Root, so that no
// path of tree can leave it, which is then renamed into place. The old
// output is removed after the rename; if that fails, Write reports it.
func Write(dir string, tree generators.Tree, opts Options) error {
	for p := range tree {
		if err := checkName(p); err != nil {
			return err
		}
	}
	s, err := Create(dir, opts)
	if err != nil {
		return err
	}
	for _, p := range slices.Sorted(maps.Keys(tree)) {
		if err := s.Add(p, tree[p]); err != nil {
			s.Abort()
			return err
		}
	}
	return s.Commit()
}

// Stream writes an output folder file by file, so that the files need
// not all be in memory at once, with Write's guarantees: the files go to
// a temporary sibling folder, and only Commit puts it in place of dir.
// Add may be called from several goroutines, and writes in parallel.
type Stream struct {
	dir, abs, tmp string
	exists        bool
	root          *os.Root
	// parent is the folder that holds dir and the temporary folder, when
	// dir exists: an old file that has the new bytes is linked into the
	// new content rather than written again (see adopt).
	parent *os.Root
	// old is the old output's manifest, nil without a sound one; oldTime
	// is when it was written (see adopt).
	old     manifest
	oldTime int64
	mu      sync.Mutex
	seen    map[string]bool
	// kept are the files Keep put in place; files is the manifest of the
	// new content.
	kept  map[string]bool
	files manifest
	dirs  map[string]*folder
	made  map[string]bool
	done  bool
}

// Create checks dir as Write does and starts writing its new content.
// Commit or Abort the stream.
func Create(dir string, opts Options) (*Stream, error) {
	if dir == "" {
		return nil, fmt.Errorf("%w: the output folder is empty", ErrRefused)
	}
	// The parent's symlinks are resolved, dir's own is not: a symlink
	// is refused, not followed.
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("output %s: %w", dir, err)
	}
	if parent, err := resolve(filepath.Dir(abs)); err != nil {
		return nil, fmt.Errorf("output %s: %w", dir, err)
	} else if abs != filepath.Dir(abs) {
		abs = filepath.Join(parent, filepath.Base(abs))
	}
	if err := checkPlace(dir, abs, opts); err != nil {
		return nil, err
	}
	exists, err := checkOwned(dir, abs)
	if err != nil {
		return nil, err
	}
	parent := filepath.Dir(abs)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", filepath.Dir(dir), err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(abs)+".tmp-")
	if err != nil {
		return nil, fmt.Errorf("create temporary folder: %w", err)
	}
	s := &Stream{dir: dir, abs: abs, tmp: tmp, exists: exists, seen: map[string]bool{}, kept: map[string]bool{}, files: manifest{},
		dirs: map[string]*folder{}, made: map[string]bool{}}
	if err := os.Chmod(tmp, 0o755); err != nil {
		s.Abort()
		return nil, err
	}
	if s.root, err = os.OpenRoot(tmp); err != nil {
		s.Abort()
		return nil, err
	}
	if exists {
		if s.parent, err = os.OpenRoot(parent); err == nil { // no file kept without it
			s.old, s.oldTime = readManifest(s.parent, path.Join(filepath.Base(abs), Manifest))
		}
	}
	return s, nil
}

// Replacing reports whether the stream replaces a folder that exists,
// whose files Keep may then keep.
func (s *Stream) Replacing() bool { return s.exists }

// Abs is the absolute path of the folder the stream replaces.
func (s *Stream) Abs() string { return s.abs }

// Add writes the file p (a clean, relative, slash-separated path) of the
// new content, or links the old output's file p if it holds b (see
// adopt). A file that Keep put in place is replaced unless it holds b.
func (s *Stream) Add(p string, b []byte) error {
	if err := checkName(p); err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return fmt.Errorf("write %s: the output is closed", p)
	}
	replace := false
	if s.kept[p] {
		if s.files[p].sum == sum {
			s.mu.Unlock()
			return nil
		}
		delete(s.kept, p)
		replace = true
	} else if s.seen[p] {
		s.mu.Unlock()
		return fmt.Errorf("write %s: written twice", p)
	}
	s.seen[p] = true
	f, name, err := s.folder(p)
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	defer f.release()
	if replace {
		// The kept file is a link to the old output's: remove it, never
		// write through it.
		if err := unix.Unlinkat(f.fd(), name, 0); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	} else if rec, ok := s.adopt(f, name, p, sum, b); ok {
		s.record(p, rec)
		return nil
	}
	rec, err := f.write(name, b, sum)
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	s.record(p, rec)
	return nil
}

// Keep puts the old output's file p into the new content, without its
// bytes, when the old output's manifest lists it with the SHA-256 digest
// sum and it still holds those bytes (see adopt), and reports whether it
// did. When it did not, Add the file. A kept file may be Added again: it
// is then replaced unless it holds the bytes given.
func (s *Stream) Keep(p string, sum [sha256.Size]byte) bool {
	if !s.exists || checkName(p) != nil {
		return false
	}
	s.mu.Lock()
	if s.done || s.seen[p] {
		s.mu.Unlock()
		return false
	}
	s.seen[p] = true
	f, name, err := s.folder(p)
	s.mu.Unlock()
	var rec record
	ok := false
	if err == nil {
		rec, ok = s.adopt(f, name, p, sum, nil)
		f.release()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !ok {
		delete(s.seen, p)
		return false
	}
	s.kept[p] = true
	s.files[p] = rec
	return true
}

// record notes the file p of the new content for its manifest.
func (s *Stream) record(p string, rec record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[p] = rec
}

// adopt links the old output's file p, name in folder f, into the new
// content when it holds the bytes of digest sum (b, when not nil), and
// returns its record for the new manifest: after a change of one app most
// files are the same, and creating 3,000 small files costs this machine's
// ext4 0.2-0.5 s where linking them costs 15-20 ms.
//
// It links first and then checks the inode it linked, so that a file
// replaced in between (by the user, or by another dmls committing the
// same folder) is never taken for the one checked. Only a plain file with
// the mode Add gives and no other name than the old one is taken. When
// the old output has a manifest, only a file it lists with digest sum is
// taken, and the manifest's word stands for the bytes when the file's
// inode, size and modification time are the ones it recorded and that
// time is before the manifest was written: any write since changes the
// modification time. A file written in the same clock tick as the
// manifest (racy, as git calls it: a write in that tick may leave the
// time as it was) is read and compared, as is every file of an old output
// without a sound manifest.
func (s *Stream) adopt(f *folder, name, p string, sum [sha256.Size]byte, b []byte) (record, bool) {
	if f.old == nil {
		return record{}, false
	}
	m, listed := s.old[p]
	if s.old != nil && (!listed || m.sum != sum) {
		return record{}, false
	}
	if unix.Linkat(int(f.old.Fd()), name, f.fd(), name, 0) != nil {
		return record{}, false
	}
	rec, ok := record{}, false
	var st unix.Stat_t
	if unix.Fstatat(f.fd(), name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
		rec, ok = recordOf(&st, sum, 2)
	}
	if ok && !(listed && rec == m && m.mtime < s.oldTime) {
		got, err := f.read(name)
		if b != nil {
			ok = err == nil && bytes.Equal(got, b)
		} else {
			ok = err == nil && sha256.Sum256(got) == sum
		}
	}
	if !ok {
		unix.Unlinkat(f.fd(), name, 0)
		return record{}, false
	}
	return rec, true
}

// maxOpenDirs bounds the folders a stream keeps open, two descriptors
// each: generate writes a few folders per app, and 5,000 apps ran out of
// file descriptors.
const maxOpenDirs = 64

// folder is a folder of the new content, open, with the folder of the
// same path in the old output (nil when there is none): files are
// written, linked and checked by their names in them (one path element),
// so that no path is resolved again for each file.
type folder struct {
	dir, old *os.File
	// transient folders, beyond maxOpenDirs, are closed after one use.
	transient bool
}

func (f *folder) fd() int { return int(f.dir.Fd()) }

// release closes a transient folder.
func (f *folder) release() {
	if f.transient {
		f.close()
	}
}

func (f *folder) close() {
	f.dir.Close()
	if f.old != nil {
		f.old.Close()
	}
}

// write writes b, of digest sum, to the new file name and returns its
// record.
func (f *folder) write(name string, b []byte, sum [sha256.Size]byte) (record, error) {
	fd, err := unix.Openat(f.fd(), name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return record{}, err
	}
	file := os.NewFile(uintptr(fd), name)
	_, err = file.Write(b)
	var st unix.Stat_t
	if err == nil {
		err = unix.Fstat(fd, &st)
	}
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return record{}, err
	}
	rec, _ := recordOf(&st, sum, 1)
	return rec, nil
}

// read reads the file name of the new content.
func (f *folder) read(name string) ([]byte, error) {
	fd, err := unix.Openat(f.fd(), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	file := os.NewFile(uintptr(fd), name)
	defer file.Close()
	return io.ReadAll(file)
}

// folder returns the folder of the file p of the new content, made if
// need be, and p's name in it; beyond maxOpenDirs open folders, a
// transient one. s.mu is held.
func (s *Stream) folder(p string) (*folder, string, error) {
	d, name := path.Split(p)
	d = strings.TrimSuffix(d, "/")
	if f, ok := s.dirs[d]; ok {
		return f, name, nil
	}
	if d != "" && !s.made[d] {
		if err := s.root.MkdirAll(d, 0o755); err != nil {
			return nil, "", err
		}
		s.made[d] = true
	}
	od := "."
	if d != "" {
		od = d
	}
	dir, err := s.root.Open(od)
	if err != nil {
		return nil, "", err
	}
	f := &folder{dir: dir, old: s.openOld(d), transient: len(s.dirs) >= maxOpenDirs}
	if !f.transient {
		s.dirs[d] = f
	}
	return f, name, nil
}

// openOld opens the old output's folder d ("" for the top), if it is one:
// a symlink is not followed.
func (s *Stream) openOld(d string) *os.File {
	if s.parent == nil {
		return nil
	}
	p := path.Join(filepath.Base(s.abs), d)
	st, err := s.parent.Lstat(p)
	if err != nil || !st.IsDir() {
		return nil
	}
	f, err := s.parent.Open(p)
	if err != nil {
		return nil
	}
	if st2, err := f.Stat(); err != nil || !os.SameFile(st, st2) {
		f.Close()
		return nil
	}
	return f
}

// closeDirs closes the folders folder opened. s.mu is held.
func (s *Stream) closeDirs() {
	for d, f := range s.dirs {
		f.close()
		delete(s.dirs, d)
	}
}

// Abort removes what the stream wrote; dir stays as it was.
func (s *Stream) Abort() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return
	}
	s.done = true
	s.closeDirs()
	if s.root != nil {
		s.root.Close()
	}
	if s.parent != nil {
		s.parent.Close()
	}
	os.RemoveAll(s.tmp)
}

// Commit writes the marker and puts the new content in place of dir. The
// old output is removed after the rename; if that fails, Commit reports
// it.
func (s *Stream) Commit() error {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return fmt.Errorf("write %s: the output is closed", s.dir)
	}
	// The manifest after every file, so that its time is after theirs
	// (see adopt).
	err := s.root.WriteFile(Manifest, s.files.encode(), 0o644)
	if err == nil {
		err = s.root.WriteFile(Marker, markerText, 0o644)
	}
	s.mu.Unlock()
	if err != nil {
		s.Abort()
		return fmt.Errorf("write %s: %w", s.dir, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
	s.closeDirs()
	s.root.Close()
	if s.parent != nil {
		s.parent.Close()
	}
	committed := false
	defer func() {
		if !committed {
			os.RemoveAll(s.tmp)
		}
	}()
	dir, abs, tmp := s.dir, s.abs, s.tmp
	if !s.exists {
		if err := os.Rename(tmp, abs); err != nil {
			return fmt.Errorf("write %s: %w", dir, err)
		}
		committed = true
		return nil
	}
	old := tmp + ".old"
	if err := os.Rename(abs, old); err != nil {
		return fmt.Errorf("replace %s: %w", dir, err)
	}
	if err := os.Rename(tmp, abs); err != nil {
		if rerr := os.Rename(old, abs); rerr != nil {
			return fmt.Errorf("replace %s: %w; the old output is at %s", dir, err, old)
		}
		return fmt.Errorf("replace %s: %w", dir, err)
	}
	committed = true
	if err := removeTree(old); err != nil {
		return fmt.Errorf("wrote %s, but could not remove the old output at %s: %w", dir, old, err)
	}
	return nil
}

// removeTree removes dir as os.RemoveAll does, its top folders in
// parallel: they are as many folders whose files go one by one (3,000 of
// them cost 10-15 ms).
func removeTree(dir string) error {
	if entries, err := os.ReadDir(dir); err == nil {
		errs := make([]error, len(entries))
		var wg sync.WaitGroup
		for i, e := range entries {
			if e.IsDir() {
				wg.Go(func() { errs[i] = os.RemoveAll(filepath.Join(dir, e.Name())) })
			}
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
	return os.RemoveAll(dir)
}

// checkName refuses a path that is not clean and relative, and the marker.
func checkName(p string) error {
	if err := checkPath(p); err != nil {
		return err
	}
	if p == Marker || p == Manifest {
		return fmt.Errorf("refusing to write %q: the name is dmls's own (output marker or manifest)", p)
	}
	return nil
}

// InGitDir reports whether the absolute path abs is a .git folder or in
// one: git's own files, where nothing of dmls's may be written.
func InGitDir(abs string) bool {
	for _, el := range strings.Split(filepath.ToSlash(abs), "/") {
		if el == ".git" {
			return true
		}
	}
	return false
}

// Resolve returns the absolute path of p with the symlinks of its existing
// part resolved, as the checks of output folders see it.
func Resolve(p string) (string, error) { return resolve(p) }

// checkPlace refuses a dir that holds the workspace, its git work tree or
// the current folder, or that sits in .git or in a folder of the
// workspace that dmls reads.
func checkPlace(dir, abs string, opts Options) error {
	type keep struct{ path, what string }
	var keeps []keep
	if cwd, err := os.Getwd(); err == nil {
		if c, err := resolve(cwd); err == nil {
			keeps = append(keeps, keep{c, "the current folder"})
			if top := workTree(c); top != "" {
				keeps = append(keeps, keep{top, "the git work tree " + top})
			}
		}
	}
	var ws string
	if opts.Workspace != "" {
		w, err := resolve(opts.Workspace)
		if err != nil {
			return fmt.Errorf("workspace %s: %w", opts.Workspace, err)
		}
		ws = w
		keeps = append(keeps, keep{ws, "the workspace " + opts.Workspace})
		if top := workTree(ws); top != "" {
			keeps = append(keeps, keep{top, "the git work tree " + top})
		}
	}
	for _, k := range keeps {
		if Within(k.path, abs) {
			if k.path == abs {
				return fmt.Errorf("%w %s: it is %s", ErrRefused, dir, k.what)
			}
			return fmt.Errorf("%w %s: it holds %s", ErrRefused, dir, k.what)
		}
	}
	if InGitDir(abs) {
		return fmt.Errorf("%w %s: it is inside a .git folder", ErrRefused, dir)
	}
	if ws != "" {
		for _, d := range []string{layout.AppsDir, layout.OverlaysDir} {
			if Within(abs, filepath.Join(ws, d)) || Within(filepath.Join(ws, d), abs) {
				return fmt.Errorf("%w %s: it is in the workspace's %s/ folder, which dmls reads as specs", ErrRefused, dir, d)
			}
		}
		if filepath.Dir(abs) == ws && strings.HasPrefix(filepath.Base(abs), layout.PlatformName+".") {
			return fmt.Errorf("%w %s: it is the workspace's platform spec", ErrRefused, dir)
		}
	}
	return nil
}

// checkOwned refuses a dir that is not dmls's to replace, and reports
// whether it exists. A folder that is dmls's must also be removable, so
// that replacing it cannot stop halfway.
func checkOwned(dir, abs string) (bool, error) {
	st, err := os.Lstat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("output %s: %w", dir, err)
	case st.Mode()&fs.ModeSymlink != 0:
		return false, fmt.Errorf("%w %s: it is a symlink; give the folder itself", ErrRefused, dir)
	case st.Mode().IsRegular():
		return false, fmt.Errorf("%w %s: it is a file, not a folder; dmls writes only to a new folder, an empty one, or one it made", ErrRefused, dir)
	case !st.IsDir():
		return false, fmt.Errorf("%w %s: it is not a folder (%s)", ErrRefused, dir, st.Mode().Type())
	}
	entries, err := os.ReadDir(abs)
	if err != nil {
		return false, fmt.Errorf("output %s: %w", dir, err)
	}
	if len(entries) > 0 {
		m, err := os.Lstat(filepath.Join(abs, Marker))
		if err != nil || !m.Mode().IsRegular() {
			return false, fmt.Errorf("%w %s: the folder is not empty and dmls did not make it (it has no %s file); choose a new folder or empty this one", ErrRefused, dir, Marker)
		}
		b, err := os.ReadFile(filepath.Join(abs, Marker))
		if err != nil || !bytes.Equal(b, markerText) {
			return false, fmt.Errorf("%w %s: its %s file is not dmls's; choose a new folder or empty this one", ErrRefused, dir, Marker)
		}
	}
	if err := syscall.Access(filepath.Dir(abs), accessW|accessX); err != nil {
		return false, fmt.Errorf("%w %s: its parent folder is not writable: %w", ErrRefused, dir, err)
	}
	err = filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if err := syscall.Access(p, accessR|accessW|accessX); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("%w %s: the old output could not be removed (%w); nothing was changed", ErrRefused, dir, err)
	}
	return true, nil
}

// resolve makes p absolute and resolves the symlinks of the part of it
// that exists, so that two names of one folder compare equal.
func resolve(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	var rest []string
	for cur := abs; ; {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(append([]string{r}, rest...)...), nil
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return abs, nil
		}
		rest = append([]string{filepath.Base(cur)}, rest...)
		cur = parent
	}
}

// Within reports whether p is root or inside it (both absolute).
func Within(p, root string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// workTree returns the top of the git work tree that holds dir, or "".
func workTree(dir string) string {
	for cur := dir; ; {
		if _, err := os.Lstat(filepath.Join(cur, ".git")); err == nil {
			return cur
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return ""
		}
		cur = parent
	}
}

// checkPath refuses paths that are not clean, relative and slash-separated.
func checkPath(p string) error {
	if p == "" || path.IsAbs(p) || path.Clean(p) != p || strings.HasPrefix(p, "../") || p == ".." || strings.ContainsAny(p, "\\\x00") {
		return fmt.Errorf("refusing to write %q: generated paths must be clean and relative", p)
	}
	return nil
}

// ReplaceMarked empties dir for a tool that owns the folder (make dist,
// make image): a folder with files is removed only if it holds the marker
// file that the tool left there, so a mistyped path never deletes the
// user's files. The new, empty folder gets the marker.
func ReplaceMarked(dir, marker, tool string) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		if _, err := os.Stat(filepath.Join(dir, marker)); err != nil {
			return fmt.Errorf("%s holds files that %s did not write; give an empty or new folder", dir, tool)
		}
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	} else if err != nil && !os.IsNotExist(err) {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, marker), []byte("made by "+tool+"; removed and rebuilt by it\n"), 0o644)
}
