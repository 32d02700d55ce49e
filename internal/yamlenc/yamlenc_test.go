package yamlenc

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
	goyaml "sigs.k8s.io/yaml/goyaml.v2"
)

// same fails the test unless Marshal(v) is byte for byte
// sigs.k8s.io/yaml.Marshal(v), errors included.
func same(t *testing.T, v any) {
	t.Helper()
	want, werr := yaml.Marshal(v)
	got, gerr := Marshal(v)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("Marshal(%#v): error %v, upstream error %v", v, gerr, werr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Marshal(%#v):\n got %q\nwant %q", v, got, want)
	}
}

// orderable tells whether every map in v has keys that yaml.v2 sorts
// consistently; upstream's own output depends on map iteration order
// when they do not ("a2" < "a10" < "a1b" < "a2").
func orderable(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k, e := range x {
			keys = append(keys, k)
			if !orderable(e) {
				return false
			}
		}
		return sortKeys(keys)
	case []any:
		for _, e := range x {
			if !orderable(e) {
				return false
			}
		}
	}
	return true
}

// specials are strings whose encoding takes one of yaml.v2's rules.
var specials = []string{
	"", " ", "  ", "a", "yes", "Yes", "YES", "no", "y", "n", "on", "off", "true", "False", "null", "Null", "~",
	"<<", ":", "::", "a:", "a: b", "a:b", "-", "--", "---", "- a", "-a", "...", "?", "? a", "?a", "#", "a #b", "a#b",
	"@a", "`a", "'", "\"", "'a'", "\"a\"", "!", "&a", "*a", "|", ">", "%", "{", "}", "[", "]", ",", "a,b",
	"1", "-1", "+1", "01", "0x1F", "0o17", "0b101", "-0b101", "1_000", "1e3", "1E3", "1.5", ".5", "5.", "1e", "e3",
	".inf", "-.inf", ".nan", ".NaN", "1:20", "190:20:30.15", "1:2:3", "2001-12-14", "2001-12-14t21:59:43.10-05:00",
	"2001-12-14 21:59:43.10", "2001-12-1", "20011-12-14", "1.0.0", "v1", "10Gi", "500m", "0.5", "1e400", "0x",
	"a\nb", "a\n", "a\n\n", "\n", "\na", " a", "a ", "a\n b", "a \nb", "a\tb", "\t", "a\rb", "a\u0085b",
	"a\u2028b", "a\u2029b", "\u00a0", "é", "日本語", "\ufeffa", "a\ufeff", "\x00", "\x07", "\x1b", "\u00ad",
	"\U0001F600", "\uFFFE", "\uFFFD", "a\\b", "a\"b", "a'b", "it's", "$(VAR)", "${VAR}", "%s", "=", "a=b",
	"/usr/bin/python", "python -m train --lr=0.001 --epochs=10", "http://example.com:8080/path?x=1#frag",
	strings.Repeat("word ", 30), strings.Repeat("x", 200), strings.Repeat("a b", 60) + " ",
	strings.Repeat("ab  ", 40), "line one\nline two\n" + strings.Repeat("long ", 30),
	strings.Repeat("é ", 50), "\"" + strings.Repeat("q ", 50) + "\"", strings.Repeat("'x ", 40),
	strings.Repeat("a ", 39) + "\n", "x\x00" + strings.Repeat(" y", 50), strings.Repeat("k", 129),
	"tab\there" + strings.Repeat(" w", 45),
}

// places puts s where a scalar can stand: as a key and a value of the
// root, nested mappings and sequences, at several indents, so that every
// column-dependent rule (line folding) is met.
func places(s string) []any {
	return []any{
		map[string]any{"k": s},
		map[string]any{s: "v"},
		map[string]any{s: map[string]any{s: []any{s}}},
		map[string]any{"a": map[string]any{"b": map[string]any{"c": map[string]any{"d": s}}}},
		map[string]any{"list": []any{s, []any{s, map[string]any{"x": s, s: []any{}}}}},
		[]any{s},
		[]any{[]any{[]any{s}}},
		map[string]any{"m": []any{map[string]any{"a": s, "b": []any{map[string]any{s: s}}}}},
		s,
	}
}

func TestSpecialStrings(t *testing.T) {
	for _, s := range specials {
		for _, v := range places(s) {
			same(t, v)
		}
	}
}

func TestValues(t *testing.T) {
	type inner struct {
		A string            `json:"a"`
		B []int             `json:"b,omitempty"`
		C map[string]string `json:"c"`
		D *int              `json:"d"`
	}
	for _, v := range []any{
		nil, true, false, 0, -7, int64(math.MaxInt64), int64(math.MinInt64), uint64(math.MaxUint64), int32(5),
		uint8(200), 0.5, 1.0, math.Copysign(0, -1), 1e6, 1234567.0, 1e20, 1e21, 1.5e300, 1e-6, 1e-7, 0.000123, float32(0.1),
		float32(1e7), 3.14159, 100.25, json.Number("12"), json.Number("1e3"), json.Number("-0"), json.Number("1.50"),
		json.Number("123456789012345678901234567890"), json.Number("1e400"),
		math.Inf(1), math.NaN(),
		map[string]any{}, []any{}, map[string]any{"a": map[string]any{}, "b": []any{}, "c": nil},
		map[string]any{"a": []any{[]any{}, map[string]any{}, nil, []any{1, 2}}},
		map[string]any{"x": map[string]any(nil), "y": []any(nil)},
		map[string]string{"b": "2", "a": "yes"}, []string{"a", "no"}, []string(nil),
		inner{A: "x", C: map[string]string{"k": "1"}}, &inner{B: []int{1, 2}}, []inner{{}, {A: "on"}},
		map[string]any{"s": inner{A: "~"}}, (*inner)(nil),
		map[string]any{"a10": 1, "a2": 2, "a1": 3, "b": 4, "B": 5, "_": 6, "-": 7, "é": 8, "1": 9, "10": 10, "9": 11},
		map[string]any{"x01": 1, "x1": 2, "x001": 3, "x0": 4, "x00": 5},
		map[string]any{"replicas": 3, "lr": 0.001, "big": 1e22, "neg": -2.5, "int": 1e6},
		map[string]any{"bad": "a\xffb"}, map[string]any{"\xff": 1},
	} {
		if !orderable(v) {
			continue
		}
		same(t, v)
	}
}

func FuzzMarshalJSON(f *testing.F) {
	for _, s := range specials {
		b, _ := json.Marshal(map[string]any{"k": s, s: []any{s, map[string]any{"n": s}}})
		f.Add(b)
	}
	for _, s := range []string{
		`{"a":1,"b":[1,2,{"c":null}],"d":{}}`, `[1.5,1e6,1e21,-0,123456789012345678901234]`, `{"a":[[],{}]}`,
		`{"apiVersion":"v1","kind":"Service","metadata":{"name":"x","labels":{"app":"y"}},"spec":{"ports":[{"port":80}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			return
		}
		if orderable(v) {
			same(t, v)
		}
		d := json.NewDecoder(bytes.NewReader(data))
		d.UseNumber()
		var n any
		if err := d.Decode(&n); err == nil && orderable(n) {
			same(t, n)
		}
	})
}

func FuzzMarshalString(f *testing.F) {
	for _, s := range specials {
		f.Add(s, 0)
	}
	f.Fuzz(func(t *testing.T, s string, depth int) {
		if simpleASCII(s) {
			var e emitter
			e.analyze(s)
			if e.multiline || !e.flowPlainAllowed || !e.blockPlainAllowed || !e.singleQuotedAllowed || !e.blockAllowed {
				t.Fatalf("simpleASCII(%q) but analyze finds %+v", s, e)
			}
		}
		depth %= 40
		if depth < 0 {
			depth = -depth
		}
		// s at a fuzzed indent, as a key and a value, in a mapping and a
		// sequence.
		var v any = map[string]any{"k": s, s: []any{s, 1}}
		for range depth {
			v = map[string]any{"n": v}
			if depth%3 == 0 {
				v = []any{v}
			}
		}
		if orderable(v) {
			same(t, v)
		}
		for _, p := range places(s) {
			if orderable(p) {
				same(t, p)
			}
		}
	})
}

func TestFastPathTaken(t *testing.T) {
	for _, v := range []any{
		map[string]any{"a": "yes", "b": []any{1, 2.5, nil, true}, "c": "x\ny\n", "d": strings.Repeat("w ", 60)},
		map[string]string{"a": "b"},
	} {
		if !Fast(v) {
			t.Errorf("Fast(%#v) = false, want the fast path", v)
		}
	}
	if Fast(map[string]any{"bad": "a\xffb"}) {
		t.Error("invalid UTF-8 took the fast path; it needs upstream's JSON replacement")
	}
}

// objects are the rendered objects of a synthetic app (a Knative Service
// and a TFJob with chief, workers and PS), decoded as Unstructured holds
// them: integers as int64.
func objects(b *testing.B) []any {
	b.Helper()
	raw, err := os.ReadFile("testdata/objects.yaml")
	if err != nil {
		b.Fatal(err)
	}
	var out []any
	for _, doc := range bytes.Split(raw, []byte("\n---\n")) {
		d := json.NewDecoder(bytes.NewReader(must(yaml.YAMLToJSON(doc))))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			b.Fatal(err)
		}
		out = append(out, int64s(v))
	}
	return out
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func int64s(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = int64s(e)
		}
	case []any:
		for i, e := range x {
			x[i] = int64s(e)
		}
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

func benchmarkMarshal(b *testing.B, marshal func(any) ([]byte, error)) {
	objs := objects(b)
	b.ReportAllocs()
	for b.Loop() {
		for _, o := range objs {
			if _, err := marshal(o); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkMarshal is yamlenc on a synthetic app's objects; compare with
// BenchmarkMarshalUpstream (sigs.k8s.io/yaml.Marshal) and
// BenchmarkMarshalYAMLv2 (yaml.v2 directly, which kustomize.Marshal used).
func BenchmarkMarshal(b *testing.B)         { benchmarkMarshal(b, Marshal) }
func BenchmarkMarshalUpstream(b *testing.B) { benchmarkMarshal(b, yaml.Marshal) }
func BenchmarkMarshalYAMLv2(b *testing.B)   { benchmarkMarshal(b, goyaml.Marshal) }

func TestBenchmarkObjectsMatch(t *testing.T) {
	for _, o := range objects(&testing.B{}) {
		same(t, o)
		if !Fast(o) {
			t.Errorf("fixture object took the upstream path")
		}
	}
}
