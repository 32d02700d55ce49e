package api

import (
	_ "embed"
	"encoding/json"
	"strings"

	"github.com/dmls-project/dmls/internal/apiclient"
	"github.com/dmls-project/dmls/internal/schema"
)

//go:embed api.cue
var apiCUE []byte

//go:embed status.cue
var statusCUE []byte

// Definitions of api.cue that bodies are validated against.
const (
	defRollout      = "#Rollout"
	defCanaryUpdate = "#CanaryUpdate"
	defTarget       = "#Target"
	defPromotion    = "#Promotion"
)

// nonAPISchemaFiles are schema files the API does not take: the platform
// and the environments are edited in git, not through the API, and the
// OpenAPI encoder cannot express some of their constraints (a disjunction
// with a default over a constrained string).
var nonAPISchemaFiles = []string{"platform.cue", "environment.cue"}

// requestBody names the body in findings of the schema check.
const requestBody = "request body"

// newAPISchema builds the app schemas of package schemas plus api.cue and
// status.cue with the loader's schema builder (schema.NewSchema), so
// that bodies are checked, and their findings worded, as spec files are.
func newAPISchema() (*schema.Schema, error) {
	return schema.NewSchema(schema.SchemaOptions{
		Omit: nonAPISchemaFiles,
		Extra: []schema.SchemaFile{
			{Name: "api.cue", Src: apiCUE},
			{Name: "status.cue", Src: statusCUE},
		},
	})
}

// checkBody checks a JSON body against the definition def and returns
// every finding, with paths relative to the body.
func checkBody(s *schema.Schema, def string, body []byte) []apiclient.FieldError {
	var x any
	if err := json.Unmarshal(body, &x); err != nil {
		return []apiclient.FieldError{{Message: "the body is not valid JSON: " + firstLine(err.Error())}}
	}
	if _, ok := x.(map[string]any); !ok {
		return []apiclient.FieldError{{Message: "the body must be a JSON object"}}
	}
	var out []apiclient.FieldError
	seen := map[string]bool{}
	for _, d := range s.CheckJSON(def, requestBody, body) {
		fe := apiclient.FieldError{Path: d.Path, Message: d.Message}
		if k := fe.Path + "\x00" + fe.Message; !seen[k] {
			seen[k] = true
			out = append(out, fe)
		}
	}
	return out
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
