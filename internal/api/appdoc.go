package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/dmls-project/dmls/internal/workspace"
)

// appDoc is the #App of one API-managed app, as plain JSON data: maps,
// slices, json.Number, strings and bools. Operations change it; the writer
// stores it as apps/<app>/app.json.
type appDoc struct {
	name string
	// data is nil when the app does not exist (yet, or any more).
	data map[string]any
	// managed is false for a hand-written app, which the API only reads.
	managed bool
}

func (d *appDoc) exists() bool { return d.data != nil }

func (d *appDoc) clone() *appDoc {
	c := *d
	if d.data != nil {
		c.data = deepCopy(d.data).(map[string]any)
	}
	return &c
}

// team returns the app's team.
func (d *appDoc) team() string {
	s, _ := d.data["team"].(string)
	return s
}

// section returns the app's own training or serving settings, or nil.
func (d *appDoc) section(name string) map[string]any {
	m, _ := d.data[name].(map[string]any)
	return m
}

// override returns overrides.<env>.<section>, creating it if create is set.
func (d *appDoc) override(env, section string, create bool) map[string]any {
	o := child(d.data, "overrides", create)
	e := child(o, env, create)
	return child(e, section, create)
}

// target returns the settings an operation on env changes: the app's own
// (env "") or overrides.<env>.<section>, created if needed.
func (d *appDoc) target(env, section string) map[string]any {
	if env == "" {
		return child(d.data, section, true)
	}
	return d.override(env, section, true)
}

// effective returns section as it applies in env: the app's own settings
// with overrides.<env> merged over them, by the loader's rule
// (workspace.MergeOverride). Environments themselves do not
// touch what operations read here (versions, traffic and runs).
func (d *appDoc) effective(env, section string) map[string]any {
	base := d.section(section)
	if base == nil {
		return nil
	}
	out := deepCopy(base).(map[string]any)
	if env != "" {
		if o := d.override(env, section, false); o != nil {
			out = workspace.MergeOverride(out, deepCopy(o).(map[string]any))
		}
	}
	return out
}

// runsIn reports whether the app runs in env.
func (d *appDoc) runsIn(env string) bool {
	envs, ok := d.data["envs"].([]any)
	if !ok {
		return true
	}
	return slices.Contains(envs, any(env))
}

// dropOverrides removes section from every override, and overrides that
// are left empty.
func (d *appDoc) dropOverrides(section string) {
	o, _ := d.data["overrides"].(map[string]any)
	for env, v := range o {
		if m, ok := v.(map[string]any); ok {
			delete(m, section)
			if len(m) == 0 {
				delete(o, env)
			}
		}
	}
	if o != nil && len(o) == 0 {
		delete(d.data, "overrides")
	}
}

// tidy removes empty maps that operations left in overrides and traffic.
func (d *appDoc) tidy() {
	if d.data == nil {
		return
	}
	o, _ := d.data["overrides"].(map[string]any)
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
		delete(d.data, "overrides")
	}
	for _, sec := range []string{"training", "serving"} {
		if m := d.section(sec); m != nil {
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

// encode writes the app as app.json: indented, keys sorted, so that the
// same app gives the same bytes.
func (d *appDoc) encode() []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	_ = enc.Encode(d.data)
	return b.Bytes()
}

// decodeJSON reads a JSON object keeping numbers exact.
func decodeJSON(b []byte) (map[string]any, error) {
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

// maxKeyDepth bounds how deep duplicateKey looks; encoding/json refuses
// deeper documents anyway.
const maxKeyDepth = 10000

// duplicateKey returns the path (training.env.A, a[0].key) of the first key
// that an object of the JSON document b holds twice, comparing keys as
// decoded, so that "name" and "\u006eame" are the same key. A document that
// is not JSON has no duplicate here: its decoder says what is wrong.
func duplicateKey(b []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	at, err := dupWalk(dec, "", 0)
	return at, err == nil && at != ""
}

func dupWalk(dec *json.Decoder, at string, depth int) (string, error) {
	if depth > maxKeyDepth {
		return "", errors.New("too deep")
	}
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return "", err
			}
			k, _ := kt.(string)
			p := k
			if at != "" {
				p = at + "." + k
			}
			if seen[k] {
				return p, nil
			}
			seen[k] = true
			if dup, err := dupWalk(dec, p, depth+1); err != nil || dup != "" {
				return dup, err
			}
		}
		_, err = dec.Token()
		return "", err
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if dup, err := dupWalk(dec, fmt.Sprintf("%s[%d]", at, i), depth+1); err != nil || dup != "" {
				return dup, err
			}
		}
		_, err = dec.Token()
		return "", err
	}
	return "", nil
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

func equalData(a, b map[string]any) bool {
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
