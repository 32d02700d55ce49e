package spec

import (
	"encoding/json"
	"testing"
)

// TestMergeOverride pins the override rule that the loader and the API's
// spec operations share: maps merge, lists and scalars are replaced.
func TestMergeOverride(t *testing.T) {
	base := map[string]any{"a": map[string]any{"x": 1, "y": 2}, "l": []any{1, 2}, "s": "base"}
	over := map[string]any{"a": map[string]any{"y": 3}, "l": []any{9}, "n": true}
	got := MergeOverride(base, over)
	want := map[string]any{"a": map[string]any{"x": 1, "y": 3}, "l": []any{9}, "s": "base", "n": true}
	if !equalJSON(got, want) {
		t.Errorf("MergeOverride = %v, want %v", got, want)
	}
	if base["a"].(map[string]any)["y"] != 2 {
		t.Error("MergeOverride changed its base")
	}
}

func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
