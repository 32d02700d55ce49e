package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/diag"
)

// TestRuleCoverage fails when a registered rule has no bad-spec case: a
// testscript in testdata/script that runs dmls (failing for an error,
// passing for a warning) and compares its output with a file naming the rule ("[rule-id]" in the
// messages, or "rule": "rule-id" in JSON), or a stderr pattern naming it.
// A backstop rule, which no spec that passes the schemas reaches, needs a
// case in internal/build's admission tests instead.
func TestRuleCoverage(t *testing.T) {
	scripts, err := filepath.Glob("testdata/script/*.txtar")
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	covered := map[string][]string{}
	for _, name := range scripts {
		a, err := txtar.ParseFile(name)
		if err != nil {
			t.Fatal(err)
		}
		files := map[string]string{}
		for _, f := range a.Files {
			files[f.Name] = string(f.Data)
		}
		failing := false
		for _, line := range strings.Split(string(a.Comment), "\n") {
			line = strings.TrimSpace(line)
			switch {
			case strings.HasPrefix(line, "! exec dmls"), strings.HasPrefix(line, "exec dmls"):
				// A finding is checked after a dmls command, failing
				// (an error) or not (a warning).
				failing = true
				continue
			case strings.HasPrefix(line, "exec "), strings.HasPrefix(line, "! exec "):
				failing = false
				continue
			}
			if !failing {
				continue
			}
			var text string
			if f := strings.Fields(line); len(f) == 3 && f[0] == "cmp" && (f[1] == "stderr" || f[1] == "stdout") {
				text = files[f[2]]
			} else if strings.HasPrefix(line, "stderr ") {
				text = strings.ReplaceAll(line, `\[`, "[")
				text = strings.ReplaceAll(text, `\]`, "]")
			}
			for _, r := range diag.Rules {
				if strings.Contains(text, "["+r.ID+"]") || strings.Contains(text, `"rule": "`+r.ID+`"`) {
					covered[r.ID] = append(covered[r.ID], filepath.Base(name))
				}
			}
		}
	}
	admission, err := os.ReadFile("../build/admission_test.go")
	if err != nil {
		t.Fatal(err)
	}
	// The rule constants that internal/build's admission cases expect.
	consts := map[string]string{
		"RuleCRDSchema": build.RuleCRDSchema, "RuleBuiltin": build.RuleBuiltin,
		"RuleTFJobAdmission": build.RuleTFJobAdmission, "RuleKnative": build.RuleKnative, "RuleArgoCD": build.RuleArgoCD,
	}
	backstop := map[string]bool{}
	for _, m := range regexp.MustCompile(`rule:\s*(Rule\w+)`).FindAllStringSubmatch(string(admission), -1) {
		backstop[consts[m[1]]] = true
	}
	for _, r := range diag.Rules {
		switch {
		case r.Backstop && !backstop[r.ID]:
			t.Errorf("backstop rule %s has no case in internal/build/admission_test.go", r.ID)
		case !r.Backstop && len(covered[r.ID]) == 0:
			t.Errorf("rule %s has no bad-spec case in testdata/script (a failing command whose output names [%s])", r.ID, r.ID)
		}
	}
}

// TestRuleIDsAreRegistered fails when a script expects a rule ID that is
// not in the registry.
func TestRuleIDsAreRegistered(t *testing.T) {
	scripts, _ := filepath.Glob("testdata/script/*.txtar")
	re := regexp.MustCompile(`\\?\[([a-z]+(?:-[a-z]+)+)\\?\]$`)
	for _, name := range scripts {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSuffix(strings.TrimSuffix(line, "'"), "$")
			if m := re.FindStringSubmatch(line); m != nil && !diag.KnownRule(m[1]) {
				t.Errorf("%s: rule %q is not in diag.Rules", filepath.Base(name), m[1])
			}
		}
	}
}
