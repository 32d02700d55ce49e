package layering

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// list runs go list -deps on the module, as the build sees it (tests'
// own imports are not part of the structure).
func list(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports,Deps", Module+"/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 40 {
		t.Fatalf("go list found %d packages; run from the module", len(pkgs))
	}
	return pkgs
}

func rel(path string) (string, bool) {
	if path == Module {
		return "", true
	}
	return strings.CutPrefix(path, Module+"/")
}

// TestLayering checks every import of every package of the module against
// the levels: no package imports one above it, and the siblings never
// import each other.
func TestLayering(t *testing.T) {
	pkgs := list(t)
	for _, p := range pkgs {
		from, _ := rel(p.ImportPath)
		lf, ok := LevelOf(from)
		if !ok {
			t.Errorf("%s has no level; give it one in Levels (internal/layering) where its imports say", from)
			continue
		}
		for _, imp := range p.Imports {
			to, ours := rel(imp)
			if !ours {
				continue
			}
			lt, ok := LevelOf(to)
			if !ok {
				continue // reported as a package of its own
			}
			if lt > lf {
				t.Errorf("%s (level %d) imports %s (level %d), a package above it", from, lf, to, lt)
			}
			for i, g := range Siblings {
				for j, h := range Siblings {
					if i != j && Match(from, g) && Match(to, h) {
						t.Errorf("%s imports %s: siblings never import each other", from, to)
					}
				}
			}
		}
	}
}

// TestCUEFree checks that the model and what reads it do not depend on
// CUE, directly or through another package.
func TestCUEFree(t *testing.T) {
	for _, p := range list(t) {
		from, _ := rel(p.ImportPath)
		if !Match(from, CUEFree) {
			continue
		}
		for _, d := range p.Deps {
			if strings.HasPrefix(d, "cuelang.org/") {
				t.Errorf("%s depends on CUE (%s)", from, d)
				break
			}
		}
	}
}

// TestRulesCatchViolations feeds the checks a made-up import of each kind,
// so that a change to LevelOf or Match cannot quietly pass everything.
func TestRulesCatchViolations(t *testing.T) {
	up := func(from, to string) bool {
		lf, _ := LevelOf(from)
		lt, _ := LevelOf(to)
		return lt > lf
	}
	if !up("internal/workspace", "internal/build") {
		t.Error("the loader importing build is not caught")
	}
	if !up("generators/tfjob", "internal/status") {
		t.Error("a generator importing status is not caught")
	}
	if up("internal/cli", "internal/spec") {
		t.Error("cli importing spec is refused")
	}
	if l, ok := LevelOf("generators/argocd"); !ok || l != 6 {
		t.Errorf("generators/argocd: level %d, %v", l, ok)
	}
	if _, ok := LevelOf("internal/nosuch"); ok {
		t.Error("an unknown package has a level")
	}
	if !Match("generators/kops", Siblings[1]) || Match("internal/workspace", Siblings[1]) {
		t.Error("Match does not tell the siblings apart")
	}
}
