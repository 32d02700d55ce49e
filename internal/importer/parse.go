// Package importer turns existing Kubernetes YAML (TFJobs, Knative
// Services, KServe InferenceServices and their volume claims) into dmls
// app specs, and proves each import lossless by rendering the spec and
// comparing it with the input after upstream defaulting.
package importer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"encoding/json"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
)

// MaxFileBytes bounds one input file: manifests are small, and a bound
// keeps a stray data file from exhausting memory.
const MaxFileBytes = 4 << 20

// maxDocs bounds the documents of one file.
const maxDocs = 1000

// Doc is one YAML document of an input file.
type Doc struct {
	File string
	// Index counts documents in the file from 1, empty ones included.
	Index int
	Obj   map[string]any
}

// String names the document for messages: file, document number, kind
// and name.
func (d Doc) String() string {
	kind, _ := d.Obj["kind"].(string)
	name, _ := nested(d.Obj, "metadata", "name").(string)
	s := fmt.Sprintf("%s: document %d", d.File, d.Index)
	if kind != "" || name != "" {
		s += fmt.Sprintf(" (%s %s)", kind, name)
	}
	return s
}

// Problem is one thing an import cannot do, in a document and field.
type Problem struct {
	Doc     string `json:"document"`
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Doc + ": " + p.Message
	}
	return p.Doc + ": " + p.Path + ": " + p.Message
}

// Error is a failed import: every problem found, none written.
type Error struct {
	Problems []Problem
	// Lossy is true when every problem is a field the spec cannot
	// express, which --allow-lossy accepts.
	Lossy bool
}

func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// TooBig refuses an input file of size bytes, over MaxFileBytes; size < 0
// when only that is known.
func TooBig(file string, size int64) *Error {
	is := fmt.Sprintf("%d bytes", size)
	if size < 0 {
		is = fmt.Sprintf("more than %d bytes", MaxFileBytes)
	}
	return &Error{Problems: []Problem{{Doc: file, Message: fmt.Sprintf("file is %s; import reads at most %d bytes (4 MiB) per file, split it", is, MaxFileBytes)}}}
}

// Parse splits a multi-document YAML file into documents. It refuses files
// over MaxFileBytes, malformed YAML, anchors and aliases (which can blow a
// small file up into a huge one), and documents that are not objects.
func Parse(file string, data []byte) ([]Doc, error) {
	if len(data) > MaxFileBytes {
		// The caller may have read only past the limit: the size is
		// known only to be more than it.
		return nil, TooBig(file, -1)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []Doc
	var probs []Problem
	for i := 1; ; i++ {
		if i > maxDocs {
			return nil, &Error{Problems: []Problem{{Doc: file, Message: fmt.Sprintf("more than %d documents", maxDocs)}}}
		}
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		at := fmt.Sprintf("%s: document %d", file, i)
		if err != nil {
			probs = append(probs, Problem{Doc: at, Message: "malformed YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")})
			break // the decoder cannot resynchronise
		}
		if len(n.Content) == 0 {
			continue // an empty document
		}
		if line, what := Unexpanded(&n); line > 0 {
			probs = append(probs, Problem{Doc: at, Message: fmt.Sprintf("line %d: %s", line, what)})
			continue
		}
		var v any
		if err := n.Decode(&v); err != nil {
			probs = append(probs, Problem{Doc: at, Message: "malformed YAML: " + err.Error()})
			continue
		}
		if v == nil {
			continue
		}
		obj, err := toJSONMap(v)
		if err != nil {
			probs = append(probs, Problem{Doc: at, Message: err.Error()})
			continue
		}
		docs = append(docs, Doc{File: file, Index: i, Obj: obj})
	}
	if len(probs) > 0 {
		return nil, &Error{Problems: probs}
	}
	return docs, nil
}

// Unexpanded returns the line of the first anchor, alias or merge key
// (<<) under n, and what to say about it, or 0. dmls refuses them wherever
// it reads YAML (import, the API's YAML bodies): an alias can blow a small
// file up into a huge one, and a merge key hides where a value comes from.
func Unexpanded(n *yaml.Node) (int, string) {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return n.Line, "YAML anchors and aliases are not accepted; write the values out"
	}
	for i, c := range n.Content {
		if n.Kind == yaml.MappingNode && i%2 == 0 && c.Kind == yaml.ScalarNode && (c.Tag == "!!merge" || c.Value == "<<" && c.Style == 0) {
			return c.Line, "YAML merge keys (<<) are not accepted; write the values out"
		}
		if l, what := Unexpanded(c); l > 0 {
			return l, what
		}
	}
	return 0, ""
}

// toJSONMap turns a decoded YAML document into the JSON form Kubernetes
// converters read (int64 and float64 numbers, string keys).
func toJSONMap(v any) (map[string]any, error) {
	if _, ok := v.(map[string]any); !ok {
		return nil, fmt.Errorf("not an object: a Kubernetes manifest is a mapping with apiVersion and kind")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("not a JSON-compatible object: %v", err)
	}
	var out map[string]any
	if err := utiljson.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// nested is the value at keys in m, or nil where the path leads nowhere.
func nested(m map[string]any, keys ...string) any {
	v, _, _ := unstructured.NestedFieldNoCopy(m, keys...)
	return v
}
