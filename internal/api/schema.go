package api

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/parser"
	cuejson "cuelang.org/go/encoding/json"
	"cuelang.org/go/encoding/openapi"

	"github.com/dmls-project/dmls/internal/apiclient"
	"github.com/dmls-project/dmls/schemas"
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
var nonAPISchemaFiles = map[string]bool{"platform.cue": true, "environment.cue": true}

// apiSchema is the app schemas of package schemas plus api.cue, built
// once. A CUE context is not safe for concurrent use, so validate holds a
// lock.
type apiSchema struct {
	mu    sync.Mutex
	ctx   *cue.Context
	value cue.Value
}

func newAPISchema() (*apiSchema, error) {
	ctx := cuecontext.New()
	inst := build.NewContext().NewInstance("schemas", nil)
	entries, err := fs.ReadDir(schemas.FS, ".")
	if err != nil {
		return nil, fmt.Errorf("read embedded schemas: %w", err)
	}
	add := func(name string, src []byte) error {
		f, err := parser.ParseFile(name, src, parser.ParseComments)
		if err != nil {
			return fmt.Errorf("parse %s: %w", name, err)
		}
		return inst.AddSyntax(f)
	}
	for _, e := range entries {
		if path.Ext(e.Name()) != ".cue" || nonAPISchemaFiles[e.Name()] {
			continue
		}
		src, err := fs.ReadFile(schemas.FS, e.Name())
		if err != nil {
			return nil, fmt.Errorf("read embedded schema %s: %w", e.Name(), err)
		}
		if err := add("schemas/"+e.Name(), src); err != nil {
			return nil, err
		}
	}
	if err := add("internal/api/api.cue", apiCUE); err != nil {
		return nil, err
	}
	if err := add("internal/api/status.cue", statusCUE); err != nil {
		return nil, err
	}
	v := ctx.BuildInstance(inst)
	if err := v.Err(); err != nil {
		return nil, fmt.Errorf("build API schema: %s", cueerrors.Details(err, nil))
	}
	return &apiSchema{ctx: ctx, value: v}, nil
}

// validate checks a JSON body against the definition def and returns
// every finding, with paths relative to the body.
func (s *apiSchema) validate(def string, body []byte) []apiclient.FieldError {
	s.mu.Lock()
	defer s.mu.Unlock()
	x, err := cuejson.Extract("body.json", body)
	if err != nil {
		return []apiclient.FieldError{{Message: "the body is not valid JSON: " + firstLine(err.Error())}}
	}
	v := s.ctx.BuildExpr(x)
	if err := v.Err(); err != nil {
		return []apiclient.FieldError{{Message: "the body is not valid JSON: " + firstLine(err.Error())}}
	}
	if v.IncompleteKind() != cue.StructKind {
		return []apiclient.FieldError{{Message: "the body must be a JSON object"}}
	}
	u := s.value.LookupPath(cue.ParsePath(def)).Unify(v)
	err = u.Validate(cue.Concrete(true), cue.Final())
	if err == nil {
		return nil
	}
	var out []apiclient.FieldError
	seen := map[string]bool{}
	for _, e := range cueerrors.Errors(err) {
		sels := e.Path()
		if len(sels) > 0 && sels[0] == def {
			sels = sels[1:]
		}
		format, args := e.Msg()
		fe := apiclient.FieldError{Path: strings.Join(sels, "."), Message: fmt.Sprintf(format, args...)}
		if fe.Message == "field not allowed" {
			fe.Message = "field not allowed (unknown field; see /openapi.json)"
		}
		if k := fe.Path + "\x00" + fe.Message; !seen[k] {
			seen[k] = true
			out = append(out, fe)
		}
	}
	return out
}

// components returns the OpenAPI schemas of every definition, generated
// by CUE's OpenAPI encoder, with their doc comments as descriptions.
func (s *apiSchema) components() (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := openapi.Generate(s.value, &openapi.Config{
		Version: "3.0.0",
		Info:    map[string]string{"title": "dmls", "version": "v1"},
	})
	if err != nil {
		return nil, fmt.Errorf("generate OpenAPI schemas: %s", cueerrors.Details(err, nil))
	}
	v := s.ctx.BuildFile(f)
	if err := v.Err(); err != nil {
		return nil, fmt.Errorf("generate OpenAPI schemas: %w", err)
	}
	b, err := v.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode OpenAPI schemas: %w", err)
	}
	var doc struct {
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("decode OpenAPI schemas: %w", err)
	}
	return doc.Components.Schemas, nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
