package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"time"

	"github.com/dmls-project/dmls/internal/parallel"
	"github.com/dmls-project/dmls/internal/rules"
)

// index is the entry that lists, for one workspace key, its apps' entries
// without their Rendered and Tree bytes (App.Sums stand for Rendered), so
// that a warm run whose consumer holds the rendered files already
// (Options.Kept) reads one file rather than an entry per app.
type index struct {
	// Strings are the strings of the apps' quota uses, each once, and
	// Uses the uses, packed (see packer).
	Strings []string
	Uses    []uint64
	// Parts are the apps, in order, in indexParts gob streams ([]indexed)
	// that decode in parallel: one stream decodes on one core (at 1,000
	// apps, reading and decoding the index took 18 ms in one part, 13 ms
	// in four, on 2 busy cores).
	Parts [][]byte
}

// indexParts is how many parts an index has (see index.Parts).
const indexParts = 4

// indexed is one app of an index: its App without Quota, and how many
// of the index's Uses are its Quota, after those of the apps before it.
type indexed struct {
	Key  string
	App  App
	Uses int
}

// packer packs quota uses for an index: each use is useWords words, its
// strings' indexes in index.Strings, its count and its flags. 1,000 apps
// hold 58,000 quota uses of 7 strings each, mostly the same ones: as
// strings (rules.QuotaUse) they were 6.9 MB of a 7 MB index and most of
// the time it took to decode; packed, the index is 1.4 MB, and gob
// decodes a slice of numbers in one loop.
type packer struct {
	strings []string
	ids     map[string]uint64
	uses    []uint64
}

// useWords is the length of a packed quota use.
const useWords = 9

// Flags of a packed quota use.
const (
	useMax = 1 << iota
	useQueued
	useKueue
)

func (p *packer) id(s string) uint64 {
	id, ok := p.ids[s]
	if !ok {
		id = uint64(len(p.strings))
		p.ids[s] = id
		p.strings = append(p.strings, s)
	}
	return id
}

// pack appends uses and returns how many it packed.
func (p *packer) pack(uses []rules.QuotaUse) int {
	for _, u := range uses {
		var flags uint64
		if u.Max {
			flags |= useMax
		}
		if u.Queued {
			flags |= useQueued
		}
		if u.Kueue {
			flags |= useKueue
		}
		p.uses = append(p.uses, p.id(u.Env), p.id(u.Team), p.id(u.App), p.id(u.Res), p.id(u.What), p.id(u.Pos), p.id(u.Amount),
			uint64(int64(u.Count)), flags)
	}
	return len(uses)
}

// unpack returns the n quota uses packed at the head of words, and the
// rest of words; false when words are too few or a string index is out
// of range.
func unpack(strs []string, words []uint64, n int) ([]rules.QuotaUse, []uint64, bool) {
	if n == 0 {
		return nil, words, true
	}
	if n < 0 || len(words) < n*useWords {
		return nil, nil, false
	}
	out := make([]rules.QuotaUse, n)
	ns := uint64(len(strs))
	for i := range out {
		w := words[i*useWords : (i+1)*useWords]
		if max(w[0], w[1], w[2], w[3], w[4], w[5], w[6]) >= ns || w[8] > useMax|useQueued|useKueue {
			return nil, nil, false
		}
		out[i] = rules.QuotaUse{Env: strs[w[0]], Team: strs[w[1]], App: strs[w[2]], Res: strs[w[3]], What: strs[w[4]], Pos: strs[w[5]],
			Amount: strs[w[6]], Count: int(int64(w[7])), Max: w[8]&useMax != 0, Queued: w[8]&useQueued != 0, Kueue: w[8]&useKueue != 0}
	}
	return out, words[n*useWords:], true
}

// indexKey is the key of the index entry of the workspace key wsKey.
func indexKey(wsKey string) string {
	h := sha256.Sum256([]byte("dmls cache index v1\nworkspace " + wsKey + "\n"))
	return hex.EncodeToString(h[:])
}

// newIndex is the index of apps, whose quota uses p packed.
func newIndex(p *packer, apps []indexed) (index, error) {
	x := index{Strings: p.strings, Uses: p.uses}
	n := (len(apps) + indexParts - 1) / indexParts
	for start := 0; start < len(apps); start += n {
		var b bytes.Buffer
		if err := gob.NewEncoder(&b).Encode(apps[start:min(start+n, len(apps))]); err != nil {
			return index{}, err
		}
		x.Parts = append(x.Parts, b.Bytes())
	}
	return x, nil
}

// apps decodes the index's apps, by key.
func (x *index) apps() (map[string]*App, error) {
	parts := make([][]indexed, len(x.Parts))
	errs := make([]error, len(x.Parts))
	parallel.For(len(x.Parts), len(x.Parts), func(i int) {
		errs[i] = gob.NewDecoder(bytes.NewReader(x.Parts[i])).Decode(&parts[i])
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	m := map[string]*App{}
	words := x.Uses
	for _, part := range parts {
		for i := range part {
			e := &part[i]
			q, rest, ok := unpack(x.Strings, words, e.Uses)
			if !ok {
				return nil, errors.New("bad quota uses")
			}
			e.App.Quota, words = q, rest
			m[e.Key] = &e.App
		}
	}
	if len(words) != 0 {
		return nil, errors.New("quota uses left over")
	}
	return m, nil
}

// readIndex returns the index of snap's workspace by app key, and whether
// there was a sound one. It is an entry like any other (checked, removed
// when corrupt, pruned), so it is trusted as much as the entries it
// lists: an app's key covers everything its entry depends on. When the
// index is used for the first time in an hour, so are the entries it
// lists, for Prune: an app served from the index is in use.
func readIndex(s *Store, snap *Snapshot) (map[string]*App, bool) {
	var x index
	was, ok := s.get(indexKey(snap.Key), &x)
	if !ok {
		return nil, false
	}
	m, err := x.apps()
	if err != nil {
		s.debug("cache: the index of %s is corrupt (%v); rebuilding it", snap.Key, err)
		return nil, false
	}
	if time.Since(was) > time.Hour {
		for _, a := range snap.Apps {
			if m[a.Key] != nil {
				s.touch(a.Key)
			}
		}
	}
	return m, true
}

// staleIndex reports whether the index idx (found or not) is worth
// writing again for snap's apps: when it is missing or misses more than
// one app in 16. An app it misses costs a read of its entry (0.13 ms at
// 1,000 apps), and writing the index as much as reading 300 (38 ms): so
// after one app's change the index is left as it is.
func staleIndex(idx map[string]*App, found bool, snap *Snapshot) bool {
	if !found {
		return true
	}
	missing := 0
	for _, a := range snap.Apps {
		if idx[a.Key] == nil {
			missing++
		}
	}
	return missing > len(snap.Apps)/16
}

// writeIndex stores the index of snap's workspace: r's apps (emitted, so
// without Rendered and Tree) under their keys. An app without Sums is
// left out.
func writeIndex(s *Store, snap *Snapshot, r *Result) {
	keys := make(map[string]string, len(snap.Apps))
	for _, a := range snap.Apps {
		keys[a.Dir] = a.Key
	}
	apps := make([]indexed, 0, len(r.Apps))
	p := &packer{ids: map[string]uint64{}}
	for _, a := range r.Apps {
		if k, ok := keys[a.Dir]; ok && a.Sums != nil && a.Rendered == nil && a.Tree == nil {
			e := indexed{Key: k, App: *a, Uses: p.pack(a.Quota)}
			e.App.Quota = nil
			apps = append(apps, e)
		}
	}
	x, err := newIndex(p, apps)
	if err != nil {
		s.debug("cache: index: %v", err)
		return
	}
	if err := s.Put(indexKey(snap.Key), x); err != nil {
		s.debug("%v", err)
	}
}
