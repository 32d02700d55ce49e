package workspace

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/spec"
)

// TestAPIAuth checks api.auth (issue 22): its defaults, that an api block
// of auth alone needs no api.image and installs nothing, that an http://
// issuer is refused at its line unless it is on a loopback address, and
// that auth beside an installed server keeps both.
func TestAPIAuth(t *testing.T) {
	defer SetVersion("(devel)")()
	load := func(t *testing.T, api string) (*spec.Workspace, error) {
		t.Helper()
		fsys := fstest.MapFS{
			"platform.cue":       {Data: []byte(testPlatform + "repos: \"ml-model\": url: \"https://git.example.com/ml.git\"\n" + api)},
			"overlays/dev.cue":   {Data: []byte(testDev)},
			"overlays/prod.cue":  {Data: []byte(testProd)},
			"apps/mnist/app.cue": {Data: []byte(testApp)},
		}
		return Load(fsys, "ws", Options{})
	}

	t.Run("defaults, auth alone", func(t *testing.T) {
		ws, err := load(t, "api: auth: oidc: {\n\tissuer: \"https://dex.example.com\"\n\tclientID: \"dmls-ui\"\n}\n")
		if err != nil {
			t.Fatal(err)
		}
		p := ws.Platform
		if p.API != nil {
			t.Errorf("api = %+v, want nil: an api block of auth alone installs nothing", p.API)
		}
		o := p.Auth.OIDC
		if o.Audience != "dmls-ui" || o.UsernameClaim != "email" || o.GroupsClaim != "groups" || o.ClockSkewSeconds != 60 || len(o.AdminGroups) != 0 {
			t.Errorf("defaults: %+v", o)
		}
	})

	t.Run("loopback http", func(t *testing.T) {
		for _, iss := range []string{"http://127.0.0.1:5556/dex", "http://[::1]:8080", "http://localhost:9000"} {
			if _, err := load(t, "api: auth: oidc: {issuer: \""+iss+"\", clientID: \"dmls\"}\n"); err != nil {
				t.Errorf("%s: %v", iss, err)
			}
		}
	})

	for _, tc := range []struct{ name, issuer, want string }{
		{"http elsewhere", "http://dex.example.com", "is http:// on a host that is not a loopback address"},
		{"query", "https://dex.example.com/?tenant=a", "has a query"},
		{"user info", "https://admin@dex.example.com", "user info"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, "api: auth: oidc: {\n\tclientID: \"dmls\"\n\tissuer: \""+tc.issuer+"\"\n}\n")
			var d diag.List
			if !errors.As(err, &d) || len(d) != 1 {
				t.Fatalf("Load: %v, want one finding", err)
			}
			f := d[0]
			if f.Path != "api.auth.oidc.issuer" || f.Pos.File != "ws/platform.cue" || f.Pos.Line != 10 || !strings.Contains(f.Message, tc.want) {
				t.Errorf("finding: %v (line %d), want %q at line 10", f, f.Pos.Line, tc.want)
			}
		})
	}

	t.Run("installed and auth", func(t *testing.T) {
		restore := SetVersion("v1.4.0")
		defer restore()
		ws, err := load(t, "api: {\n\treplicas: 1\n\tauth: serviceAccounts: \"ci/trainer\": \"research\"\n}\n")
		if err != nil {
			t.Fatal(err)
		}
		if ws.Platform.API == nil || ws.Platform.Auth == nil || ws.Platform.Auth.ServiceAccounts["ci/trainer"] != "research" {
			t.Errorf("api = %+v, auth = %+v", ws.Platform.API, ws.Platform.Auth)
		}
	})
}
