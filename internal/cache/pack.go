package cache

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// A pack holds the entries of many keys in one file, for a run that
// stores hundreds of entries at once (a cold run stores one per app): a
// file per entry is a file created, written and renamed per app (see the
// package doc and BenchmarkStoreApps). A pack is written whole
// to a temporary file and renamed into place, like an entry, and never
// changes; Get finds an entry in its own file or, failing that, in a pack
// (the packs' indexes are read once per Store, on the first key not found
// in its own file). Prune treats a pack as one file: it goes when the
// last use of any of its entries is too old, or to make room.
//
// The file: packMagic, the number of entries (uint32), for each its key
// (uint16 length, bytes), offset and length (uint64 each, from the start
// of the file), then the entries as seal writes them, each checked on
// read as an entry file is.
var packMagic = []byte("dmls-cache-pack v1\n")

// maxPackEntries bounds the entries of one pack, and of a pack's index
// that Get reads.
const maxPackEntries = 1 << 16

// packRef is where an entry lives in a pack.
type packRef struct {
	path   string
	off, n int64
}

// sealValue encodes v as the payload of an entry, for putPack; it may be
// called from many goroutines at once.
func sealValue(v any) ([]byte, error) {
	var payload bytes.Buffer
	if err := gob.NewEncoder(&payload).Encode(v); err != nil {
		return nil, fmt.Errorf("cache: encode: %w", err)
	}
	return seal(payload.Bytes()), nil
}

// minPack is the fewest entries putPack packs: fewer go to files of their
// own, so that the runs that build a few apps (a change) do not leave a
// pack each, whose index every later run would read.
const minPack = 32

// putPack stores the sealed entries (key → sealValue's bytes): in one pack
// when there are at least minPack, else each in its own file, as Put
// does. An entry found corrupt in a pack goes to its own file too.
func (s *Store) putPack(entries map[string][]byte) error {
	if s == nil || len(entries) == 0 {
		return nil
	}
	if len(entries) > maxPackEntries {
		return fmt.Errorf("cache: a pack of %d entries (at most %d)", len(entries), maxPackEntries)
	}
	var packed, alone []string
	s.mu.Lock()
	for _, k := range slices.Sorted(maps.Keys(entries)) {
		if len(entries) < minPack || s.corrupt[k] {
			alone = append(alone, k)
		} else {
			packed = append(packed, k)
		}
	}
	s.mu.Unlock()
	var errs []error
	for _, k := range alone {
		errs = append(errs, s.putSealed(k, entries[k]))
	}
	if len(packed) > 0 {
		errs = append(errs, s.writePack(packed, entries))
	}
	return errors.Join(errs...)
}

// writePack writes the entries of keys (sorted) as one pack.
func (s *Store) writePack(keys []string, entries map[string][]byte) error {
	h := sha256.New()
	for _, k := range keys {
		if _, err := s.path(k); err != nil {
			return err
		}
		h.Write([]byte(k + "\n"))
	}
	p := filepath.Join(s.dir, "packs", hex.EncodeToString(h.Sum(nil))+".pack")
	var head bytes.Buffer
	head.Write(packMagic)
	head.Write(binary.BigEndian.AppendUint32(nil, uint32(len(keys))))
	headLen := int64(head.Len())
	for _, k := range keys {
		headLen += 2 + int64(len(k)) + 16
	}
	refs := make(map[string]packRef, len(keys))
	off := headLen
	for _, k := range keys {
		n := int64(len(entries[k]))
		head.Write(binary.BigEndian.AppendUint16(nil, uint16(len(k))))
		head.WriteString(k)
		head.Write(binary.BigEndian.AppendUint64(nil, uint64(off)))
		head.Write(binary.BigEndian.AppendUint64(nil, uint64(n)))
		refs[k] = packRef{path: p, off: off, n: n}
		off += n
	}
	err := writeFile(p, ".tmp-pack-", func(w io.Writer) error {
		if _, err := w.Write(head.Bytes()); err != nil {
			return err
		}
		for _, k := range keys {
			if _, err := w.Write(entries[k]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.packs != nil {
		maps.Copy(s.packs, refs)
	}
	return nil
}

// packed finds key in the packs, reading their indexes the first time.
func (s *Store) packed(key string) (packRef, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.packs == nil {
		s.packs = map[string]packRef{}
		s.readPacks()
	}
	r, ok := s.packs[key]
	return r, ok
}

// readPacks reads the index of every pack into s.packs (s.mu held).
func (s *Store) readPacks() {
	dir := filepath.Join(s.dir, "packs")
	des, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, de := range des {
		if !isPack(de.Name()) {
			continue // a pack being written is not one yet
		}
		p := filepath.Join(dir, de.Name())
		if err := s.readPack(p); err != nil {
			// A pack is renamed into place whole: one whose index
			// cannot be read is damaged, and goes, as a damaged entry
			// does; its entries are misses, built and stored again.
			s.debug("cache: pack %s is corrupt (%v); removing it", p, err)
			_ = os.Remove(p)
		}
	}
}

func (s *Store) readPack(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	r := bufio.NewReader(f)
	magic := make([]byte, len(packMagic))
	var count uint32
	if _, err := io.ReadFull(r, magic); err != nil || !bytes.Equal(magic, packMagic) {
		return errors.New("no pack header")
	}
	if err := binary.Read(r, binary.BigEndian, &count); err != nil || count > maxPackEntries {
		return fmt.Errorf("no pack index (%d entries)", count)
	}
	refs := make(map[string]packRef, count)
	for range count {
		var kl uint16
		if err := binary.Read(r, binary.BigEndian, &kl); err != nil {
			return err
		}
		k := make([]byte, kl)
		var at [2]uint64
		if _, err := io.ReadFull(r, k); err != nil {
			return err
		}
		if err := binary.Read(r, binary.BigEndian, &at); err != nil {
			return err
		}
		if at[0] > uint64(st.Size()) || at[1] > uint64(st.Size())-at[0] {
			return fmt.Errorf("entry %s beyond the pack's %d bytes", k, st.Size())
		}
		refs[string(k)] = packRef{path: p, off: int64(at[0]), n: int64(at[1])}
	}
	for k, ref := range refs {
		s.packs[k] = ref
	}
	return nil
}

// getPacked is get for an entry in a pack: v decoded, and the pack's last
// use before this one.
func (s *Store) getPacked(key string, v any) (time.Time, bool) {
	ref, ok := s.packed(key)
	if !ok {
		return time.Time{}, false
	}
	b := make([]byte, ref.n)
	var st os.FileInfo
	f, err := os.Open(ref.path)
	if err == nil {
		st, err = f.Stat()
		if err == nil {
			_, err = f.ReadAt(b, ref.off)
		}
		f.Close()
	}
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) { // a pack pruned meanwhile is a miss
			s.debug("cache: read %s from %s: %v", key, ref.path, err)
		}
		s.forget(key, false)
		return time.Time{}, false
	}
	payload, err := unseal(b)
	if err == nil {
		err = gob.NewDecoder(bytes.NewReader(payload)).Decode(v)
	}
	if err != nil {
		// The pack stays: its other entries may be sound. This one is a
		// miss from now on, and the caller stores it again in its own
		// file (putPack), which Get reads before any pack.
		s.debug("cache: entry %s in %s is corrupt (%v); rebuilding it", key, ref.path, err)
		s.forget(key, true)
		return time.Time{}, false
	}
	s.used(ref.path, st.ModTime())
	return st.ModTime(), true
}

// forget drops key from the packs' index; corrupt, that its entry there
// was damaged.
func (s *Store) forget(key string, corrupt bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.packs, key)
	if corrupt {
		if s.corrupt == nil {
			s.corrupt = map[string]bool{}
		}
		s.corrupt[key] = true
	}
}

// usedPack records a use of an entry of the pack at p (see used).
func (s *Store) usedPack(p string) {
	if st, err := os.Stat(p); err == nil {
		s.used(p, st.ModTime())
	}
}

// isPack reports whether name is a pack's: a hex digest and .pack.
func isPack(name string) bool {
	d, ok := strings.CutSuffix(name, ".pack")
	return ok && len(d) == 64 && isHex(d)
}

// isPackName reports whether name is a pack's or a temporary file of one.
func isPackName(name string) bool {
	if t, ok := strings.CutPrefix(name, ".tmp-pack-"); ok {
		return t != "" && !strings.ContainsAny(t, "/.")
	}
	return isPack(name)
}
