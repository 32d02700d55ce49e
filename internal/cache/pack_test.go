package cache

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dmls-project/dmls/internal/synth"
)

// sealedEntries are n entries sealed for putPack, and their values.
func sealedEntries(t *testing.T, n int) (map[string][]byte, map[string]entry) {
	t.Helper()
	sealed, values := map[string][]byte{}, map[string]entry{}
	for i := range n {
		v := entry{fmt.Sprintf("e%d", i), bytes.Repeat([]byte{byte(i)}, 100+i)}
		b, err := sealValue(v)
		if err != nil {
			t.Fatal(err)
		}
		sealed[key(i)], values[key(i)] = b, v
	}
	return sealed, values
}

// files lists the files under dir/sub, relative to dir.
func files(t *testing.T, dir, sub string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(filepath.Join(dir, sub), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// TestPack: entries put together are one file, which another Store (a
// later process) reads them from; a few go to files of their own.
func TestPack(t *testing.T) {
	dir := t.TempDir()
	s, lines := openT(t, dir)
	sealed, values := sealedEntries(t, minPack+8)
	if err := s.putPack(sealed); err != nil {
		t.Fatal(err)
	}
	packs, own := files(t, dir, "packs"), files(t, dir, "entries")
	if len(packs) != 1 || len(own) != 0 || !isPackName(filepath.Base(packs[0])) {
		t.Fatalf("%d entries made packs %v and files %v, want one pack", len(sealed), packs, own)
	}
	for _, st := range []*Store{s, func() *Store { s, _ := openT(t, dir); return s }()} {
		for k, want := range values {
			var got entry
			if !st.Get(k, &got) || got.Name != want.Name || !bytes.Equal(got.Data, want.Data) {
				t.Fatalf("Get(%s) = %+v, want %+v", k, got, want)
			}
		}
		var got entry
		if st.Get(key(1000), &got) {
			t.Error("Get found a key no pack holds")
		}
	}
	few, _ := sealedEntries(t, minPack-1)
	for k := range sealed {
		delete(few, k)
	}
	few[key(5000)], _ = sealValue(entry{Name: "alone"})
	if err := s.putPack(few); err != nil {
		t.Fatal(err)
	}
	if packs, own := files(t, dir, "packs"), files(t, dir, "entries"); len(packs) != 1 || len(own) != 1 {
		t.Errorf("one entry made packs %v and files %v, want a file of its own", packs, own)
	}
	if len(*lines) > 0 {
		t.Errorf("debug lines: %q", *lines)
	}
}

// TestCorruptPackedEntry: an entry whose bytes in a pack are damaged is a
// miss, reported once; the pack's other entries serve; the entry, stored
// again with the next pack, goes to a file of its own, which a later
// process reads rather than the damaged copy.
func TestCorruptPackedEntry(t *testing.T) {
	dir := t.TempDir()
	s, _ := openT(t, dir)
	sealed, values := sealedEntries(t, minPack)
	if err := s.putPack(sealed); err != nil {
		t.Fatal(err)
	}
	bad := key(3)
	ref, ok := s.packed(bad)
	if !ok {
		t.Fatal("the pack's index lacks an entry")
	}
	b, err := os.ReadFile(ref.path)
	if err != nil {
		t.Fatal(err)
	}
	b[ref.off+ref.n-1] ^= 0xff
	if err := os.WriteFile(ref.path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s2, lines := openT(t, dir)
	var got entry
	if s2.Get(bad, &got) || len(*lines) != 1 || !strings.Contains((*lines)[0], "corrupt") {
		t.Fatalf("a damaged entry: found %v, debug %q; want a miss and a line", got.Name != "", *lines)
	}
	if !s2.Get(key(4), &got) || got.Name != values[key(4)].Name {
		t.Fatalf("the pack's other entries: %+v", got)
	}
	if err := s2.putPack(sealed); err != nil {
		t.Fatal(err)
	}
	if own := files(t, dir, "entries"); len(own) != 1 || filepath.Base(own[0]) != bad {
		t.Fatalf("files of their own %v, want the damaged entry's", own)
	}
	s3, lines := openT(t, dir)
	if !s3.Get(bad, &got) || got.Name != values[bad].Name || len(*lines) > 0 {
		t.Errorf("after storing it again: %+v, debug %q", got, *lines)
	}

	// A pack cut short (its index beyond its bytes) is damaged whole: it
	// is reported once and removed; the entries are served by the pack
	// that putPack wrote again above (without the damaged entry, which
	// has its own file). A pack being written (a temporary file) is not
	// read.
	if err := os.WriteFile(filepath.Join(dir, "packs", ".tmp-pack-1"), b[:len(b)/3], 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ref.path, b[:len(b)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	s4, lines := openT(t, dir)
	if !s4.Get(key(4), &got) || got.Name != values[key(4)].Name || len(*lines) != 1 || !strings.Contains((*lines)[0], "corrupt") {
		t.Fatalf("a pack cut short: %+v, debug %q; want the entry from the other pack, and one line", got, *lines)
	}
	if packs := files(t, dir, "packs"); len(packs) != 2 { // the other pack and the temporary file
		t.Errorf("packs left: %v", packs)
	}
	if _, err := os.Stat(ref.path); !os.IsNotExist(err) {
		t.Errorf("the damaged pack is still there: %v", err)
	}
}

// TestPrunePacks: a pack is one file to Prune, used when any of its
// entries was; temporary packs of a writer that died go; files that are
// no pack stay.
func TestPrunePacks(t *testing.T) {
	dir := t.TempDir()
	s, _ := openT(t, dir)
	sealed, _ := sealedEntries(t, minPack)
	if err := s.putPack(sealed); err != nil {
		t.Fatal(err)
	}
	ref, _ := s.packed(key(0))
	long := time.Now().Add(-40 * 24 * time.Hour)
	tmp := filepath.Join(dir, "packs", ".tmp-pack-123")
	other := filepath.Join(dir, "packs", "notes.txt")
	for _, p := range []string{tmp, other} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{ref.path, tmp, other} {
		if err := os.Chtimes(p, long, long); err != nil {
			t.Fatal(err)
		}
	}
	// A use through the index (touch) keeps the pack.
	s.touch(key(7))
	if n, err := s.Prune(DefaultMaxAge, DefaultMaxBytes); err != nil || n != 1 {
		t.Fatalf("Prune removed %d files (%v), want the temporary pack only", n, err)
	}
	if left := files(t, dir, "packs"); !slices.Equal(left, []string{filepath.Join("packs", filepath.Base(ref.path)), filepath.Join("packs", "notes.txt")}) {
		t.Fatalf("left %v", left)
	}
	if err := os.Chtimes(ref.path, long, long); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Prune(DefaultMaxAge, DefaultMaxBytes); err != nil || n != 1 {
		t.Fatalf("Prune removed %d files (%v), want the unused pack", n, err)
	}
	var got entry
	if s.Get(key(0), &got) {
		t.Error("an entry of a pruned pack was found")
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("Prune removed a file that is no pack: %v", err)
	}
}

// TestRunPacks: a cold run of more apps than minPack, in one chunk,
// stores them in a pack, with the output of the uncached pipeline, and a
// later process serves every app from it.
func TestRunPacks(t *testing.T) {
	fsys := synth.Workspace(minPack + 4)
	_, _, want := reference(t, fsys)
	dir := t.TempDir()
	runChunks := func(s *Store) (*Result, map[string][]byte) {
		return runOpts(t, s, fsys, func(opts *Options, _ *sync.Mutex) { opts.Chunk = 0 }) // 256
	}
	s, lines := openT(t, dir)
	r, got := runChunks(s)
	same(t, "cold", got, want)
	if r.Misses != minPack+4 || len(files(t, dir, "packs")) != 1 {
		t.Fatalf("cold: %d misses, packs %v", r.Misses, files(t, dir, "packs"))
	}
	s2, lines2 := openT(t, dir)
	r, got = runChunks(s2)
	same(t, "warm", got, want)
	if r.Hits != minPack+4 || len(*lines)+len(*lines2) > 0 {
		t.Errorf("warm: %d hits, debug %q %q", r.Hits, *lines, *lines2)
	}
}

// BenchmarkStoreApps stores 1,000 entries of 24 KB, the size of a
// rendered app's at 1,000 apps: each in its own file, and in packs of
// 256, as a cold run stores its chunks (go test -bench StoreApps
// -benchtime 5x ./internal/cache).
func BenchmarkStoreApps(b *testing.B) {
	const apps, size = 1000, 24 << 10
	sealed := map[string][]byte{}
	for i := range apps {
		sealed[key(i)] = seal(bytes.Repeat([]byte{byte(i)}, size))
	}
	keys := slices.Sorted(maps.Keys(sealed))
	for _, packed := range []bool{false, true} {
		name := map[bool]string{false: "files", true: "packs"}[packed]
		b.Run(name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				s, err := Open(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				for start := 0; start < apps; start += 256 {
					part := keys[start:min(start+256, apps)]
					if packed {
						chunk := map[string][]byte{}
						for _, k := range part {
							chunk[k] = sealed[k]
						}
						err = s.putPack(chunk)
					} else {
						for _, k := range part {
							err = errors.Join(err, s.putSealed(k, sealed[k]))
						}
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
