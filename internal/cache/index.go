package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/dmls-project/dmls/internal/rules"
)

// index is the entry that lists, for one workspace key, its apps' entries
// without their Rendered and Tree bytes (App.Sums stand for Rendered), so
// that a warm run whose consumer holds the rendered files already
// (Options.Kept) reads one file rather than an entry per app.
type index struct {
	// Strings are the strings of the apps' quota uses, each once (see
	// packedUse).
	Strings []string
	Apps    []indexed
}

// indexed is one app of an index: its App without Quota, and Quota.
type indexed struct {
	Key   string
	App   App
	Quota []packedUse
}

// packedUse is a rules.QuotaUse whose strings are indexes in
// index.Strings. 1,000 apps hold 58,000 quota uses of 7 strings each,
// mostly the same ones: stored as strings they were 6.9 MB of a 7 MB
// index and most of the time it took to decode; packed, the index is
// about 1.4 MB.
type packedUse struct {
	Env, Team, App, Res, What, Pos, Amount uint32
	Count                                  int
	Max, Queued, Kueue                     bool
}

// packer interns the strings of an index.
type packer struct {
	strings []string
	ids     map[string]uint32
}

func (p *packer) id(s string) uint32 {
	id, ok := p.ids[s]
	if !ok {
		id = uint32(len(p.strings))
		p.ids[s] = id
		p.strings = append(p.strings, s)
	}
	return id
}

func (p *packer) pack(uses []rules.QuotaUse) []packedUse {
	out := make([]packedUse, len(uses))
	for i, u := range uses {
		out[i] = packedUse{Env: p.id(u.Env), Team: p.id(u.Team), App: p.id(u.App), Res: p.id(u.Res), What: p.id(u.What), Pos: p.id(u.Pos),
			Amount: p.id(u.Amount), Count: u.Count, Max: u.Max, Queued: u.Queued, Kueue: u.Kueue}
	}
	return out
}

// unpack is the inverse of pack, given the packer's strings; false when
// an index is out of range.
func unpack(strs []string, uses []packedUse) ([]rules.QuotaUse, bool) {
	if uses == nil {
		return nil, true
	}
	out := make([]rules.QuotaUse, len(uses))
	n := uint32(len(strs))
	for i, u := range uses {
		if max(u.Env, u.Team, u.App, u.Res, u.What, u.Pos, u.Amount) >= n {
			return nil, false
		}
		out[i] = rules.QuotaUse{Env: strs[u.Env], Team: strs[u.Team], App: strs[u.App], Res: strs[u.Res], What: strs[u.What], Pos: strs[u.Pos],
			Amount: strs[u.Amount], Count: u.Count, Max: u.Max, Queued: u.Queued, Kueue: u.Kueue}
	}
	return out, true
}

// indexKey is the key of the index entry of the workspace key wsKey.
func indexKey(wsKey string) string {
	h := sha256.Sum256([]byte("dmls cache index v1\nworkspace " + wsKey + "\n"))
	return hex.EncodeToString(h[:])
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
	m := make(map[string]*App, len(x.Apps))
	for i := range x.Apps {
		e := &x.Apps[i]
		q, ok := unpack(x.Strings, e.Quota)
		if !ok {
			s.debug("cache: the index of %s is corrupt; rebuilding it", snap.Key)
			return nil, false
		}
		e.App.Quota = q
		m[e.Key] = &e.App
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
// one app in 16. An app it misses costs a read of its entry, and writing
// the index costs about as much as reading 100 entries; so after one
// app's change the index is left as it is.
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
	x := index{Apps: make([]indexed, 0, len(r.Apps))}
	p := &packer{ids: map[string]uint32{}}
	for _, a := range r.Apps {
		if k, ok := keys[a.Dir]; ok && a.Sums != nil && a.Rendered == nil && a.Tree == nil {
			e := indexed{Key: k, App: *a, Quota: p.pack(a.Quota)}
			e.App.Quota = nil
			x.Apps = append(x.Apps, e)
		}
	}
	x.Strings = p.strings
	if err := s.Put(indexKey(snap.Key), x); err != nil {
		s.debug("%v", err)
	}
}
