// Package yamlenc encodes JSON-shaped values as YAML, byte for byte as
// sigs.k8s.io/yaml.Marshal does, without its JSON round trip and reflection.
//
// sigs.k8s.io/yaml.Marshal encodes a value as JSON, decodes that JSON with
// yaml.v2 and encodes the result with yaml.v2's emitter (a port of
// libyaml). Profiles of rendering thousands of apps put most of the time
// of laying out and rendering objects in that pipeline and in the garbage
// it makes. Marshal here walks the values (map[string]any, []any, string,
// bool, numbers, nil, as Unstructured holds them) once, applies the JSON
// round trip's rules to each scalar (numbers as yaml.v2 resolves their
// JSON text), and drives a copy of the emitter's state machine and scalar
// writers (emitter.go, from go.yaml.in/yaml/v2 v2.4.2) directly. Anything
// else is taken through encoding/json first, as upstream does, and
// whatever it cannot reproduce exactly (invalid UTF-8, map keys that
// yaml.v2's key order does not sort consistently, values JSON cannot
// encode) is handed to sigs.k8s.io/yaml.Marshal itself. A fuzz test and a
// test over every generated object compare the two.
package yamlenc

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"unicode"
	"unicode/utf8"

	"sigs.k8s.io/yaml"
)

// errUpstream tells Marshal to hand the whole value to sigs.k8s.io/yaml.
var errUpstream = errors.New("yamlenc: value needs the upstream encoder")

// Marshal returns what sigs.k8s.io/yaml.Marshal(v) returns.
func Marshal(v any) ([]byte, error) {
	var e emitter
	e.buf = make([]byte, 0, 1024)
	b, err := e.document(v)
	if err == nil {
		return b, nil
	}
	return yaml.Marshal(v)
}

// Fast reports whether Marshal encodes v itself rather than handing it to
// sigs.k8s.io/yaml; tests use it to make sure the fast path is exercised.
func Fast(v any) bool {
	var e emitter
	_, err := e.document(v)
	return err == nil
}

// document emits v as yaml.v2's Marshal does: an implicit document in an
// implicit stream, that is, the root node and a final line break.
func (e *emitter) document(v any) ([]byte, error) {
	e.indent = -1
	e.whitespace = true
	e.indention = true
	if err := e.node(v, true, false, false, false); err != nil {
		return nil, err
	}
	e.writeIndent() // document end
	return e.buf, nil
}

// node emits v with the emitter's context flags, as
// yaml_emitter_emit_node does for v's events.
func (e *emitter) node(v any, root, sequence, mapping, simpleKey bool) error {
	e.rootCtx, e.sequenceCtx, e.mappingCtx, e.simpleKeyCtx = root, sequence, mapping, simpleKey
	switch x := v.(type) {
	case nil:
		e.scalar("null", stylePlain)
	case string:
		return e.str(x)
	case bool:
		if x {
			e.scalar("true", stylePlain)
		} else {
			e.scalar("false", stylePlain)
		}
	case map[string]any:
		if x == nil {
			e.scalar("null", stylePlain)
			return nil
		}
		keys, ok := mapKeys(x)
		if !ok {
			return errUpstream
		}
		return e.mapping(len(keys), func(i int) (string, any) { return keys[i], x[keys[i]] })
	case map[string]string:
		if x == nil {
			e.scalar("null", stylePlain)
			return nil
		}
		keys, ok := mapKeys(x)
		if !ok {
			return errUpstream
		}
		return e.mapping(len(keys), func(i int) (string, any) { return keys[i], x[keys[i]] })
	case []any:
		if x == nil {
			e.scalar("null", stylePlain)
			return nil
		}
		return e.sequence(len(x), func(i int) any { return x[i] })
	case []string:
		if x == nil {
			e.scalar("null", stylePlain)
			return nil
		}
		return e.sequence(len(x), func(i int) any { return x[i] })
	case int:
		e.scalar(strconv.FormatInt(int64(x), 10), stylePlain)
	case int64:
		e.scalar(strconv.FormatInt(x, 10), stylePlain)
	case int32:
		e.scalar(strconv.FormatInt(int64(x), 10), stylePlain)
	case int16:
		e.scalar(strconv.FormatInt(int64(x), 10), stylePlain)
	case int8:
		e.scalar(strconv.FormatInt(int64(x), 10), stylePlain)
	case uint:
		e.scalar(strconv.FormatUint(uint64(x), 10), stylePlain)
	case uint64:
		e.scalar(strconv.FormatUint(x, 10), stylePlain)
	case uint32:
		e.scalar(strconv.FormatUint(uint64(x), 10), stylePlain)
	case uint16:
		e.scalar(strconv.FormatUint(uint64(x), 10), stylePlain)
	case uint8:
		e.scalar(strconv.FormatUint(uint64(x), 10), stylePlain)
	case float64:
		return e.float(x, 64)
	case float32:
		return e.float(float64(x), 32)
	case json.Number:
		return e.number(string(x))
	default:
		// Any other type (structs, typed maps and slices, pointers,
		// json.Marshalers) goes through encoding/json as upstream does.
		j, err := json.Marshal(x)
		if err != nil {
			return errUpstream
		}
		d := json.NewDecoder(bytes.NewReader(j))
		d.UseNumber()
		var g any
		if err := d.Decode(&g); err != nil {
			return errUpstream
		}
		return e.node(g, root, sequence, mapping, simpleKey)
	}
	return nil
}

// str emits a string as yaml.v2's encoder (stringv) does after the JSON
// round trip.
func (e *emitter) str(s string) error {
	if !plainJSON(s) {
		return errUpstream
	}
	switch {
	case containsNewline(s):
		e.scalar(s, styleLiteral)
	case canUsePlain(s):
		e.scalar(s, stylePlain)
	default:
		e.scalar(s, styleDoubleQuoted)
	}
	return nil
}

// plainJSON tells whether s comes back unchanged from upstream's JSON
// round trip. encoding/json replaces each invalid UTF-8 byte and writes
// DEL, the C1 controls and U+FFFE/U+FFFF as they are; yaml.v2's reader
// refuses those ("control characters are not allowed") and its scanner
// folds NEL (U+0085) in a quoted scalar as a line break. Upstream's error
// or folding is left to upstream.
func plainJSON(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c == 0x7F {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || r >= 0x80 && r <= 0x9F || r == 0xFFFE || r == 0xFFFF {
			return false
		}
		i += n
	}
	return true
}

func containsNewline(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			return true
		}
	}
	return false
}

// float emits f as its JSON text decodes in yaml.v2.
func (e *emitter) float(f float64, bits int) error {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return errUpstream // json.Marshal fails; so does upstream
	}
	// encoding/json's floatEncoder.
	var a [32]byte
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	b := strconv.AppendFloat(a[:0], f, format, -1, bits)
	if format == 'e' {
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return e.number(string(b))
}

// number emits a JSON number literal as yaml.v2 decodes (resolve) and then
// encodes it: an int, a uint, a float, or failing those a string.
func (e *emitter) number(lit string) error {
	if len(lit) >= 5 {
		if _, ok := parseTimestamp(lit); ok {
			return errUpstream
		}
	}
	if i, err := strconv.ParseInt(lit, 0, 64); err == nil {
		e.scalar(strconv.FormatInt(i, 10), stylePlain)
		return nil
	}
	if u, err := strconv.ParseUint(lit, 0, 64); err == nil {
		e.scalar(strconv.FormatUint(u, 10), stylePlain)
		return nil
	}
	if yamlStyleFloat.MatchString(lit) {
		if f, err := strconv.ParseFloat(lit, 64); err == nil {
			s := strconv.FormatFloat(f, 'g', -1, 64)
			switch s {
			case "+Inf":
				s = ".inf"
			case "-Inf":
				s = "-.inf"
			case "NaN":
				s = ".nan"
			}
			e.scalar(s, stylePlain)
			return nil
		}
	}
	// Not a number to yaml.v2 (json.Number is only checked by
	// json.Marshal): upstream leaves it to its own rules.
	return errUpstream
}

// mapping emits a mapping of n entries, as a flow {} when empty.
func (e *emitter) mapping(n int, entry func(int) (string, any)) error {
	if n == 0 {
		e.writeIndicator("{", true, true, false)
		e.increaseIndent(true, false)
		e.flowLevel++
		e.flowLevel--
		e.popIndent()
		e.writeIndicator("}", false, false, false)
		return nil
	}
	e.increaseIndent(false, false)
	for i := 0; i < n; i++ {
		k, v := entry(i)
		e.writeIndent()
		multiline := false
		if !simpleASCII(k) {
			e.analyze(k)
			multiline = e.multiline
		}
		if !multiline && len(k) <= 128 {
			if err := e.node(k, false, false, true, true); err != nil {
				return err
			}
			e.writeIndicator(":", false, false, false)
		} else {
			e.writeIndicator("?", true, false, true)
			if err := e.node(k, false, false, true, false); err != nil {
				return err
			}
			e.writeIndent()
			e.writeIndicator(":", true, false, true)
		}
		if err := e.node(v, false, false, true, false); err != nil {
			return err
		}
	}
	e.popIndent()
	return nil
}

// sequence emits a sequence of n items, as a flow [] when empty.
func (e *emitter) sequence(n int, item func(int) any) error {
	if n == 0 {
		e.writeIndicator("[", true, true, false)
		e.increaseIndent(true, false)
		e.flowLevel++
		e.flowLevel--
		e.popIndent()
		e.writeIndicator("]", false, false, false)
		return nil
	}
	e.increaseIndent(false, e.mappingCtx && !e.indention)
	for i := 0; i < n; i++ {
		e.writeIndent()
		e.writeIndicator("-", true, false, true)
		if err := e.node(item(i), false, true, false, false); err != nil {
			return err
		}
	}
	e.popIndent()
	return nil
}

// sortKeys sorts keys in yaml.v2's order (keyList.Less) and reports
// whether that order is a strict total order on them, so that the result
// does not depend on the sort algorithm or the map's iteration order.
func sortKeys(keys []string) bool {
	slices.SortFunc(keys, func(a, b string) int {
		if keyLess(a, b) {
			return -1
		}
		if keyLess(b, a) {
			return 1
		}
		return 0
	})
	// keyLess orders runs of digits by value, which is not transitive
	// ("a2" < "a10" < "a1b" < "a2"). Without digits it is lexicographic
	// on (is letter, rune), a total order.
	digits := false
	for _, k := range keys {
		for _, r := range k {
			if unicode.IsDigit(r) {
				digits = true
				break
			}
		}
	}
	if !digits {
		return true
	}
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if !keyLess(keys[i], keys[j]) || keyLess(keys[j], keys[i]) {
				return false
			}
		}
	}
	return true
}

// keyLess is yaml.v2's keyList.Less (sorter.go) for two string keys.
func keyLess(a, b string) bool {
	if isASCII(a) && isASCII(b) {
		return keyLessASCII(a, b)
	}
	ar, br := []rune(a), []rune(b)
	for i := 0; i < len(ar) && i < len(br); i++ {
		if ar[i] == br[i] {
			continue
		}
		al := unicode.IsLetter(ar[i])
		bl := unicode.IsLetter(br[i])
		if al && bl {
			return ar[i] < br[i]
		}
		if al || bl {
			return bl
		}
		var ai, bi int
		var an, bn int64
		if ar[i] == '0' || br[i] == '0' {
			for j := i - 1; j >= 0 && unicode.IsDigit(ar[j]); j-- {
				if ar[j] != '0' {
					an = 1
					bn = 1
					break
				}
			}
		}
		for ai = i; ai < len(ar) && unicode.IsDigit(ar[ai]); ai++ {
			an = an*10 + int64(ar[ai]-'0')
		}
		for bi = i; bi < len(br) && unicode.IsDigit(br[bi]); bi++ {
			bn = bn*10 + int64(br[bi]-'0')
		}
		if an != bn {
			return an < bn
		}
		if ai != bi {
			return ai < bi
		}
		return ar[i] < br[i]
	}
	return len(ar) < len(br)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func asciiLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func asciiDigit(c byte) bool  { return '0' <= c && c <= '9' }

// keyLessASCII is keyLess on bytes, for ASCII keys, where a rune is a byte,
// unicode.IsLetter is [A-Za-z] and unicode.IsDigit is [0-9].
func keyLessASCII(ar, br string) bool {
	for i := 0; i < len(ar) && i < len(br); i++ {
		if ar[i] == br[i] {
			continue
		}
		al := asciiLetter(ar[i])
		bl := asciiLetter(br[i])
		if al && bl {
			return ar[i] < br[i]
		}
		if al || bl {
			return bl
		}
		var ai, bi int
		var an, bn int64
		if ar[i] == '0' || br[i] == '0' {
			for j := i - 1; j >= 0 && asciiDigit(ar[j]); j-- {
				if ar[j] != '0' {
					an = 1
					bn = 1
					break
				}
			}
		}
		for ai = i; ai < len(ar) && asciiDigit(ar[ai]); ai++ {
			an = an*10 + int64(ar[ai]-'0')
		}
		for bi = i; bi < len(br) && asciiDigit(br[bi]); bi++ {
			bn = bn*10 + int64(br[bi]-'0')
		}
		if an != bn {
			return an < bn
		}
		if ai != bi {
			return ai < bi
		}
		return ar[i] < br[i]
	}
	return len(ar) < len(br)
}

// mapKeys returns the keys of m in the order yaml.v3 writes them, or false
// when a key needs the upstream encoder.
func mapKeys[V any](m map[string]V) ([]string, bool) {
	keys := make([]string, 0, len(m))
	for k := range m {
		if !plainJSON(k) {
			return nil, false
		}
		keys = append(keys, k)
	}
	return keys, sortKeys(keys)
}
