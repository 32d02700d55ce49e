package inferenceservice

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestKServeAgreement holds dmls's expression of KServe's admission rules
// (ValidateTyped, Default) to KServe v0.20.0's own code on a corpus: the
// program in tests/kserve-agree, a module of its own on KServe's
// Kubernetes line, runs KServe's ValidateCreate and defaulting on each
// file, and both must give the same error and the same defaulted object.
// Each corpus file names the rule it exercises.
func TestKServeAgreement(t *testing.T) {
	files, err := filepath.Glob("testdata/agree/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	for i, f := range files {
		if files[i], err = filepath.Abs(f); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", append([]string{"run", "."}, files...)...)
	cmd.Dir = filepath.Join("..", "..", "tests", "kserve-agree")
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tests/kserve-agree: %v\n%s", err, stderr.String())
	}
	type result struct {
		File      string          `json:"file"`
		Error     string          `json:"error"`
		Defaulted json.RawMessage `json:"defaulted"`
	}
	seen, failing := 0, 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var r result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		seen++
		name := filepath.Base(r.File)
		data, err := os.ReadFile(r.File)
		if err != nil {
			t.Fatal(err)
		}
		isvc := &InferenceService{}
		if err := yaml.UnmarshalStrict(data, isvc); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		got := ""
		if err := ValidateTyped(DeepCopy(isvc)); err != nil {
			got = err.Error()
		}
		if r.Error != "" {
			failing++
		}
		if got != r.Error {
			t.Errorf("%s: dmls says %q, KServe %q", name, got, r.Error)
		}
		if r.Defaulted == nil || string(r.Defaulted) == "null" {
			continue // KServe's defaulting panics on it
		}
		Default(isvc)
		mine, err := json.Marshal(isvc)
		if err != nil {
			t.Fatal(err)
		}
		if a, b := normal(t, mine), normal(t, r.Defaulted); !reflect.DeepEqual(a, b) {
			ja, _ := json.Marshal(a)
			jb, _ := json.Marshal(b)
			t.Errorf("%s: defaulted differently\ndmls:  %s\nKServe: %s", name, ja, jb)
		}
	}
	if seen != len(files) {
		t.Fatalf("KServe's program answered for %d of %d files", seen, len(files))
	}
	// The corpus must exercise both outcomes.
	if failing == 0 || failing == seen {
		t.Errorf("%d of %d corpus files fail KServe's validation; the corpus needs valid and invalid cases", failing, seen)
	}
}

// normal is an object as JSON values without what only one side's Go
// types write: empty values, nulls and status.
func normal(t *testing.T, raw []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if m, ok := v.(map[string]any); ok {
		delete(m, "status")
	}
	return prune(v)
}

func prune(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if p := prune(e); p == nil {
				delete(x, k)
			} else {
				x[k] = p
			}
		}
		if len(x) == 0 {
			return nil
		}
	case []any:
		if len(x) == 0 {
			return nil
		}
		for i, e := range x {
			x[i] = prune(e)
		}
	case string:
		if x == "" {
			return nil
		}
	}
	return v
}
