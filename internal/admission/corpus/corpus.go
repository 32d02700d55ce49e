// Package corpus reads the admission corpus: objects that the API server
// accepts or refuses, each with the findings it gives. The offline checks
// (package admission) and the e2e test against a real API server read the
// same files, so that the two verdicts are compared on the same inputs.
package corpus

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Case is one object of the corpus and what the API server says of it:
// nothing (valid) or findings containing Want, in order.
type Case struct {
	Name string
	Obj  *unstructured.Unstructured
	Want []string
}

// Valid reports whether the API server accepts the object.
func (c Case) Valid() bool { return len(c.Want) == 0 }

// Load reads every *.yaml file of dir. Each file is one object; its
// "# want:" lines give the expected findings, or "valid". A file named
// valid-* must want none and one named invalid-* at least one.
func Load(dir string) ([]Case, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no corpus files in %s", dir)
	}
	var out []Case
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := yaml.Unmarshal(src, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		c := Case{Name: strings.TrimSuffix(filepath.Base(f), ".yaml"), Obj: &unstructured.Unstructured{Object: m}}
		for _, line := range strings.Split(string(src), "\n") {
			if w, ok := strings.CutPrefix(line, "# want: "); ok && w != "valid" {
				c.Want = append(c.Want, w)
			}
		}
		if strings.HasPrefix(c.Name, "valid-") != c.Valid() {
			return nil, fmt.Errorf("%s: a valid- file wants no finding, an invalid- file at least one", f)
		}
		out = append(out, c)
	}
	return out, nil
}
