package specops

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/dmls-project/dmls/internal/spec"
)

// FileName is the file that holds an API-managed app: apps/<app>/app.json.
const FileName = "app.json"

// Doc is the #App of one API-managed app, as plain JSON data: maps,
// slices, json.Number, strings and bools. Operations change it; the API
// stores it as apps/<app>/app.json (Encode).
type Doc struct {
	Name string
	// Data is nil when the app does not exist (yet, or any more).
	Data map[string]any
	// Managed is false for a hand-written app, which the API only reads.
	Managed bool
}

// Exists reports whether the app exists.
func (d *Doc) Exists() bool { return d.Data != nil }

// Clone returns a deep copy of d, for an operation to change.
func (d *Doc) Clone() *Doc {
	c := *d
	if d.Data != nil {
		c.Data = deepCopy(d.Data).(map[string]any)
	}
	return &c
}

// Team returns the app's team.
func (d *Doc) Team() string {
	s, _ := d.Data["team"].(string)
	return s
}

// Section returns the app's own training or serving settings, or nil.
func (d *Doc) Section(name string) map[string]any {
	m, _ := d.Data[name].(map[string]any)
	return m
}

// Override returns overrides.<env>.<section>, creating it if create is set.
func (d *Doc) Override(env, section string, create bool) map[string]any {
	o := child(d.Data, "overrides", create)
	e := child(o, env, create)
	return child(e, section, create)
}

// Target returns the settings an operation on env changes: the app's own
// (env "") or overrides.<env>.<section>, created if needed.
func (d *Doc) Target(env, section string) map[string]any {
	if env == "" {
		return child(d.Data, section, true)
	}
	return d.Override(env, section, true)
}

// Effective returns section as it applies in env: the app's own settings
// with overrides.<env> merged over them, by the loader's rule
// (spec.MergeOverride). Environments themselves do not
// touch what operations read here (versions, traffic and runs).
func (d *Doc) Effective(env, section string) map[string]any {
	base := d.Section(section)
	if base == nil {
		return nil
	}
	out := deepCopy(base).(map[string]any)
	if env != "" {
		if o := d.Override(env, section, false); o != nil {
			out = spec.MergeOverride(out, deepCopy(o).(map[string]any))
		}
	}
	return out
}

// RunsIn reports whether the app runs in env.
func (d *Doc) RunsIn(env string) bool { return spec.RunsIn(d.Data, env) }

// DropOverrides removes section from every override, and overrides that
// are left empty.
func (d *Doc) DropOverrides(section string) {
	o, _ := d.Data["overrides"].(map[string]any)
	for env, v := range o {
		if m, ok := v.(map[string]any); ok {
			delete(m, section)
			if len(m) == 0 {
				delete(o, env)
			}
		}
	}
	if o != nil && len(o) == 0 {
		delete(d.Data, "overrides")
	}
}

// Tidy removes empty maps that operations left in overrides and traffic.
func (d *Doc) Tidy() {
	if d.Data == nil {
		return
	}
	o, _ := d.Data["overrides"].(map[string]any)
	for env, v := range o {
		m, _ := v.(map[string]any)
		for sec, sv := range m {
			if sm, ok := sv.(map[string]any); ok {
				pruneEmpty(sm)
				if len(sm) == 0 {
					delete(m, sec)
				}
			}
		}
		if len(m) == 0 {
			delete(o, env)
		}
	}
	if o != nil && len(o) == 0 {
		delete(d.Data, "overrides")
	}
	for _, sec := range []string{"training", "serving"} {
		if m := d.Section(sec); m != nil {
			for _, k := range []string{"traffic"} {
				if t, ok := m[k].(map[string]any); ok {
					pruneEmpty(t)
					if len(t) == 0 {
						delete(m, k)
					}
				}
			}
		}
	}
}

// Encode writes the app as app.json: indented, keys sorted, so that the
// same app gives the same bytes.
func (d *Doc) Encode() []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	_ = enc.Encode(d.Data)
	return b.Bytes()
}

// DecodeJSON reads a JSON object keeping numbers exact.
func DecodeJSON(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("more than one JSON value")
	}
	if m == nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	return m, nil
}

// child returns m[key] as a map, creating it when create is set.
func child(m map[string]any, key string, create bool) map[string]any {
	if m == nil {
		return nil
	}
	c, ok := m[key].(map[string]any)
	if !ok && create {
		c = map[string]any{}
		m[key] = c
	}
	return c
}

// mergePatch applies an RFC 7386 JSON merge patch to target in place.
func mergePatch(target, patch map[string]any) {
	for k, v := range patch {
		if v == nil {
			delete(target, k)
			continue
		}
		if pm, ok := v.(map[string]any); ok {
			tm, ok := target[k].(map[string]any)
			if !ok {
				tm = map[string]any{}
				target[k] = tm
			}
			mergePatch(tm, pm)
			continue
		}
		target[k] = deepCopy(v)
	}
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	default:
		return v
	}
}

func pruneEmpty(m map[string]any) {
	for k, v := range m {
		if sm, ok := v.(map[string]any); ok {
			pruneEmpty(sm)
			if len(sm) == 0 {
				delete(m, k)
			}
		}
	}
}

// Equal reports whether two documents hold the same data.
func Equal(a, b map[string]any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// str returns m[key] as a string.
func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// intValue returns m[key] as an int, and whether it is one.
func intValue(m map[string]any, key string) (int, bool) {
	switch x := m[key].(type) {
	case json.Number:
		n, err := strconv.Atoi(x.String())
		return n, err == nil
	case int:
		return x, true
	case float64:
		return int(x), x == float64(int(x))
	}
	return 0, false
}
