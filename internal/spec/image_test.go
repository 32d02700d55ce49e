package spec

import "testing"

func TestReleaseImage(t *testing.T) {
	for v, want := range map[string]string{
		"v1.2.3":                  "ghcr.io/dmls-project/dmls:v1.2.3",
		"v0.9.0-rc.1":             "ghcr.io/dmls-project/dmls:v0.9.0-rc.1",
		"":                        "",
		"devel":                   "",
		"(devel)":                 "",
		"74dc06d":                 "",
		"v1.2.3-4-g74dc06d-dirty": "",
		"v1.2.3-dirty":            "",
		"1.2.3":                   "",
	} {
		got, ok := ReleaseImage(v)
		if got != want || ok != (want != "") {
			t.Errorf("ReleaseImage(%q) = %q, %v; want %q", v, got, ok, want)
		}
	}
}
