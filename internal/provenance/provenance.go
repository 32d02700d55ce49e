// Package provenance records which spec file and field produced each value,
// so that any later finding can point at the user's own line.
package provenance

import (
	"fmt"
	"sort"
	"strings"
)

// Pos is a position in a user's spec file. Line and Col start at 1; a zero
// Line means the file as a whole.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"col,omitempty"`
}

// IsValid reports whether p names a file.
func (p Pos) IsValid() bool { return p.File != "" }

// String formats p as file:line:col, the form editors and CI annotate.
func (p Pos) String() string {
	if !p.IsValid() {
		return "-"
	}
	line, col := p.Line, p.Col
	if line == 0 {
		line, col = 1, 1
	}
	return fmt.Sprintf("%s:%d:%d", p.File, line, col)
}

// Map maps spec paths ("training.replicas.worker.replicas") to where their
// values were written. A Map is not safe for concurrent writes.
type Map map[string]Pos

// Set records that path was written at pos.
func (m Map) Set(path string, pos Pos) {
	if pos.IsValid() {
		m[path] = pos
	}
}

// Lookup returns the position of path, or of its nearest ancestor that has
// one: a field the user never wrote points at the struct that holds it.
func (m Map) Lookup(path string) (Pos, bool) {
	for p := path; ; {
		if pos, ok := m[p]; ok {
			return pos, true
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			pos, ok := m[""]
			return pos, ok
		}
		p = p[:i]
	}
}

// Overlay copies the entries of o into m, under prefix, replacing what m had.
func (m Map) Overlay(prefix string, o Map) {
	for p, pos := range o {
		m[Join(prefix, p)] = pos
	}
}

// Sub returns the entries of m under prefix, with the prefix removed.
func (m Map) Sub(prefix string) Map {
	out := Map{}
	for p, pos := range m {
		switch {
		case prefix == "":
			out[p] = pos
		case p == prefix:
			out[""] = pos
		case strings.HasPrefix(p, prefix+".") || strings.HasPrefix(p, prefix+"["):
			out[strings.TrimPrefix(strings.TrimPrefix(p, prefix), ".")] = pos
		}
	}
	return out
}

// Clone returns a copy of m.
func (m Map) Clone() Map {
	out := make(Map, len(m))
	for p, pos := range m {
		out[p] = pos
	}
	return out
}

// Join joins spec path elements with dots, skipping empty ones.
func Join(elems ...string) string {
	var b strings.Builder
	for _, e := range elems {
		if e == "" {
			continue
		}
		if b.Len() > 0 && !strings.HasPrefix(e, "[") {
			b.WriteByte('.')
		}
		b.WriteString(e)
	}
	return b.String()
}

// Origin says that a field of a generated object came from a spec field.
type Origin struct {
	// Field is the object's field path, e.g. spec.tfReplicaSpecs.Worker.replicas.
	Field string `json:"field"`
	// Spec is the spec path that produced it, e.g. training.replicas.worker.replicas.
	Spec string `json:"spec"`
}

// Trace lists the origins of the fields of one generated object.
type Trace struct {
	origins map[string]string
}

// Record notes that object field came from spec path. Recording a field
// again replaces its origin.
func (t *Trace) Record(field, specPath string) {
	if t.origins == nil {
		t.origins = map[string]string{}
	}
	t.origins[field] = specPath
}

// Spec returns the spec path that produced field, or that produced its
// nearest recorded ancestor.
func (t *Trace) Spec(field string) (string, bool) {
	for f := field; ; {
		if s, ok := t.origins[f]; ok {
			return s, true
		}
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			return "", false
		}
		f = f[:i]
	}
}

// Origins returns all origins sorted by field.
func (t *Trace) Origins() []Origin {
	out := make([]Origin, 0, len(t.origins))
	for f, s := range t.origins {
		out = append(out, Origin{Field: f, Spec: s})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out
}
