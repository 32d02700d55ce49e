package cli

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dmls-project/dmls/internal/apiclient"
	"github.com/dmls-project/dmls/internal/diag"
)

// TestAPIAgreesWithValidate submits bad app specs to the API and runs
// `dmls validate` over a workspace holding the same spec as a file: both
// must refuse it, with the same findings (path and message), because both
// call the loader (one rule, one place; issue 11).
func TestAPIAgreesWithValidate(t *testing.T) {
	g := apiRepos(t)
	url := startAPI(t, g)
	const team = "ml-research"
	tests := []struct {
		name    string
		section string // trainingjobs or modelservices
		body    string
		// want is a finding ("path: message", or part of it) that both
		// must report.
		want string
	}{
		{"replicas below 1", "trainingjobs",
			`{"name":"a","training":{"image":"registry.example.com/t:1","replicas":{"worker":{"replicas":0}}}}`,
			"must be at least 1"},
		{"unknown field", "trainingjobs",
			`{"name":"a","training":{"image":"registry.example.com/t:1","imag":"x","replicas":{"worker":{"replicas":1}}}}`,
			"field not allowed"},
		{"bad image", "trainingjobs",
			`{"name":"a","training":{"image":"Not An Image","replicas":{"worker":{"replicas":1}}}}`,
			"image reference"},
		{"no replica set", "trainingjobs",
			`{"name":"a","training":{"image":"registry.example.com/t:1"}}`,
			"at least one replica set"},
		{"over the prod limit", "trainingjobs",
			`{"name":"a","training":{"image":"registry.example.com/t:1","replicas":{"worker":{"replicas":2}}},"overrides":{"prod":{"training":{"replicas":{"worker":{"replicas":100}}}}}}`,
			"exceed the limit of 16"},
		{"latest in prod", "trainingjobs",
			`{"name":"a","training":{"image":"registry.example.com/t:1","replicas":{"worker":{"replicas":1}}},"overrides":{"prod":{"training":{"image":"registry.example.com/t:LATEST"}}}}`,
			"overrides.prod.training.image: environment prod refuses the tag \"LATEST\""},
		{"bad name", "trainingjobs",
			`{"name":"Bad_Name","training":{"image":"registry.example.com/t:1","replicas":{"worker":{"replicas":1}}}}`,
			"name: invalid value \"Bad_Name\": must be a DNS-1035 label"},
		{"registry not allowed in prod", "modelservices",
			`{"name":"a","serving":{"image":"quay.io/x/ranker:1.0"}}`,
			"registr"},
		{"autoscaling bounds", "modelservices",
			`{"name":"a","envs":["dev"],"serving":{"image":"registry.example.com/r:1","autoscaling":{"minScale":5,"maxScale":3}}}`,
			"Scale"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The API.
			req, err := http.NewRequest("POST", url+"/v1/teams/"+team+"/"+tt.section, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+cliToken)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var er apiclient.ErrorResponse
			err = json.NewDecoder(resp.Body).Decode(&er)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("API: status %d, want 400: %+v", resp.StatusCode, er)
			}
			var fromAPI []string
			for _, e := range er.Errors {
				fromAPI = append(fromAPI, e.Path+": "+e.Message)
			}

			// dmls validate, on the same spec as apps/a/app.json.
			ws := t.TempDir()
			files := apiWorkspace(t)
			var app map[string]any
			if err := json.Unmarshal([]byte(tt.body), &app); err != nil {
				t.Fatal(err)
			}
			app["team"] = team
			b, err := json.MarshalIndent(app, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			files["apps/a/app.json"] = string(b)
			for p, src := range files {
				p = filepath.Join(ws, filepath.FromSlash(p))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			code, out, errOut := dmls(t, "validate", "-w", ws, "-o", "json")
			if code != ExitError {
				t.Fatalf("validate: exit %d, want %d: %s %s", code, ExitError, out, errOut)
			}
			var report struct {
				Errors []diag.Diagnostic `json:"errors"`
			}
			if err := json.NewDecoder(bytes.NewReader([]byte(out))).Decode(&report); err != nil {
				t.Fatalf("validate -o json: %v: %s", err, out)
			}
			var fromCLI []string
			for _, d := range report.Errors {
				if !strings.HasPrefix(d.Pos.File, filepath.Join(ws, "apps", "a")) {
					t.Errorf("validate: finding outside the app's file: %s", d)
				}
				if s := d.Path + ": " + d.Message; !slices.Contains(fromCLI, s) {
					fromCLI = append(fromCLI, s)
				}
			}
			slices.Sort(fromAPI)
			slices.Sort(fromCLI)
			if !slices.Equal(fromAPI, fromCLI) {
				t.Errorf("the API and validate disagree:\nAPI:      %q\nvalidate: %q", fromAPI, fromCLI)
			}
			if !slices.ContainsFunc(fromCLI, func(s string) bool { return strings.Contains(s, tt.want) }) {
				t.Errorf("no finding contains %q: %q", tt.want, fromCLI)
			}
		})
	}
}
