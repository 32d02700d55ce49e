package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	yamlv3 "gopkg.in/yaml.v3"
	"sigs.k8s.io/yaml"

	"github.com/dmls-project/dmls/internal/importer"
	"github.com/dmls-project/dmls/internal/schema"
)

// Bounds of a request body, checked before anything is built from it: a
// body of 54 KB nested 9,000 deep once became a 162 MB app.json.
const (
	// maxBodyDepth bounds the nesting of objects and arrays. A spec is a
	// handful of levels deep; hyperparameters may nest a few more.
	maxBodyDepth = 64
	// maxSpecBytes bounds the body as it would be written, indented, in
	// app.json: the loader refuses larger spec files anyway.
	maxSpecBytes = schema.MaxSpecBytes
	// specIndent is the indentation of app.json (specops.Doc.Encode).
	specIndent = 2
	// maxYAMLValues bounds the values of a YAML body, counted before it
	// is parsed: the YAML parser builds a node of some 500 bytes for each,
	// so that a 1 MB list of numbers took 270 MiB.
	maxYAMLValues = 20000
)

// decodeBody checks a request body with one strict decoder, for JSON and
// for YAML (which the console's editor sends), and returns it as JSON.
// Each refusal is a 400 that names the key's path: a key given twice in an
// object, nesting deeper than maxBodyDepth, a body that would be larger
// than maxSpecBytes written out, and in YAML a second document and the
// anchors, aliases and merge keys that import refuses. Other media types
// get 415. Nothing is built from the body before these checks pass.
func decodeBody(r *http.Request, body []byte) ([]byte, *apiError) {
	ct := r.Header.Get("Content-Type")
	mt := ""
	if ct != "" {
		var err error
		if mt, _, err = mime.ParseMediaType(ct); err != nil {
			return nil, unsupportedType(ct)
		}
	}
	switch {
	case mt == "", mt == "application/json", strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"):
	case mt == "application/yaml", mt == "application/x-yaml", mt == "text/yaml", mt == "text/x-yaml":
		if len(bytes.TrimSpace(body)) == 0 {
			return body, nil
		}
		if e := checkYAML(body); e != nil {
			return nil, e
		}
		j, err := yaml.YAMLToJSON(body)
		if err != nil {
			return nil, badRequest("", "the body is not valid YAML: %v", err)
		}
		body = j
	default:
		return nil, unsupportedType(ct)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return body, nil
	}
	if e := checkJSON(body); e != nil {
		return nil, e
	}
	return body, nil
}

func unsupportedType(ct string) *apiError {
	return errorf(http.StatusUnsupportedMediaType, "Content-Type %q is not accepted: send application/json (or application/yaml)", ct)
}

// checkJSON walks the JSON document b token by token, without building it,
// and refuses a duplicate key, nesting deeper than maxBodyDepth and a
// document whose indented form would pass maxSpecBytes. A document that is
// not JSON passes: the handler's decoder says what is wrong with it.
func checkJSON(b []byte) *apiError {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	w := &jsonWalk{dec: dec}
	if err := w.value("", 0); err != nil {
		var e *apiError
		if errors.As(err, &e) {
			return e
		}
	}
	return nil
}

type jsonWalk struct {
	dec *json.Decoder
	// size is the length of the document written out, indented, so far.
	size int
}

// add counts a token of n bytes on its own line at depth.
func (w *jsonWalk) add(at string, depth, n int) error {
	w.size += n + 1 + depth*specIndent
	if w.size > maxSpecBytes {
		return badRequest(at, "the spec would be more than %d bytes written out; a spec holds settings, not data", maxSpecBytes)
	}
	return nil
}

func (w *jsonWalk) value(at string, depth int) error {
	tok, err := w.dec.Token()
	if err != nil {
		return err
	}
	d, isDelim := tok.(json.Delim)
	if !isDelim {
		return w.add(at, depth, len(fmt.Sprint(tok))+2)
	}
	if depth >= maxBodyDepth {
		return badRequest(at, "nested more than %d levels deep; a spec is a few levels deep", maxBodyDepth)
	}
	if err := w.add(at, depth, 2); err != nil {
		return err
	}
	switch d {
	case '{':
		seen := map[string]bool{}
		for w.dec.More() {
			kt, err := w.dec.Token()
			if err != nil {
				return err
			}
			k, _ := kt.(string)
			p := joinKey(at, k)
			if seen[k] {
				return badRequest(p, "this key is in its object twice; give each key once (spec files may not repeat a key either)")
			}
			seen[k] = true
			if err := w.add(p, depth+1, len(k)+4); err != nil {
				return err
			}
			if err := w.value(p, depth+1); err != nil {
				return err
			}
		}
	case '[':
		for i := 0; w.dec.More(); i++ {
			if err := w.value(at+"["+strconv.Itoa(i)+"]", depth+1); err != nil {
				return err
			}
		}
	}
	_, err = w.dec.Token()
	return err
}

func joinKey(at, k string) string {
	if at == "" {
		return k
	}
	return at + "." + k
}

// checkYAML refuses, in a YAML body, what decodeBody refuses in JSON (with
// the YAML line) and what import refuses: anchors, aliases, merge keys, and
// more than one document.
func checkYAML(b []byte) *apiError {
	// Every value but the first follows one of these; strings that hold
	// them count too, which only errs on the safe side.
	if n := bytes.Count(b, []byte{'\n'}) + bytes.Count(b, []byte{','}) + bytes.Count(b, []byte{':'}) +
		bytes.Count(b, []byte{'['}) + bytes.Count(b, []byte{'{'}); n > maxYAMLValues {
		return badRequest("", "the YAML body has more than %d values (lines, items and keys); a spec holds settings, not data", maxYAMLValues)
	}
	dec := yamlv3.NewDecoder(bytes.NewReader(b))
	var n yamlv3.Node
	if err := dec.Decode(&n); err != nil {
		return badRequest("", "the body is not valid YAML: %v", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if line, what := importer.Unexpanded(&n); line > 0 {
		return badRequest("", "line %d: %s", line, what)
	}
	var next yamlv3.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return badRequest("", "the body is not valid YAML: %v", strings.TrimPrefix(err.Error(), "yaml: "))
	default:
		return badRequest("", "line %d: a second YAML document; send one spec per request", next.Line)
	}
	return yamlWalk(&n, "", 0)
}

// yamlWalk refuses a key given twice in a mapping and nesting deeper than
// maxBodyDepth, naming the key's path and line.
func yamlWalk(n *yamlv3.Node, at string, depth int) *apiError {
	if n.Kind == yamlv3.DocumentNode {
		for _, c := range n.Content {
			if e := yamlWalk(c, at, depth); e != nil {
				return e
			}
		}
		return nil
	}
	if n.Kind != yamlv3.MappingNode && n.Kind != yamlv3.SequenceNode {
		return nil
	}
	if depth >= maxBodyDepth {
		return badRequest(at, "line %d: nested more than %d levels deep; a spec is a few levels deep", n.Line, maxBodyDepth)
	}
	if n.Kind == yamlv3.SequenceNode {
		for i, c := range n.Content {
			if e := yamlWalk(c, at+"["+strconv.Itoa(i)+"]", depth+1); e != nil {
				return e
			}
		}
		return nil
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		p := joinKey(at, k.Value)
		if line, dup := seen[k.Value]; dup {
			return badRequest(p, "line %d: this key is in its mapping twice (first at line %d); give each key once (spec files may not repeat a key either)", k.Line, line)
		}
		seen[k.Value] = k.Line
		if e := yamlWalk(n.Content[i+1], p, depth+1); e != nil {
			return e
		}
	}
	return nil
}
