package cli

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// oddSpecs are the client's fuzz seeds: specs of odd shapes.
func oddSpecs(t *testing.T) []string {
	b, err := os.ReadFile("../apiclient/testdata/odd-specs.json")
	if err != nil {
		t.Fatal(err)
	}
	var specs []string
	if err := json.Unmarshal(b, &specs); err != nil {
		t.Fatal(err)
	}
	return specs
}

// submitSeeds are specs a careless or hostile user might submit; issue 8,
// section 9: `overrides` that is not an object made dmls submit panic.

// TestSubmitOddOverrides runs dmls submit on each seed against a real API
// server: none panics, and each gets an answer (the server's 400 where the
// spec is wrong).
func TestSubmitOddOverrides(t *testing.T) {
	g := apiRepos(t)
	url := startAPI(t, g)
	t.Setenv(envServer, url)
	t.Setenv(envToken, cliToken)
	t.Setenv(envTeam, "")
	specs := oddSpecs(t)
	for i, s := range specs {
		code, out, errOut := dmls(t, "submit", "-f", writeFile(t, s))
		if code != ExitError && code != ExitUsage && code != ExitOK {
			t.Errorf("seed %d: exit %d: %s %s", i, code, out, errOut)
		}
		if code == ExitOK {
			continue
		}
		if errOut == "" {
			t.Errorf("seed %d %q: failed without a message", i, s)
		}
	}
	// The non-object overrides get the server's finding at overrides.
	code, _, errOut := dmls(t, "submit", "-f", writeFile(t, specs[0]))
	if code != ExitError || !containsAll(errOut, "400 Bad Request", "overrides") {
		t.Errorf("overrides: 5: exit %d: %s", code, errOut)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}
