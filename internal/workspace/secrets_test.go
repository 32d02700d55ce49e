package workspace

import (
	"strings"
	"testing"

	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/secrets"
)

// TestSecretStores: a secret's store comes from the secret, else the
// environment, else the platform, and its provenance points there.
func TestSecretStores(t *testing.T) {
	ws, err := Load(fsWith(map[string]string{
		"platform.cue":      testPlatform + "secretStore: name: \"vault\"\n",
		"overlays/prod.cue": testProd + "secretStore: {name: \"prod-vault\", kind: \"SecretStore\"}\n",
		"apps/mnist/app.cue": testApp + `secrets: db: data: password: key: "ml/db"
secrets: own: {data: k: key: "x", store: name: "own"}
training: env: P: secretRef: {name: "db", key: "password"}
`,
	}), "ws", Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := ws.App("mnist")
	for env, want := range map[string]string{"dev": "vault/ClusterSecretStore", "prod": "prod-vault/SecretStore"} {
		in := a.Instance(env)
		st := in.Spec.Secrets["db"].Store
		if st == nil || st.Name+"/"+st.Kind != want {
			t.Errorf("%s: store %+v, want %s", env, st, want)
		}
		if own := in.Spec.Secrets["own"].Store; own.Name != "own" {
			t.Errorf("%s: the secret's own store was replaced by %+v", env, own)
		}
		pos, _ := in.Prov.Lookup("secrets.db.store")
		wantFile := map[string]string{"dev": "ws/platform.cue", "prod": "ws/overlays/prod.cue"}[env]
		if pos.File != wantFile {
			t.Errorf("%s: store provenance %v, want %s", env, pos, wantFile)
		}
	}
}

// TestSecretLiteralPolicy: the severity of a secret literal follows the
// policy of the environments that get it.
func TestSecretLiteralPolicy(t *testing.T) {
	tests := []struct {
		name     string
		dev      string
		app      string
		wantErr  bool
		wantWarn bool
	}{
		{"default policy is error", testDev, `training: env: T: "ghp_16C7e42F292c6912E7710c838347Ae178B4a"`, true, false},
		{"base literal, one env refuses", testDev + "policy: secretLiterals: \"warn\"\n", `training: env: T: "ghp_16C7e42F292c6912E7710c838347Ae178B4a"`, true, false},
		{"override in a warn env", testDev + "policy: secretLiterals: \"warn\"\n", `overrides: dev: training: env: T: "ghp_16C7e42F292c6912E7710c838347Ae178B4a"`, false, true},
		{"override in an error env", testDev + "policy: secretLiterals: \"warn\"\n", `overrides: prod: training: env: T: "ghp_16C7e42F292c6912E7710c838347Ae178B4a"`, true, false},
		{"app only in a warn env", testDev + "policy: secretLiterals: \"warn\"\n", `envs: ["dev"]` + "\n" + `training: env: T: "ghp_16C7e42F292c6912E7710c838347Ae178B4a"`, false, true},
		{"no literal", testDev, `training: env: LOG_LEVEL: "debug"`, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := testApp
			if strings.HasPrefix(tt.app, "envs:") {
				base = strings.Replace(base, "overrides: prod: training: replicas: worker: replicas: 8\n", "", 1)
			}
			ws, err := Load(fsWith(map[string]string{
				"overlays/dev.cue":   tt.dev,
				"apps/mnist/app.cue": base + tt.app + "\n",
			}), "ws", Options{})
			var errs diag.List
			if err != nil {
				errs = err.(diag.List)
			}
			if (len(errs) > 0) != tt.wantErr {
				t.Fatalf("errors = %v, want errors: %v", errs, tt.wantErr)
			}
			var warns diag.List
			if ws != nil {
				warns = ws.Warnings
			}
			if (len(warns) > 0) != tt.wantWarn {
				t.Fatalf("warnings = %v, want warnings: %v", warns, tt.wantWarn)
			}
			for _, d := range append(errs, warns...) {
				if d.Rule != secrets.Rule || !strings.Contains(d.Message, "secretRef: {name:") || d.Pos.Line == 0 {
					t.Errorf("finding %q lacks the rule, the secretRef form or its line", d)
				}
			}
		})
	}
}
