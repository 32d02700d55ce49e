package cache

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type entry struct {
	Name string
	Data []byte
}

func key(i int) string { return fmt.Sprintf("%064x", i+1) }

func openT(t *testing.T, dir string) (*Store, *[]string) {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	s.Debug = func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, fmt.Sprintf(format, args...))
	}
	return s, &lines
}

func TestStoreRoundTrip(t *testing.T) {
	s, _ := openT(t, t.TempDir())
	var got entry
	if s.Get(key(0), &got) {
		t.Fatal("Get found an entry in an empty store")
	}
	want := entry{"a", []byte("apiVersion: v1\n")}
	if err := s.Put(key(0), want); err != nil {
		t.Fatal(err)
	}
	if !s.Get(key(0), &got) || got.Name != want.Name || !bytes.Equal(got.Data, want.Data) {
		t.Fatalf("Get = %+v, want %+v", got, want)
	}
	if err := s.Put("../x", want); err == nil {
		t.Error("Put took a key that is not a hex digest")
	}
}

// TestCorruptEntry checks that a corrupt or truncated entry is reported
// on the debug line, removed and never used, and that it is then rebuilt.
func TestCorruptEntry(t *testing.T) {
	corrupt := map[string]func([]byte) []byte{
		"truncated":      func(b []byte) []byte { return b[:len(b)-3] },
		"truncated-head": func(b []byte) []byte { return b[:10] },
		"empty":          func([]byte) []byte { return nil },
		"flipped": func(b []byte) []byte {
			b = bytes.Clone(b)
			b[len(b)-2] ^= 0x20
			return b
		},
		"longer":     func(b []byte) []byte { return append(bytes.Clone(b), 'x') },
		"bad-header": func(b []byte) []byte { b = bytes.Clone(b); b[0] = 'X'; return b },
		// A sound checksum over a payload that does not decode.
		"bad-payload": func([]byte) []byte { return seal([]byte("not gob")) },
	}
	for name, f := range corrupt {
		t.Run(name, func(t *testing.T) {
			s, lines := openT(t, t.TempDir())
			want := entry{"a", bytes.Repeat([]byte("kind: TFJob\n"), 50)}
			if err := s.Put(key(1), want); err != nil {
				t.Fatal(err)
			}
			p, _ := s.path(key(1))
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, f(b), 0o600); err != nil {
				t.Fatal(err)
			}
			var got entry
			if s.Get(key(1), &got) {
				t.Fatalf("a %s entry was used: %+v", name, got)
			}
			if len(*lines) != 1 || !strings.Contains((*lines)[0], "corrupt") {
				t.Errorf("debug lines = %q, want one about the corrupt entry", *lines)
			}
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Errorf("the corrupt entry was left in place: %v", err)
			}
			if err := s.Put(key(1), want); err != nil {
				t.Fatal(err)
			}
			if !s.Get(key(1), &got) || !bytes.Equal(got.Data, want.Data) {
				t.Error("the rebuilt entry does not read back")
			}
		})
	}
}

// value is what every writer writes under key(i): the same bytes, as a
// content-addressed entry must be.
func value(i int) entry {
	return entry{Name: fmt.Sprint("app-", i), Data: bytes.Repeat([]byte(fmt.Sprintf("line %d\n", i)), 200+i)}
}

// hammer puts and gets n keys many times and fails on any entry read
// back wrong.
func hammer(s *Store, n, rounds int) error {
	for r := 0; r < rounds; r++ {
		for i := 0; i < n; i++ {
			j := (i*7 + r) % n
			if err := s.Put(key(j), value(j)); err != nil {
				return err
			}
			var got entry
			if s.Get(key(j), &got) {
				if want := value(j); got.Name != want.Name || !bytes.Equal(got.Data, want.Data) {
					return fmt.Errorf("key %d read back wrong", j)
				}
			}
		}
	}
	return nil
}

func checkAll(t *testing.T, s *Store, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		var got entry
		if !s.Get(key(i), &got) || !bytes.Equal(got.Data, value(i).Data) {
			t.Errorf("entry %d is missing or wrong after concurrent writes", i)
		}
	}
	tmps, _ := filepath.Glob(filepath.Join(s.Dir(), "entries", "*", ".tmp-*"))
	if len(tmps) > 0 {
		t.Errorf("temporary files left: %v", tmps)
	}
}

func TestConcurrentGoroutines(t *testing.T) {
	dir := t.TempDir()
	s, lines := openT(t, dir)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for g := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[g] = hammer(s, 20, 5)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(*lines) > 0 {
		t.Errorf("debug lines: %q", *lines)
	}
	checkAll(t, s, 20)
}

// TestConcurrentProcesses runs several processes (this test binary) on
// one cache folder at once.
func TestConcurrentProcesses(t *testing.T) {
	if dir := os.Getenv("DMLS_CACHE_HAMMER"); dir != "" {
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		s.Debug = func(format string, args ...any) { t.Errorf(format, args...) }
		if err := hammer(s, 20, 5); err != nil {
			t.Fatal(err)
		}
		return
	}
	dir := t.TempDir()
	processes(t, "TestConcurrentProcesses", 4, func(int) []string { return []string{"DMLS_CACHE_HAMMER=" + dir} })
	s, _ := openT(t, dir)
	checkAll(t, s, 20)
}

// processes runs the test named test in n processes (this test binary)
// at once, process k with the environment variables env(k) added, and
// reports those that fail.
func processes(t *testing.T, test string, n int, env func(k int) []string) {
	t.Helper()
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for k := range n {
		c := exec.Command(os.Args[0], "-test.run", "^"+test+"$")
		c.Env = append(os.Environ(), env(k)...)
		var out bytes.Buffer
		c.Stdout, c.Stderr = &out, &out
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, c), append(outs, &out)
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Errorf("process %d: %v\n%s", i, err, outs[i])
		}
	}
}

func TestPrune(t *testing.T) {
	s, _ := openT(t, t.TempDir())
	for i := range 4 {
		if err := s.Put(key(i), value(i)); err != nil {
			t.Fatal(err)
		}
		p, _ := s.path(key(i))
		used := time.Now().Add(-time.Duration(4-i) * time.Hour * 24 * 10) // 40, 30, 20, 10 days ago
		os.Chtimes(p, used, used)
	}
	// Files dmls did not write, however old, in a --cache-dir that holds
	// them: never pruned.
	dir := filepath.Dir(filepath.Dir(func() string { p, _ := s.path(key(0)); return p }()))
	foreign := []string{filepath.Join(dir, "notes.txt"), filepath.Join(dir, "ab", "data.csv"), filepath.Join(dir, "mine", "abcdef0123")}
	old := time.Now().Add(-400 * 24 * time.Hour)
	for _, f := range foreign {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("the user's"), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(f, old, old)
	}
	defer func() {
		for _, f := range foreign {
			if _, err := os.Stat(f); err != nil {
				t.Errorf("Prune removed %s, which dmls did not write", f)
			}
		}
	}()
	// Unused for more than 25 days: the first two.
	if n, err := s.Prune(25*24*time.Hour, 1<<30); err != nil || n != 2 {
		t.Fatalf("Prune by age removed %d (%v), want 2", n, err)
	}
	// Over a size cap of one entry: the older of the other two goes.
	p3, _ := s.path(key(3))
	st, _ := os.Stat(p3)
	if n, err := s.Prune(DefaultMaxAge, st.Size()); err != nil || n != 1 {
		t.Fatalf("Prune by size removed %d (%v), want 1", n, err)
	}
	var got entry
	if s.Get(key(2), &got) || !s.Get(key(3), &got) {
		t.Error("Prune by size did not keep the most recently used entry")
	}
}

func TestDefaultDir(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/x/cache")
	if d, _ := DefaultDir(); d != "/x/cache/dmls" {
		t.Errorf("DefaultDir = %s with XDG_CACHE_HOME", d)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "/home/u")
	if d, _ := DefaultDir(); d != "/home/u/.cache/dmls" {
		t.Errorf("DefaultDir = %s without XDG_CACHE_HOME", d)
	}
}
