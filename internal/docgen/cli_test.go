package docgen

import (
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
)

// repoRoot is the repository root, seen from this package's folder.
const repoRoot = "../.."

// TestCLIReferenceIsCurrent fails when docs/cli is not what the command
// tree gives now: a page differs, is missing, or names a command that is
// gone. `make docs` rewrites the folder.
func TestCLIReferenceIsCurrent(t *testing.T) {
	want, err := CLIReference()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := want["dmls.md"]; !ok || len(want) < 10 {
		t.Fatalf("the reference has %d pages and no dmls.md: %v", len(want), slices.Sorted(maps.Keys(want)))
	}
	dir := filepath.Join(repoRoot, CLIDir)
	for _, name := range slices.Sorted(maps.Keys(want)) {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s/%s: %v; run make docs", CLIDir, name, err)
			continue
		}
		if string(got) != string(want[name]) {
			t.Errorf("%s/%s is not what the command tree gives now; run make docs", CLIDir, name)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, ok := want[e.Name()]; !ok {
			t.Errorf("%s/%s documents no command; run make docs", CLIDir, e.Name())
		}
	}
}

// TestCLIReferenceIsDeterministic makes the reference twice, on machines
// of a different size (GOMAXPROCS), and requires the same bytes, no date
// and no value of this machine.
func TestCLIReferenceIsDeterministic(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	one, err := CLIReference()
	if err != nil {
		t.Fatal(err)
	}
	runtime.GOMAXPROCS(7)
	seven, err := CLIReference()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(slices.Sorted(maps.Keys(one)), " ") != strings.Join(slices.Sorted(maps.Keys(seven)), " ") {
		t.Fatalf("pages differ: %v and %v", slices.Sorted(maps.Keys(one)), slices.Sorted(maps.Keys(seven)))
	}
	for name := range one {
		if string(one[name]) != string(seven[name]) {
			t.Errorf("%s differs between GOMAXPROCS 1 and 7", name)
		}
		if strings.Contains(string(one[name]), "Auto generated") {
			t.Errorf("%s carries cobra's dated Auto generated line", name)
		}
	}
	if serve := string(one["dmls_serve.md"]); !strings.Contains(serve, "(default GOMAXPROCS)") {
		t.Errorf("dmls_serve.md does not name the rule of --eval-workers' default:\n%s", serve)
	}
}

// TestWriteCLIReference writes the reference into a folder that holds a
// stale page and a file of another kind: the stale page goes, the other
// file stays, and every page is written.
func TestWriteCLIReference(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"dmls_gone.md": "old", "notes.txt": "mine", "dmls.md": "stale"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteCLIReference(dir); err != nil {
		t.Fatal(err)
	}
	want, err := CLIReference()
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	wantNames := append(slices.Sorted(maps.Keys(want)), "notes.txt")
	sort.Strings(wantNames)
	if strings.Join(got, " ") != strings.Join(wantNames, " ") {
		t.Fatalf("folder holds %v, want %v", got, wantNames)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "dmls.md")); string(b) != string(want["dmls.md"]) {
		t.Errorf("dmls.md was not rewritten:\n%s", b)
	}
}
