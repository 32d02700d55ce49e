package schema

import (
	"slices"
	"strings"
	"testing"
)

// TestFriendlyMessages fails when a key of friendly names no pattern of
// the schemas (a pattern moved or was renamed), which would show users a
// raw regexp again.
func TestFriendlyMessages(t *testing.T) {
	named := map[string]bool{}
	for _, key := range patterns() {
		named[key] = true
	}
	for key := range friendly {
		if !named[key] {
			t.Errorf("friendly[%q] names no pattern in the schemas", key)
		}
	}
	if got := humanize(`invalid value "Bad_Name" (out of bound =~"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")`); got != `invalid value "Bad_Name": `+friendly["#Name"] {
		t.Errorf("humanize: %s", got)
	}
}

// TestEnumsFromSchema checks that the enums are read from the parsed
// schemas in their written order.
func TestEnumsFromSchema(t *testing.T) {
	got := enumOrder([]string{`"Never"`, `"OnFailure"`, `"Always"`, `"ExitCode"`})
	if want := []string{`"Always"`, `"OnFailure"`, `"Never"`, `"ExitCode"`}; !slices.Equal(got, want) {
		t.Errorf("enumOrder = %v, want the schema's order %v", got, want)
	}
	if got := enumOrder([]string{`"b"`, `"a"`}); !slices.Equal(got, []string{`"a"`, `"b"`}) {
		t.Errorf("an enum the schemas lack sorts: %v", got)
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
