package api

import (
	"bytes"
	"fmt"
	"strings"
)

// RouteDocsFile is the page RouteDocs writes, relative to the repository
// root; TestRouteDocsAreCurrent fails when it differs from RouteDocs, and
// `make api-docs` rewrites it.
const RouteDocsFile = "docs/api-routes.md"

// RouteDocs writes the API's route list as Markdown, from the route table
// that also registers the handlers and writes /openapi.json, so that the
// page cannot leave a route out.
func RouteDocs() []byte {
	var b bytes.Buffer
	b.WriteString("# API routes\n\n")
	b.WriteString("<!-- Generated from the route table of internal/api (routes.go) by `make api-docs`; do not edit. -->\n\n")
	b.WriteString("Every `/v1` route needs a bearer token; team routes need a token of that team or an admin token. ")
	b.WriteString("Changes (the routes that take a body) accept `?dryRun=true` and an `Idempotency-Key` header. ")
	b.WriteString("The bodies and answers are described in `/openapi.json`.\n\n")
	b.WriteString("| Method | Path | Token | Success | Body | Answer | Summary |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- |\n")
	// A server that is never started: the table needs only its methods.
	routes := (&Server{metrics: newMetrics(nil)}).routes()
	for _, rt := range routes {
		token := "no"
		if rt.auth {
			token = "yes"
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %d | %s | %s | %s |\n", rt.method, rt.path, token, rt.ok, code(rt.body), code(rt.result), cell(rt.summary))
	}
	first := true
	for _, rt := range routes {
		if len(rt.query) == 0 {
			continue
		}
		if first {
			b.WriteString("\n## Query parameters\n")
			first = false
		}
		fmt.Fprintf(&b, "\n`%s %s`:\n\n", rt.method, rt.path)
		for _, q := range rt.query {
			fmt.Fprintf(&b, "- `%s` (%s): %s\n", q.name, q.typ, q.description)
		}
	}
	return b.Bytes()
}

func code(s string) string {
	if s == "" {
		return ""
	}
	return "`" + strings.ReplaceAll(s, "|", `\|`) + "`"
}

// cell keeps Markdown from taking <app> for an HTML tag.
func cell(s string) string {
	return strings.NewReplacer("<", "&lt;", ">", "&gt;", "|", `\|`).Replace(s)
}
