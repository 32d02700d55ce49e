package apiclient

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
)

// oddSpecs are specs a careless or hostile user might submit (issue 8,
// section 9: `overrides` that is not an object made dmls submit panic).
func oddSpecs(t testing.TB) []string {
	b, err := os.ReadFile("testdata/odd-specs.json")
	if err != nil {
		t.Fatal(err)
	}
	var specs []string
	if err := json.Unmarshal(b, &specs); err != nil {
		t.Fatal(err)
	}
	return specs
}

// FuzzSubmitSpec feeds arbitrary spec files, JSON and YAML, through the
// client's spec handling, as FuzzLoad does for the loader. It must never
// panic; each part holds its own section only, keeps every other field,
// and loses nothing of the overrides that the server would have to judge.
func FuzzSubmitSpec(f *testing.F) {
	for _, s := range oddSpecs(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		body, err := ParseSpec([]byte(src))
		if err != nil {
			return
		}
		for _, sec := range []string{"training", "serving"} {
			other := map[string]string{"training": "serving", "serving": "training"}[sec]
			part := SplitSpec(body, sec)
			if _, err := json.Marshal(part); err != nil {
				t.Fatalf("part %s does not encode: %v", sec, err)
			}
			if _, ok := part[other]; ok {
				t.Fatalf("the %s part holds %s", sec, other)
			}
			for k, v := range body {
				if k == "training" || k == "serving" || k == "overrides" {
					continue
				}
				if !reflect.DeepEqual(part[k], v) {
					t.Fatalf("the %s part lost %s", sec, k)
				}
			}
			if v, ok := body["overrides"]; ok {
				envs, isObj := v.(map[string]any)
				if !isObj && !reflect.DeepEqual(part["overrides"], v) {
					t.Fatalf("overrides %v that are not an object were changed to %v", v, part["overrides"])
				}
				for env, ev := range envs {
					if _, isObj := ev.(map[string]any); !isObj {
						po, _ := part["overrides"].(map[string]any)
						if !reflect.DeepEqual(po[env], ev) {
							t.Fatalf("overrides.%s %v was changed to %v", env, ev, po[env])
						}
					}
				}
			}
		}
	})
}
