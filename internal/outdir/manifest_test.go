package outdir

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dmls-project/dmls/generators"
)

func ino(t *testing.T, p string) uint64 {
	t.Helper()
	st, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Ino
}

// settled writes tree to a new dir twice, so that the manifest's records
// are older than the manifest (not racy, see adopt): the second write
// keeps every file, whose time is the first write's.
func settled(t *testing.T, tree generators.Tree) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "out")
	if err := Write(dir, tree, Options{}); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	for p := range tree {
		if err := os.Chtimes(filepath.Join(dir, p), old, old); err != nil {
			t.Fatal(err)
		}
	}
	if err := Write(dir, tree, Options{}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestManifest: the manifest lists every file dmls wrote, with what
// adopt checks; a changed, short or long manifest is ignored.
func TestManifest(t *testing.T) {
	dir := settled(t, tree)
	b, err := os.ReadFile(filepath.Join(dir, Manifest))
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != len(tree) {
		t.Fatalf("the manifest lists %d files, want %d", len(m), len(tree))
	}
	for p, data := range tree {
		st, _ := os.Lstat(filepath.Join(dir, p))
		r := m[p]
		if r.sum != sha256.Sum256(data) || r.size != st.Size() || r.ino != ino(t, filepath.Join(dir, p)) || r.mtime != st.ModTime().UnixNano() {
			t.Errorf("%s: the manifest says %+v, the file is %v %v", p, r, st.Size(), st.ModTime())
		}
	}
	for name, bad := range map[string][]byte{
		"short":   b[:len(b)-5],
		"long":    append(append([]byte{}, b...), "x\n"...),
		"altered": bytes.Replace(b, []byte(" dev/a.yaml"), []byte(" dev/b.yaml"), 1),
		"empty":   nil,
	} {
		if _, err := parseManifest(bad); err == nil {
			t.Errorf("a %s manifest was taken", name)
		}
	}
}

// TestKeep: Keep puts in place the old files the manifest vouches for,
// and refuses every file the user touched: changed in place, replaced,
// removed or added by hand.
func TestKeep(t *testing.T) {
	files := generators.Tree{"dev/same.yaml": []byte("same\n"), "dev/edited.yaml": []byte("mine\n"), "dev/replaced.yaml": []byte("r\n"),
		"dev/removed.yaml": []byte("gone\n"), "dev/racy.yaml": []byte("racy\n"), "prod/other.yaml": []byte("o\n")}
	dir := settled(t, files)
	at := func(p string) string { return filepath.Join(dir, p) }
	sum := func(p string) [sha256.Size]byte { return sha256.Sum256(files[p]) }
	// The user's hand.
	write(t, at("dev/edited.yaml"), "edit\n")
	// Replaced by another file of the same size and time: only the
	// inode tells.
	was, _ := os.Lstat(at("dev/replaced.yaml"))
	write(t, at("dev/replaced.yaml.new"), "R\n")
	os.Chtimes(at("dev/replaced.yaml.new"), was.ModTime(), was.ModTime())
	if err := os.Rename(at("dev/replaced.yaml.new"), at("dev/replaced.yaml")); err != nil {
		t.Fatal(err)
	}
	os.Remove(at("dev/removed.yaml"))
	write(t, at("dev/added.yaml"), "added\n")

	s, err := Create(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Abort()
	for p, want := range map[string]bool{
		"dev/same.yaml": true, "prod/other.yaml": true,
		"dev/edited.yaml": false, "dev/replaced.yaml": false, "dev/removed.yaml": false,
	} {
		if got := s.Keep(p, sum(p)); got != want {
			t.Errorf("Keep(%s) = %v, want %v", p, got, want)
		}
	}
	if s.Keep("dev/added.yaml", sha256.Sum256([]byte("added\n"))) {
		t.Error("Keep took a file the manifest does not list")
	}
	if s.Keep("dev/same.yaml", sum("dev/same.yaml")) {
		t.Error("Keep took a file twice")
	}
	// Keep with other bytes than the manifest's.
	if s.Keep("dev/x.yaml", sha256.Sum256([]byte("x"))) {
		t.Error("Keep took a file that is not there")
	}
	if !s.Keep("dev/racy.yaml", sum("dev/racy.yaml")) {
		t.Error("Keep refused an unchanged file")
	}
	for _, p := range []string{"dev/edited.yaml", "dev/replaced.yaml", "dev/removed.yaml"} {
		if err := s.Add(p, files[p]); err != nil {
			t.Fatal(err)
		}
	}
	// A kept file Added with other bytes is replaced, never written
	// through: the old output's file stays as it was until the commit.
	if err := s.Add("prod/other.yaml", []byte("new\n")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(at("prod/other.yaml")); string(b) != "o\n" {
		t.Errorf("the old output's file changed before the commit: %q", b)
	}
	// A kept file Added with its bytes stays kept.
	before := ino(t, at("dev/same.yaml"))
	if err := s.Add("dev/same.yaml", files["dev/same.yaml"]); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	got := snapshot(t, dir)
	want := map[string]string{"dev": "<dir>", "prod": "<dir>", Marker: string(markerText), Manifest: got[Manifest], "prod/other.yaml": "new\n"}
	for p, b := range files {
		if p != "prod/other.yaml" {
			want[p] = string(b)
		}
	}
	if !equal(got, want) {
		t.Errorf("the output holds\n%v\nwant\n%v", got, want)
	}
	if ino(t, at("dev/same.yaml")) != before {
		t.Error("the kept file was written again")
	}
	b, _ := os.ReadFile(at(Manifest))
	m, err := parseManifest(b)
	if err != nil || len(m) != len(files) || m["prod/other.yaml"].sum != sha256.Sum256([]byte("new\n")) {
		t.Errorf("the new manifest is %v (%v)", m, err)
	}
}

// TestKeepRacy: a file changed in the manifest's clock tick, with its
// time as it was, is read, not taken on the manifest's word; one whose
// time is before the manifest's is.
func TestKeepRacy(t *testing.T) {
	files := generators.Tree{"dev/racy.yaml": []byte("racy\n"), "dev/trusted.yaml": []byte("trusted\n")}
	dir := settled(t, files)
	at := func(p string) string { return filepath.Join(dir, p) }
	st, _ := os.Lstat(at("dev/racy.yaml"))
	for p, b := range map[string]string{"dev/racy.yaml": "RACY\n", "dev/trusted.yaml": "TRUSTED\n"} {
		write(t, at(p), b)
		os.Chtimes(at(p), st.ModTime(), st.ModTime())
	}
	// The manifest one nanosecond after the files: not racy.
	later := st.ModTime().Add(time.Nanosecond)
	os.Chtimes(at(Manifest), later, later)
	s, err := Create(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Keep("dev/trusted.yaml", sha256.Sum256(files["dev/trusted.yaml"])) {
		t.Error("Keep read a file the manifest vouches for (the test's premise)")
	}
	s.Abort()
	// The manifest in the files' tick: racy.
	os.Chtimes(at(Manifest), st.ModTime(), st.ModTime())
	s, err = Create(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Abort()
	if s.Keep("dev/racy.yaml", sha256.Sum256(files["dev/racy.yaml"])) {
		t.Error("Keep took a racy file on the manifest's word")
	}
}

// TestKeepWithoutManifest: an old output without a sound manifest (an
// older dmls, a damaged file) is read: Keep takes what holds the bytes.
func TestKeepWithoutManifest(t *testing.T) {
	dir := settled(t, tree)
	b, _ := os.ReadFile(filepath.Join(dir, Manifest))
	os.WriteFile(filepath.Join(dir, Manifest), bytes.Replace(b, []byte("dev/a.yaml"), []byte("dev/c.yaml"), 1), 0o644)
	write(t, filepath.Join(dir, "prod/a.yaml"), "a: 3\n")
	s, err := Create(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Abort()
	if s.old != nil {
		t.Fatal("a damaged manifest was taken")
	}
	if !s.Keep("dev/a.yaml", sha256.Sum256(tree["dev/a.yaml"])) {
		t.Error("Keep refused a file that holds the bytes")
	}
	if s.Keep("prod/a.yaml", sha256.Sum256(tree["prod/a.yaml"])) {
		t.Error("Keep took a file that the user changed")
	}
}

// TestManifestNewline: a path with a newline is not listed, so it is
// never kept.
// TestManifestTooLarge checks that a manifest file over the bound is not
// read, sound or not: the folder counts as one without a manifest.
func TestManifestTooLarge(t *testing.T) {
	dir := settled(t, tree)
	root, err := os.OpenRoot(filepath.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	name := filepath.Join(filepath.Base(dir), Manifest)
	if m, _ := readManifest(root, name); len(m) != len(tree) {
		t.Fatalf("the manifest as written: %d files, want %d", len(m), len(tree))
	}
	st, err := os.Stat(filepath.Join(dir, Manifest))
	if err != nil {
		t.Fatal(err)
	}
	defer func(max int64) { maxManifestBytes = max }(maxManifestBytes)
	maxManifestBytes = st.Size() - 1 // the sound manifest, one byte over
	if m, _ := readManifest(root, name); m != nil {
		t.Errorf("a manifest of %d bytes was read, over the bound of %d", st.Size(), maxManifestBytes)
	}
}

func TestManifestNewline(t *testing.T) {
	m := manifest{"a\nb": {}, "c": {size: 1}}
	got, err := parseManifest(m.encode())
	if err != nil || len(got) != 1 || got["c"].size != 1 || strings.Contains(string(m.encode()), "a\nb") {
		t.Errorf("parse(encode) = %v, %v", got, err)
	}
}
