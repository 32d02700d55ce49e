package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/dmls-project/dmls/internal/apiclient"
)

// TestAnswerCarriesValidateWarnings is issue 18, section 3: an app in dev,
// whose policy.secretLiterals is "warn", with a secret-looking literal got
// 201 and "warnings: null", though validate warns of it. The dry run the
// console asks for before the user confirms, and the change itself, both
// carry every warning validate prints for the app.
func TestAnswerCarriesValidateWarnings(t *testing.T) {
	r := startRepos(t)
	ts := startServer(t, r)
	sub := trainingJob("leaky")
	sub.Envs = []string{"dev"}
	sub.Training.(map[string]any)["env"] = map[string]any{"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE"}
	body, _ := json.Marshal(sub)
	for _, path := range []string{"/v1/teams/ml-research/trainingjobs?dryRun=true", "/v1/teams/ml-research/trainingjobs"} {
		code, _, b := ts.do(t, "POST", path, researchToken, body)
		if code != http.StatusOK && code != http.StatusCreated {
			t.Fatalf("POST %s: %d %s", path, code, b)
		}
		var res apiclient.Result
		noErr(t, json.Unmarshal(b, &res))
		w := strings.Join(res.Warnings, "\n")
		if !strings.Contains(w, "warning: training.env.AWS_ACCESS_KEY_ID: ") || !strings.Contains(w, "[secret-literal]") ||
			!strings.Contains(w, `policy.secretLiterals is "warn" in environment dev`) {
			t.Errorf("POST %s: warnings %q, want the secret-literal warning at training.env.AWS_ACCESS_KEY_ID", path, res.Warnings)
		}
	}
	// A clean change has none.
	body, _ = json.Marshal(trainingJob("clean"))
	code, _, b := ts.do(t, "POST", "/v1/teams/ml-research/trainingjobs?dryRun=true", researchToken, body)
	if code != http.StatusOK || strings.Contains(string(b), "secret-literal") {
		t.Errorf("a clean dry run: %d %s", code, b)
	}
}

// notValidate returns the warnings of an answer that are not validate's
// findings about the app (appWarnings): those about the server's work,
// such as a config publish that will be retried.
func notValidate(warnings []string) []string {
	var out []string
	for _, w := range warnings {
		if !strings.HasPrefix(w, "warning: ") {
			out = append(out, w)
		}
	}
	return out
}
