package cache

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Defaults of the cache's size bound (see Store.Prune).
const (
	DefaultMaxAge   = 30 * 24 * time.Hour
	DefaultMaxBytes = 1 << 30
	// pruneEvery is how often Open prunes, at most.
	pruneEvery = 24 * time.Hour
)

// magic heads every entry file; the format's version is part of it.
var magic = []byte("dmls-cache-entry v2\n")

// sumLen is the length of the payload's checksum: a CRC-32C. With the
// length it finds a truncated, torn or bit-flipped entry (it is no
// defence against a hostile writer, nor meant as one: the entry's name is
// the content address), at a tenth of a SHA-256's cost, which was a good
// part of reading 1,000 entries.
const sumLen = 4

// castagnoli is the CRC-32C table (hardware-assisted on amd64 and arm64).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// headerLen is the magic, the checksum of the payload and its length.
var headerLen = len(magic) + sumLen + 8

// Store is an on-disk, content-addressed store of entries: a value is kept
// under a key (a hex digest of everything it depends on) and never changes.
// It is safe for concurrent use by goroutines and by processes sharing the
// folder.
type Store struct {
	dir string
	// Debug, when set, receives a line for each entry found corrupt (and
	// rebuilt) or not written. Those are no errors: the cache is only a
	// shortcut.
	Debug func(format string, args ...any)

	mu sync.Mutex
	// packs is where each entry of a pack is (see pack.go): nil until
	// the packs' indexes are read. corrupt are the keys whose entry in a
	// pack was found corrupt: they are stored again in files of their
	// own, which Get reads first.
	packs   map[string]packRef
	corrupt map[string]bool
}

// DefaultDir is $XDG_CACHE_HOME/dmls, or $HOME/.cache/dmls.
func DefaultDir() (string, error) {
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "dmls"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return "", fmt.Errorf("no cache folder: set XDG_CACHE_HOME or HOME, pass --cache-dir DIR, or --no-cache")
	}
	return filepath.Join(home, ".cache", "dmls"), nil
}

// Open opens (and creates, private to the user) the store in dir. Once a
// day at most it prunes entries unused for DefaultMaxAge and, oldest use
// first, those beyond DefaultMaxBytes.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(dir, "entries"), 0o700); err != nil {
		return nil, fmt.Errorf("cache %s: %w", dir, err)
	}
	s := &Store{dir: dir}
	stamp := filepath.Join(dir, "pruned")
	if st, err := os.Stat(stamp); err != nil || time.Since(st.ModTime()) > pruneEvery {
		if err := os.WriteFile(stamp, nil, 0o600); err == nil {
			now := time.Now()
			_ = os.Chtimes(stamp, now, now)
			_, _ = s.Prune(DefaultMaxAge, DefaultMaxBytes)
		}
	}
	return s, nil
}

// Dir is the store's folder.
func (s *Store) Dir() string { return s.dir }

func (s *Store) debug(format string, args ...any) {
	if s != nil && s.Debug != nil {
		s.Debug(format, args...)
	}
}

// path is where the entry of key lives. Keys are hex digests.
func (s *Store) path(key string) (string, error) {
	if len(key) < 8 || strings.Trim(key, "0123456789abcdef") != "" {
		return "", fmt.Errorf("cache key %q is not a hex digest", key)
	}
	return filepath.Join(s.dir, "entries", key[:2], key), nil
}

// Get decodes the entry of key into v (a pointer) and reports whether
// there was a sound one. An entry whose checksum, length or encoding is
// wrong is reported through Debug, removed and treated as missing, so
// that the caller rebuilds it; it is never used.
func (s *Store) Get(key string, v any) bool {
	_, ok := s.get(key, v)
	return ok
}

// get is Get, and returns when the entry was last used before.
func (s *Store) get(key string, v any) (time.Time, bool) {
	if s == nil {
		return time.Time{}, false
	}
	p, err := s.path(key)
	if err != nil {
		return time.Time{}, false
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return s.getPacked(key, v)
	}
	if err != nil {
		s.debug("cache: read %s: %v", p, err)
		return time.Time{}, false
	}
	defer f.Close()
	st, err := f.Stat()
	var b []byte
	if err == nil {
		b = make([]byte, st.Size())
		_, err = io.ReadFull(f, b)
	}
	if err != nil {
		s.debug("cache: read %s: %v", p, err)
		return time.Time{}, false
	}
	payload, err := unseal(b)
	if err == nil {
		err = gob.NewDecoder(bytes.NewReader(payload)).Decode(v)
	}
	if err != nil {
		s.debug("cache: entry %s is corrupt (%v); rebuilding it", p, err)
		_ = os.Remove(p)
		return time.Time{}, false
	}
	s.used(p, st.ModTime())
	return st.ModTime(), true
}

// used records a use of the entry at p, last used at was, for Prune: in
// its modification time, to an hour's precision, which spares a write
// per entry and run.
func (s *Store) used(p string, was time.Time) {
	if now := time.Now(); now.Sub(was) > time.Hour {
		_ = os.Chtimes(p, now, now)
	}
}

// touch records a use of the entry of key, if there is one, for an entry
// that served without being read (through the index).
func (s *Store) touch(key string) {
	if ref, ok := s.packed(key); ok {
		s.usedPack(ref.path)
	} else if p, err := s.path(key); err == nil {
		s.used(p, time.Time{})
	}
}

// Put stores v under key. The entry is written to a temporary file in its
// own folder and renamed into place, so that a reader (in any process)
// sees the whole entry or none; two writers of one key write the same
// bytes, and the last rename wins.
func (s *Store) Put(key string, v any) error {
	if s == nil {
		return nil
	}
	b, err := sealValue(v)
	if err != nil {
		return fmt.Errorf("%w (%s)", err, key)
	}
	return s.putSealed(key, b)
}

// putSealed is Put of what sealValue made.
func (s *Store) putSealed(key string, sealed []byte) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	return writeFile(p, ".tmp-"+key[:8]+"-", func(w io.Writer) error {
		_, err := w.Write(sealed)
		return err
	})
}

// writeFile writes p whole or not at all: what write writes goes to a
// temporary file (named tmp and a random suffix) in p's folder, which is
// renamed into place, so that a reader in any process sees all of it or
// none.
func writeFile(p, tmp string, write func(io.Writer) error) error {
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	f, err := os.CreateTemp(dir, tmp)
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	err = write(w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("cache: write %s: %w", p, err)
	}
	return nil
}

// seal heads payload with the magic, its checksum and its length.
func seal(payload []byte) []byte {
	out := make([]byte, 0, headerLen+len(payload))
	out = append(out, magic...)
	out = binary.BigEndian.AppendUint32(out, crc32.Checksum(payload, castagnoli))
	out = binary.BigEndian.AppendUint64(out, uint64(len(payload)))
	return append(out, payload...)
}

// unseal checks what seal wrote and returns the payload.
func unseal(b []byte) ([]byte, error) {
	if len(b) < headerLen || !bytes.Equal(b[:len(magic)], magic) {
		return nil, errors.New("no entry header")
	}
	sum := binary.BigEndian.Uint32(b[len(magic) : len(magic)+sumLen])
	n := binary.BigEndian.Uint64(b[len(magic)+sumLen : headerLen])
	payload := b[headerLen:]
	if uint64(len(payload)) != n {
		return nil, fmt.Errorf("%d bytes of payload, the header says %d", len(payload), n)
	}
	if crc32.Checksum(payload, castagnoli) != sum {
		return nil, errors.New("checksum mismatch")
	}
	return payload, nil
}

// Prune removes the entries not used for maxAge and then, least recently
// used first, as many as it takes to bring the total under maxBytes, as
// well as temporary files left by a writer that died. A pack counts as
// one entry, used when any of its entries was. It returns how many
// files it removed. Entries in use by another process may go; that
// process then rebuilds them.
func (s *Store) Prune(maxAge time.Duration, maxBytes int64) (int, error) {
	type file struct {
		path string
		size int64
		used time.Time
	}
	var files []file
	var total int64
	removed := 0
	now := time.Now()
	walk := func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !ours(p) {
			return nil
		}
		st, err := d.Info()
		if err != nil {
			return nil
		}
		old := now.Sub(st.ModTime())
		if (strings.HasPrefix(d.Name(), ".tmp-") && old > time.Hour) || old > maxAge {
			if os.Remove(p) == nil {
				removed++
			}
			return nil
		}
		if !strings.HasPrefix(d.Name(), ".tmp-") {
			files = append(files, file{p, st.Size(), st.ModTime()})
			total += st.Size()
		}
		return nil
	}
	err := errors.Join(filepath.WalkDir(filepath.Join(s.dir, "entries"), walk), walkIfThere(filepath.Join(s.dir, "packs"), walk))
	sort.Slice(files, func(i, j int) bool { return files[i].used.Before(files[j].used) })
	for _, f := range files {
		if total <= maxBytes {
			break
		}
		if os.Remove(f.path) == nil {
			removed++
			total -= f.size
		}
	}
	return removed, err
}

// walkIfThere is filepath.WalkDir of a folder that may not exist.
func walkIfThere(root string, fn fs.WalkDirFunc) error {
	if _, err := os.Stat(root); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return filepath.WalkDir(root, fn)
}

// ours reports whether p is named as an entry (entries/<xx>/<xx...> in
// hex), a pack (packs/<digest>.pack) or a temporary file of either:
// pruning removes nothing else, even in a --cache-dir that holds other
// files.
func ours(p string) bool {
	dir, name := filepath.Base(filepath.Dir(p)), filepath.Base(p)
	if dir == "packs" {
		return isPackName(name)
	}
	if len(dir) != 2 || !isHex(dir) {
		return false
	}
	if t, ok := strings.CutPrefix(name, ".tmp-"); ok {
		return len(t) > 8 && isHex(t[:8]) && strings.HasPrefix(t, dir)
	}
	return len(name) >= 8 && isHex(name) && strings.HasPrefix(name, dir)
}

func isHex(s string) bool { return strings.Trim(s, "0123456789abcdef") == "" }
