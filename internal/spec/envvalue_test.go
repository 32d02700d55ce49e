package spec

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestEnvValueJSON reads each form an env value takes in a spec (a string,
// a secretRef, a configMapRef), writes it back, and requires the same JSON
// and the same value again: a literal stays a string, a reference an
// object.
func TestEnvValueJSON(t *testing.T) {
	yes := true
	tests := []struct {
		name string
		in   string
		want EnvValue
		out  string // the JSON written back; "" for in itself
	}{
		{name: "literal", in: `"debug"`, want: EnvValue{Value: "debug"}},
		{name: "empty literal", in: `""`, want: EnvValue{}},
		{name: "literal with quotes and a newline", in: `"a \"b\"\nc"`, want: EnvValue{Value: "a \"b\"\nc"}},
		{name: "literal that looks like an object", in: `"{\"secretRef\":{}}"`, want: EnvValue{Value: `{"secretRef":{}}`}},
		{
			name: "secret reference",
			in:   `{"secretRef":{"name":"mnist-db","key":"password"}}`,
			want: EnvValue{SecretRef: &KeyRef{Name: "mnist-db", Key: "password"}, object: true},
		},
		{
			name: "optional configmap reference",
			in:   `{"configMapRef":{"name":"settings","key":"dataset","optional":true}}`,
			want: EnvValue{ConfigMapRef: &KeyRef{Name: "settings", Key: "dataset", Optional: &yes}, object: true},
		},
		{
			name: "reference with space and keys in another order",
			in:   ` { "secretRef" : { "key" : "password", "name" : "mnist-db" } } `,
			want: EnvValue{SecretRef: &KeyRef{Name: "mnist-db", Key: "password"}, object: true},
			out:  `{"secretRef":{"name":"mnist-db","key":"password"}}`,
		},
		{
			// The loader refuses both at once; the JSON keeps both so that it can.
			name: "both references",
			in:   `{"secretRef":{"name":"s","key":"k"},"configMapRef":{"name":"c","key":"k"}}`,
			want: EnvValue{SecretRef: &KeyRef{Name: "s", Key: "k"}, ConfigMapRef: &KeyRef{Name: "c", Key: "k"}, object: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v EnvValue
			if err := json.Unmarshal([]byte(tt.in), &v); err != nil {
				t.Fatalf("unmarshal %s: %v", tt.in, err)
			}
			if !reflect.DeepEqual(v, tt.want) {
				t.Fatalf("unmarshal %s = %#v, want %#v", tt.in, v, tt.want)
			}
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.out
			if want == "" {
				want = tt.in
			}
			if string(b) != want {
				t.Errorf("marshal = %s, want %s", b, want)
			}
			var again EnvValue
			if err := json.Unmarshal(b, &again); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(again, v) {
				t.Errorf("round trip = %#v, want %#v", again, v)
			}
			if v.IsLiteral() != (v.SecretRef == nil && v.ConfigMapRef == nil) || v.IsEmptyRef() {
				t.Errorf("IsLiteral %v, IsEmptyRef %v for %s", v.IsLiteral(), v.IsEmptyRef(), tt.in)
			}
		})
	}
}

// TestEnvValueEmptyReference tells {} from "": both name no reference,
// but only {} is a reference the spec left empty, which the loader refuses.
func TestEnvValueEmptyReference(t *testing.T) {
	var obj, str EnvValue
	if err := json.Unmarshal([]byte(`{}`), &obj); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(`""`), &str); err != nil {
		t.Fatal(err)
	}
	if !obj.IsLiteral() || !obj.IsEmptyRef() {
		t.Errorf("{}: IsLiteral %v, IsEmptyRef %v; want true, true", obj.IsLiteral(), obj.IsEmptyRef())
	}
	if !str.IsLiteral() || str.IsEmptyRef() {
		t.Errorf(`"": IsLiteral %v, IsEmptyRef %v; want true, false`, str.IsLiteral(), str.IsEmptyRef())
	}
	// A value read again after an object forgets the object.
	v := obj
	if err := json.Unmarshal([]byte(`"x"`), &v); err != nil {
		t.Fatal(err)
	}
	if v.IsEmptyRef() || v.Value != "x" {
		t.Errorf("after reading \"x\" over {}: %#v", v)
	}
	// And a reference read over a literal drops the literal.
	v = Literal("old")
	if err := json.Unmarshal([]byte(`{"secretRef":{"name":"s","key":"k"}}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.Value != "" || v.SecretRef == nil || v.IsLiteral() {
		t.Errorf("after reading a reference over a literal: %#v", v)
	}
}

// TestEnvValueJSONErrors refuses what is neither a string nor an object of
// references, naming what it found.
func TestEnvValueJSONErrors(t *testing.T) {
	tests := []struct {
		name, in, wantErr string
	}{
		{"number", `5`, "cannot unmarshal number"},
		{"bool", `true`, "cannot unmarshal bool"},
		{"list", `["a"]`, "cannot unmarshal array"},
		{"reference that is a string", `{"secretRef":"mnist-db"}`, "cannot unmarshal string"},
		{"key that is a number", `{"secretRef":{"name":"s","key":1}}`, "cannot unmarshal number"},
		{"broken string", `"abc`, "unexpected end"},
		{"broken object", `{"secretRef":`, "unexpected end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v EnvValue
			err := json.Unmarshal([]byte(tt.in), &v)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("unmarshal %s: error %v, want one containing %q", tt.in, err, tt.wantErr)
			}
		})
	}
}

// TestContainerEnvJSON round-trips env values inside the structs that
// hold them, as the API writes an app's spec to apps/<app>/app.json and
// reads it back: a map of literals and references in one container.
func TestContainerEnvJSON(t *testing.T) {
	in := `{"image":"registry.example.com/train:1.0","env":{"DATASET":{"configMapRef":{"name":"mnist-settings","key":"dataset"}},"DB_PASSWORD":{"secretRef":{"name":"mnist-db","key":"password"}},"LOG_LEVEL":"debug"},"envFrom":[{"secretRef":{"name":"mnist-db"}},{"configMapRef":{"name":"mnist-settings"},"prefix":"CFG_"}]}`
	var c Container
	if err := json.Unmarshal([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	if got := c.Env["LOG_LEVEL"]; !got.IsLiteral() || got.Value != "debug" {
		t.Errorf("LOG_LEVEL = %#v", got)
	}
	if got := c.Env["DB_PASSWORD"]; got.SecretRef == nil || *got.SecretRef != (KeyRef{Name: "mnist-db", Key: "password"}) {
		t.Errorf("DB_PASSWORD = %#v", got)
	}
	if got := c.Env["DATASET"]; got.ConfigMapRef == nil || got.ConfigMapRef.Key != "dataset" || got.SecretRef != nil {
		t.Errorf("DATASET = %#v", got)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != in {
		t.Errorf("marshal =\n%s\nwant\n%s", b, in)
	}
}
