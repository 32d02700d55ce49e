package schema

import (
	"strings"
	"testing"
)

// TestFriendlyMessages fails when a schema pattern changes without its
// entry in friendly, which would show users a raw regexp.
func TestFriendlyMessages(t *testing.T) {
	for _, f := range friendly {
		found := false
		entries, _ := schemaFiles()
		for _, src := range entries {
			if strings.Contains(src, f.pattern) {
				found = true
			}
		}
		if !found {
			t.Errorf("pattern %s is in no schema file", f.pattern)
		}
	}
}

// TestValidAppName checks the API's and the importer's name check against
// the schema's #AppName.
func TestValidAppName(t *testing.T) {
	for name, want := range map[string]bool{
		"mnist": true, "a": true, "fashion-mnist-2": true, strings.Repeat("a", 63): true,
		"": false, "2mnist": false, "Mnist": false, "mnist-": false, "mn_ist": false, strings.Repeat("a", 64): false,
	} {
		if got := ValidAppName(name); got != want {
			t.Errorf("ValidAppName(%q) = %v, want %v", name, got, want)
		}
	}
}
