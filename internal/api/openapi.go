package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// openAPI writes the OpenAPI 3 document: the schemas come from CUE (the
// app schemas and api.cue, by CUE's OpenAPI encoder), the paths from the
// route table that also registers the handlers.
func (s *Server) openAPI(routes []*route) ([]byte, error) {
	schemas, err := s.schema.OpenAPIComponents()
	if err != nil {
		return nil, err
	}
	paths := map[string]map[string]any{}
	for _, rt := range routes {
		op, err := operationOf(rt, schemas)
		if err != nil {
			return nil, err
		}
		if paths[rt.path] == nil {
			paths[rt.path] = map[string]any{}
		}
		paths[rt.path][strings.ToLower(rt.method)] = op
	}
	doc := map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":   "dmls API",
			"version": "v1",
			"description": "Submit and change training jobs and model services over HTTP. Every change is a commit " +
				"to the ml-model repo (the specs) and to the config repos (the generated Kubernetes objects), which " +
				"Argo CD deploys. Bodies use the schemas of the spec files. Changes accept an Idempotency-Key header.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": schemas,
			"securitySchemes": map[string]any{
				"bearer": map[string]any{"type": "http", "scheme": "bearer", "description": "A team's token."},
			},
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}

var pathParamRE = regexp.MustCompile(`\{([a-z]+)\}`)

var paramDocs = map[string]string{
	"team": "The team that owns the app; the token's team.",
	"app":  "The app's name.",
}

func ref(def string) map[string]any {
	return map[string]any{"$ref": "#/components/schemas/" + strings.TrimPrefix(def, "#")}
}

func operationOf(rt *route, schemas map[string]any) (map[string]any, error) {
	check := func(def string) error {
		if _, ok := schemas[strings.TrimPrefix(def, "#")]; !ok {
			return fmt.Errorf("route %s %s: no schema %s", rt.method, rt.path, def)
		}
		return nil
	}
	op := map[string]any{"operationId": rt.id, "summary": rt.summary}
	var params []any
	for _, m := range pathParamRE.FindAllStringSubmatch(rt.path, -1) {
		params = append(params, map[string]any{"name": m[1], "in": "path", "required": true,
			"description": paramDocs[m[1]], "schema": ref("#Name")})
	}
	for _, q := range rt.query {
		params = append(params, map[string]any{"name": q.name, "in": "query", "description": q.description,
			"schema": map[string]any{"type": q.typ}})
	}
	if rt.mutation {
		params = append(params, map[string]any{"name": queryDryRun, "in": "query",
			"description": "true: check the change and answer with its preview (dryRun, preview: the summary and risks of dmls diff), committing nothing.",
			"schema":      map[string]any{"type": "boolean"}})
		params = append(params, map[string]any{"name": "Idempotency-Key", "in": "header",
			"description": "Repeating a request with the same key returns the first answer and makes no second commit.",
			"schema":      map[string]any{"type": "string", "maxLength": maxIdempotencyKeyLen}})
	}
	if len(params) > 0 {
		op["parameters"] = params
	}
	if rt.body != "" {
		if err := check(rt.body); err != nil {
			return nil, err
		}
		ct := rt.contentType
		if ct == "" {
			ct = "application/json"
		}
		op["requestBody"] = map[string]any{"required": true, "content": map[string]any{ct: map[string]any{"schema": ref(rt.body)}}}
	}
	responses := map[string]any{}
	ok := map[string]any{"description": http.StatusText(rt.ok)}
	if rt.result != "" {
		if err := check(rt.result); err != nil {
			return nil, err
		}
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": ref(rt.result)}}
	}
	responses[fmt.Sprint(rt.ok)] = ok
	if rt.mutation && rt.ok != http.StatusOK {
		responses["200"] = map[string]any{"description": "Nothing changed: the app already was so.",
			"content": map[string]any{"application/json": map[string]any{"schema": ref("#Result")}}}
	}
	for _, code := range errorStatuses(rt) {
		responses[fmt.Sprint(code)] = map[string]any{"description": errorDocs[code],
			"content": map[string]any{"application/json": map[string]any{"schema": ref("#ErrorResponse")}}}
	}
	op["responses"] = responses
	if rt.auth {
		op["security"] = []any{map[string]any{"bearer": []any{}}}
	} else {
		op["security"] = []any{}
	}
	if rt.raw != nil {
		op["responses"] = map[string]any{"200": map[string]any{"description": "OK"}}
		if rt.id == "readyz" {
			op["responses"].(map[string]any)["503"] = map[string]any{"description": "Not ready: starting or shutting down."}
		}
	}
	return op, nil
}

var errorDocs = map[int]string{
	400: "The request is invalid: each error names the field of the body and what is wrong.",
	401: "No token, or an unknown one.",
	403: "The token's team may not act for this team or app.",
	404: "No such team, app, training job or model service.",
	409: "The change conflicts with the app's state (it exists, it is written by hand, no canary runs, ...).",
	413: "The body is too large.",
	422: "The Idempotency-Key was used for a different request.",
	429: "Too many changes are waiting; retry after Retry-After seconds.",
	500: "An internal error; the server stays up.",
	502: "A git repo refused the commit; nothing was committed.",
	503: "The server is starting, shutting down or cannot reach git; retry after Retry-After seconds.",
}

func errorStatuses(rt *route) []int {
	if rt.raw != nil {
		return nil
	}
	codes := []int{401, 500}
	if strings.Contains(rt.path, "{team}") {
		codes = append(codes, 403, 404, 503)
	}
	if rt.mutation {
		codes = append(codes, 400, 409, 413, 422, 429, 502)
	}
	if strings.Contains(rt.path, "{app}") && !rt.mutation {
		codes = append(codes, 409)
	}
	return codes
}
