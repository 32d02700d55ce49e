package spec

import (
	"strings"
	"testing"
)

func TestComponentWaves(t *testing.T) {
	tests := []struct {
		name    string
		comps   map[string]Component
		want    map[string]int
		wantErr string
	}{
		{name: "chain", comps: map[string]Component{"a": {}, "b": {DependsOn: []string{"a"}}, "c": {DependsOn: []string{"a", "b"}}},
			want: map[string]int{"a": 0, "b": 1, "c": 2}},
		{name: "cycle", comps: map[string]Component{"a": {DependsOn: []string{"b"}}, "b": {DependsOn: []string{"a"}}}, wantErr: "cycle a -> b -> a"},
		{name: "unknown", comps: map[string]Component{"a": {DependsOn: []string{"z"}}}, wantErr: `no component "z"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ComponentWaves(tt.comps)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, w := range tt.want {
				if got[k] != w {
					t.Errorf("wave of %s = %d, want %d", k, got[k], w)
				}
			}
		})
	}
}
