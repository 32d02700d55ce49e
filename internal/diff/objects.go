package diff

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"sigs.k8s.io/yaml"

	"github.com/dmls-project/dmls/internal/yamlenc"
)

// object is one parsed Kubernetes object of a unit.
type object struct {
	group, kind, namespace, name string
	m                            map[string]any
	text                         string // canonical YAML: sorted keys
}

// key identifies an object in a unit: group, kind, namespace and name.
func (o *object) key() string {
	return o.group + "/" + o.kind + "/" + o.namespace + "/" + o.name
}

// id names an object for people: "TFJob ml-research-prod/fashion-mnist-r1".
func (o *object) id() string {
	if o.namespace == "" {
		return o.kind + " " + o.name
	}
	return o.kind + " " + o.namespace + "/" + o.name
}

// parsed remembers the objects of documents already parsed, by their
// text: the two sides of a comparison share most documents (the platform
// and Argo CD units of every environment), and parsing and re-encoding
// YAML is most of a comparison's cost. Objects are never changed once
// parsed, so the sides can share them. It is safe for concurrent use.
type parsed struct {
	mu   sync.Mutex
	docs map[string]*object
}

func newParsed() *parsed { return &parsed{docs: map[string]*object{}} }

// parseObjects splits a multi-document YAML stream into objects, keyed by
// key. Two documents with the same key are an error: the stream would not
// apply.
func parseObjects(title string, y []byte, memo *parsed) (map[string]*object, error) {
	objs := map[string]*object{}
	for _, doc := range splitDocs(string(y)) {
		o, err := memo.object(title, doc)
		if err != nil {
			return nil, err
		}
		if o == nil {
			continue
		}
		if prev, ok := objs[o.key()]; ok {
			return nil, fmt.Errorf("%s: %s appears twice", title, prev.id())
		}
		objs[o.key()] = o
	}
	return objs, nil
}

// object parses one document; nil for an empty one.
func (p *parsed) object(title, doc string) (*object, error) {
	p.mu.Lock()
	o, ok := p.docs[doc]
	p.mu.Unlock()
	if ok {
		return o, nil
	}
	var m map[string]any
	if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
		return nil, fmt.Errorf("%s: %w", title, err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	o = &object{m: m}
	av, _ := m["apiVersion"].(string)
	if g, _, ok := strings.Cut(av, "/"); ok {
		o.group = g
	}
	o.kind, _ = m["kind"].(string)
	o.namespace = str(m, "metadata", "namespace")
	o.name = str(m, "metadata", "name")
	if o.kind == "" || o.name == "" {
		return nil, fmt.Errorf("%s: an object without kind or metadata.name", title)
	}
	// yamlenc: sigs.k8s.io/yaml.Marshal's bytes, without its JSON round
	// trip.
	b, err := yamlenc.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", title, o.id(), err)
	}
	o.text = string(b)
	p.mu.Lock()
	p.docs[doc] = o
	p.mu.Unlock()
	return o, nil
}

// splitDocs splits a YAML stream at its "---" lines.
func splitDocs(s string) []string {
	var docs []string
	var cur strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		if strings.TrimRight(line, " \r\n") == "---" {
			docs = append(docs, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteString(line)
	}
	docs = append(docs, cur.String())
	var out []string
	for _, d := range docs {
		if strings.TrimSpace(d) != "" {
			out = append(out, d)
		}
	}
	return out
}

// get walks m along keys; list elements are addressed by their index.
func get(m any, keys ...string) any {
	cur := m
	for _, k := range keys {
		switch x := cur.(type) {
		case map[string]any:
			cur = x[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			cur = x[i]
		default:
			return nil
		}
	}
	return cur
}

func str(m any, keys ...string) string {
	s, _ := get(m, keys...).(string)
	return s
}

// num reads a number written as a number or a string ("4"), and 0 if
// there is none.
func num(v any) (int, bool) {
	switch x := v.(type) {
	case float64:
		return int(x), true
	case int:
		return x, true
	case int64:
		return int(x), true
	case string:
		n, err := strconv.Atoi(x)
		return n, err == nil
	}
	return 0, false
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

// changedPointers lists the JSON pointers (RFC 6901) of the fields that
// differ between a and b: a field set on one side only, a leaf of another
// value, or a list of another length.
func changedPointers(a, b any, prefix string, out *[]string) {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			changedPointers(am[k], bm[k], prefix+"/"+escapePointer(k), out)
		}
		return
	}
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if aok && bok && len(al) == len(bl) {
		for i := range al {
			changedPointers(al[i], bl[i], prefix+"/"+strconv.Itoa(i), out)
		}
		return
	}
	if !equal(a, b) {
		*out = append(*out, prefix)
	}
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func equal(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	ab, err1 := yamlenc.Marshal(a)
	bb, err2 := yamlenc.Marshal(b)
	return err1 == nil && err2 == nil && string(ab) == string(bb)
}
