package cache

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/dmls-project/dmls/internal/rules"
	"github.com/dmls-project/dmls/internal/synth"
)

// holder is a consumer that holds what Run emits, as an output folder
// does, and holds an app (Options.Kept) when it has its files with the
// app's Sums.
type holder struct {
	mu            sync.Mutex
	files         map[string][]byte
	kept, emitted int
}

func newHolder() *holder { return &holder{files: map[string][]byte{}} }

func (h *holder) options(s *Store) Options {
	return Options{
		Store: s, Chunk: 4, Render: true, NoTree: true,
		Emit: func(a *App) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			for env, y := range a.Rendered {
				h.files[env+"/"+a.Name] = y
			}
			h.emitted++
			return nil
		},
		Kept: func(a *App) bool {
			h.mu.Lock()
			defer h.mu.Unlock()
			for _, env := range a.Envs {
				y, ok := h.files[env+"/"+a.Name]
				if !ok || sha256.Sum256(y) != a.Sums[env] {
					return false
				}
			}
			h.kept++
			return true
		},
	}
}

// run runs Run and returns its result and how many apps h kept and was
// emitted in that run.
func (h *holder) run(t *testing.T, s *Store, fsys fs.FS) (r *Result, kept, emitted int) {
	t.Helper()
	snap, err := Read(fsys, "ws", "test")
	if err != nil {
		t.Fatal(err)
	}
	h.kept, h.emitted = 0, 0
	r, err = Run(snap, h.options(s))
	if err != nil {
		t.Fatal(err)
	}
	return r, h.kept, h.emitted
}

// indexOf reads the index of fsys's workspace.
func indexOf(t *testing.T, s *Store, fsys fs.FS) (*Snapshot, map[string]*App, bool) {
	t.Helper()
	snap, err := Read(fsys, "ws", "test")
	if err != nil {
		t.Fatal(err)
	}
	idx, ok := readIndex(s, snap)
	return snap, idx, ok
}

// sound checks that every app of the index is its entry without its
// rendered files, whose digests are Sums.
func sound(t *testing.T, s *Store, idx map[string]*App) {
	t.Helper()
	for k, x := range idx {
		var a App
		if !s.Get(k, &a) {
			t.Errorf("index app %s: no entry", x.Name)
			continue
		}
		a.fix()
		for env, y := range a.Rendered {
			if sha256.Sum256(y) != x.Sums[env] {
				t.Errorf("index app %s: the sum of %s is not its entry's", x.Name, env)
			}
		}
		a.Rendered = nil
		y := *x
		y.fix()
		if !reflect.DeepEqual(&a, &y) {
			t.Errorf("index app %s differs from its entry:\n%+v\n%+v", x.Name, y, a)
		}
	}
}

// TestIndex: a warm run takes the apps the consumer holds from the index,
// without reading their entries, and gives the same as an uncached run;
// the apps it does not hold come from their entries, and a changed app
// is built.
func TestIndex(t *testing.T) {
	fsys := synth.Workspace(10)
	_, _, want := reference(t, fsys)
	s, lines := openT(t, t.TempDir())
	h := newHolder()
	r, kept, emitted := h.run(t, s, fsys)
	if r.Misses != 10 || kept != 0 || emitted != 10 {
		t.Errorf("cold: %d misses, %d kept, %d emitted; want 10, 0, 10", r.Misses, kept, emitted)
	}
	same(t, "cold", h.files, want)
	snap, idx, ok := indexOf(t, s, fsys)
	if !ok || len(idx) != 10 {
		t.Fatalf("the cold run wrote an index of %d apps (%v), want 10", len(idx), ok)
	}
	sound(t, s, idx)
	// Without the apps' entries: the index alone serves them.
	for _, a := range snap.Apps {
		p, _ := s.path(a.Key)
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	r, kept, emitted = h.run(t, s, fsys)
	if r.Hits != 10 || kept != 10 || emitted != 0 {
		t.Errorf("warm: %d hits, %d kept, %d emitted; want 10, 10, 0", r.Hits, kept, emitted)
	}
	same(t, "warm", h.files, want)
	// A consumer that holds nothing gets every app with its files: the
	// entries are gone, so they are built again.
	fresh := newHolder()
	r, kept, emitted = fresh.run(t, s, fsys)
	if r.Misses != 10 || kept != 0 || emitted != 10 {
		t.Errorf("empty consumer: %d misses, %d kept, %d emitted; want 10, 0, 10", r.Misses, kept, emitted)
	}
	same(t, "empty consumer", fresh.files, want)
	// One app changed: built, the others kept.
	fsys["apps/app-0005/app.cue"].Data = bytes.Replace(fsys["apps/app-0005/app.cue"].Data, []byte("target: 15"), []byte("target: 17"), 1)
	_, _, want = reference(t, fsys)
	r, kept, emitted = h.run(t, s, fsys)
	if r.Misses != 1 || kept != 9 || emitted != 1 {
		t.Errorf("one changed: %d misses, %d kept, %d emitted; want 1, 9, 1", r.Misses, kept, emitted)
	}
	same(t, "one changed", h.files, want)
	if len(*lines) > 0 {
		t.Errorf("debug lines: %q", *lines)
	}
}

// TestIndexMisses: an app the index misses is found in entries/.
func TestIndexMisses(t *testing.T) {
	fsys := synth.Workspace(10)
	_, _, want := reference(t, fsys)
	s, _ := openT(t, t.TempDir())
	h := newHolder()
	h.run(t, s, fsys)
	snap, idx, _ := indexOf(t, s, fsys)
	// The index without app-0003 (as another process might have written
	// it, from a workspace without that app).
	p := &packer{ids: map[string]uint64{}}
	var apps []indexed
	for _, a := range snap.Apps {
		if a.Dir != "app-0003" {
			e := indexed{Key: a.Key, App: *idx[a.Key], Uses: p.pack(idx[a.Key].Quota)}
			e.App.Quota = nil
			apps = append(apps, e)
		}
	}
	x, err := newIndex(p, apps)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(indexKey(snap.Key), x); err != nil {
		t.Fatal(err)
	}
	if _, idx, _ := indexOf(t, s, fsys); len(idx) != 9 {
		t.Fatalf("the index holds %d apps, want 9", len(idx))
	}
	r, kept, emitted := h.run(t, s, fsys)
	if r.Hits != 10 || r.Misses != 0 || kept != 9 || emitted != 1 {
		t.Errorf("%d hits, %d misses, %d kept, %d emitted; want 10, 0, 9, 1", r.Hits, r.Misses, kept, emitted)
	}
	same(t, "index without an app", h.files, want)
	// A tenth of the apps missing makes the index stale at 10 apps
	// (more than one in 16): it is written again, whole.
	if _, idx, _ := indexOf(t, s, fsys); len(idx) != 10 {
		t.Errorf("the index holds %d apps after the run, want 10", len(idx))
	}
}

// TestStaleIndex: the index is written again when missing, or when it
// misses more than one app in 16; a few new apps read their entries.
func TestStaleIndex(t *testing.T) {
	snap := &Snapshot{}
	idx := map[string]*App{}
	for i := range 100 {
		snap.Apps = append(snap.Apps, AppFiles{Dir: fmt.Sprint(i), Key: key(i)})
		idx[key(i)] = &App{}
	}
	for _, tc := range []struct {
		missing int
		found   bool
		want    bool
	}{{0, true, false}, {6, true, false}, {7, true, true}, {0, false, true}} {
		m := maps.Clone(idx)
		for i := range tc.missing {
			delete(m, key(i))
		}
		if got := staleIndex(m, tc.found, snap); got != tc.want {
			t.Errorf("%d of 100 missing, found %v: stale %v, want %v", tc.missing, tc.found, got, tc.want)
		}
	}
}

// TestCorruptIndex: a short, long or altered index, or one whose string
// references are out of range, is reported, removed and never used; the
// run takes the apps from their entries and writes the index again.
func TestCorruptIndex(t *testing.T) {
	fsys := synth.Workspace(6)
	_, _, want := reference(t, fsys)
	for name, corrupt := range map[string]func(s *Store, snap *Snapshot, p string){
		"short": func(_ *Store, _ *Snapshot, p string) { b, _ := os.ReadFile(p); os.WriteFile(p, b[:len(b)-3], 0o600) },
		"long":  func(_ *Store, _ *Snapshot, p string) { b, _ := os.ReadFile(p); os.WriteFile(p, append(b, 0), 0o600) },
		"altered": func(_ *Store, _ *Snapshot, p string) {
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0x40
			os.WriteFile(p, b, 0o600)
		},
		"out of range": func(s *Store, snap *Snapshot, _ string) {
			var x index
			if !s.Get(indexKey(snap.Key), &x) {
				panic("no index")
			}
			x.Uses[5] = uint64(len(x.Strings))
			s.Put(indexKey(snap.Key), x)
		},
		"words left over": func(s *Store, snap *Snapshot, _ string) {
			var x index
			if !s.Get(indexKey(snap.Key), &x) {
				panic("no index")
			}
			x.Uses = append(x.Uses, 0)
			s.Put(indexKey(snap.Key), x)
		},
		"part altered": func(s *Store, snap *Snapshot, _ string) {
			var x index
			if !s.Get(indexKey(snap.Key), &x) || len(x.Parts) < 2 {
				panic("no index of several parts")
			}
			x.Parts[1] = x.Parts[1][:len(x.Parts[1])/2]
			s.Put(indexKey(snap.Key), x)
		},
	} {
		t.Run(name, func(t *testing.T) {
			s, lines := openT(t, t.TempDir())
			h := newHolder()
			h.run(t, s, fsys)
			snap, _, _ := indexOf(t, s, fsys)
			p, _ := s.path(indexKey(snap.Key))
			corrupt(s, snap, p)
			r, kept, emitted := h.run(t, s, fsys)
			if r.Hits != 6 || kept != 0 || emitted != 6 {
				t.Errorf("%d hits, %d kept, %d emitted; want 6, 0, 6", r.Hits, kept, emitted)
			}
			same(t, name, h.files, want)
			if len(*lines) != 1 || !strings.Contains((*lines)[0], "corrupt") {
				t.Errorf("debug lines %q, want one about the corrupt index", *lines)
			}
			_, idx, ok := indexOf(t, s, fsys)
			if !ok || len(idx) != 6 {
				t.Errorf("the index was not written again: %d apps, %v", len(idx), ok)
			}
			sound(t, s, idx)
		})
	}
}

// TestPackedUse: every field of a quota use survives the index's packing
// (a field added to rules.QuotaUse and not packed fails here).
func TestPackedUse(t *testing.T) {
	var u rules.QuotaUse
	v := reflect.ValueOf(&u).Elem()
	for i := range v.NumField() {
		switch f := v.Field(i); f.Kind() {
		case reflect.String:
			f.SetString(fmt.Sprintf("s%d", i))
		case reflect.Int:
			f.SetInt(int64(i + 1))
		case reflect.Bool:
			f.SetBool(true)
		default:
			t.Fatalf("rules.QuotaUse.%s is a %s: teach packedUse", v.Type().Field(i).Name, f.Kind())
		}
	}
	u2 := u
	u2.Count, u2.Max = -3, false
	p := &packer{ids: map[string]uint64{}}
	n := p.pack([]rules.QuotaUse{u, u2})
	got, rest, ok := unpack(p.strings, p.uses, n)
	if !ok || len(got) != 2 || got[0] != u || got[1] != u2 || len(rest) != 0 {
		t.Errorf("unpack(pack(%+v, %+v)) = %+v, %v", u, u2, got, ok)
	}
	if _, _, ok := unpack(p.strings, p.uses[:len(p.uses)-1], n); ok {
		t.Error("unpack took too few words")
	}
}

// TestIndexConcurrentProcesses runs renders of four variants of one
// workspace (one platform, so one index) in several processes at once,
// each writing the index again and again; the index they leave is sound,
// and every variant renders right from it.
func TestIndexConcurrentProcesses(t *testing.T) {
	variant := func(k int) fstest.MapFS {
		fsys := synth.Workspace(8)
		for i := range 8 {
			if i%4 == k {
				f := fsys[fmt.Sprintf("apps/app-%04d/app.cue", i)]
				f.Data = bytes.Replace(f.Data, []byte("epochs: "), []byte("epochs: 1+"), 1)
			}
		}
		return fsys
	}
	if dir := os.Getenv("DMLS_INDEX_HAMMER"); dir != "" {
		var k int
		fmt.Sscan(os.Getenv("DMLS_INDEX_VARIANT"), &k)
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		s.Debug = func(format string, args ...any) { t.Errorf(format, args...) }
		h := newHolder()
		for round := range 6 {
			h.run(t, s, variant((k+round)%4))
		}
		return
	}
	dir := t.TempDir()
	processes(t, "TestIndexConcurrentProcesses", 4, func(k int) []string {
		return []string{"DMLS_INDEX_HAMMER=" + dir, fmt.Sprintf("DMLS_INDEX_VARIANT=%d", k)}
	})
	s, lines := openT(t, dir)
	_, idx, ok := indexOf(t, s, variant(0))
	if !ok || len(idx) == 0 {
		t.Fatalf("no index after the runs (%v)", ok)
	}
	sound(t, s, idx)
	for k := range 4 {
		fsys := variant(k)
		_, _, want := reference(t, fsys)
		h := newHolder()
		h.run(t, s, fsys)
		same(t, fmt.Sprintf("variant %d", k), h.files, want)
	}
	if len(*lines) > 0 {
		t.Errorf("debug lines: %q", *lines)
	}
}

// TestWholeStored: a built app carries the digest of its build.Kept, and
// so does its entry.
func TestWholeStored(t *testing.T) {
	fsys := synth.Workspace(3)
	s, _ := openT(t, t.TempDir())
	newHolder().run(t, s, fsys)
	snap, _, _ := indexOf(t, s, fsys)
	for _, k := range snap.Apps {
		var a App
		if !s.Get(k.Key, &a) {
			t.Fatalf("no entry for %s", k.Dir)
		}
		sum, err := wholeSum(&a)
		if err != nil || a.Whole != sum {
			t.Errorf("app %s: Whole %x, its fields hash to %x (%v)", a.Name, a.Whole, sum, err)
		}
	}
}

// TestIndexWithoutKept: a render that keeps nothing (into a new folder)
// writes the index when it builds more than one app in 16, as a cold
// render does, so that the next render into that folder has it.
func TestIndexWithoutKept(t *testing.T) {
	fsys := synth.Workspace(4)
	s, _ := openT(t, t.TempDir())
	opts := func() Options {
		o := newHolder().options(s)
		o.Kept = nil
		return o
	}
	snap, err := Read(fsys, "ws", "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(snap, opts()); err != nil {
		t.Fatal(err)
	}
	if _, idx, ok := indexOf(t, s, fsys); !ok || len(idx) != 4 {
		t.Fatalf("the cold render wrote an index of %d apps (%v), want 4", len(idx), ok)
	}
	for i := range 4 {
		fsys = synth.Workspace(4)
		f := fsys[fmt.Sprintf("apps/app-%04d/app.cue", i)]
		f.Data = bytes.Replace(f.Data, []byte("epochs: "), []byte("epochs: 1+"), 1)
		if snap, err = Read(fsys, "ws", "test"); err != nil {
			t.Fatal(err)
		}
		if _, err := Run(snap, opts()); err != nil {
			t.Fatal(err)
		}
	}
	// 4 apps: one built is more than one in 16, so the last render's
	// index holds its changed app.
	if _, idx, _ := indexOf(t, s, fsys); len(idx) != 4 {
		t.Errorf("the index holds %d of the last render's 4 apps", len(idx))
	}
}

// TestIndexPrune: the index is an entry that Prune takes like any other,
// and the apps it serves count as used: when it is first read in an
// hour, their entries' times are refreshed, so that Prune does not take
// them for unused.
func TestIndexPrune(t *testing.T) {
	fsys := synth.Workspace(3)
	s, _ := openT(t, t.TempDir())
	h := newHolder()
	h.run(t, s, fsys)
	snap, _, _ := indexOf(t, s, fsys)
	long := time.Now().Add(-40 * 24 * time.Hour)
	age := func(key string, at time.Time) string {
		p, _ := s.path(key)
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, a := range snap.Apps {
		age(a.Key, long)
	}
	age(indexKey(snap.Key), time.Now().Add(-2*time.Hour))
	if _, kept, _ := h.run(t, s, fsys); kept != 3 {
		t.Fatalf("%d apps kept from the index, want 3", kept)
	}
	if n, err := s.Prune(DefaultMaxAge, DefaultMaxBytes); err != nil || n != 0 {
		t.Errorf("Prune removed %d files (%v) of apps the index served", n, err)
	}
	// An index unused for long goes, and the next run does without it.
	p := age(indexKey(snap.Key), long)
	if _, err := s.Prune(DefaultMaxAge, DefaultMaxBytes); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("Prune left the old index: %v", err)
	}
	if r, kept, emitted := h.run(t, s, fsys); r.Hits != 3 || kept != 0 || emitted != 3 {
		t.Errorf("without the index: %d hits, %d kept, %d emitted; want 3, 0, 3", r.Hits, kept, emitted)
	}
}
