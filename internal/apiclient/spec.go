package apiclient

import (
	"encoding/json"
	"errors"
	"fmt"

	"sigs.k8s.io/yaml"
)

// ParseSpec reads an app spec, JSON or YAML, as an object.
func ParseSpec(b []byte) (map[string]any, error) {
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, fmt.Errorf("not JSON or YAML: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil || m == nil {
		return nil, errors.New("want an object")
	}
	return m, nil
}

// SplitSpec keeps one section (training or serving) of an app spec, with
// its overrides, for the submission of that section. What is not of the
// shape it expects (overrides that are not an object, an environment's
// overrides that are not one, a field other than training and serving in
// them) goes to every part unchanged: the server checks the spec, and says
// what is wrong with it as it would for a spec file.
func SplitSpec(body map[string]any, sec string) map[string]any {
	out := map[string]any{}
	for k, v := range body {
		switch k {
		case "training", "serving":
			if k == sec {
				out[k] = v
			}
		case "overrides":
			envs, ok := v.(map[string]any)
			if !ok {
				out[k] = v
				continue
			}
			o := map[string]any{}
			for env, ev := range envs {
				m, ok := ev.(map[string]any)
				if !ok {
					o[env] = ev
					continue
				}
				part := map[string]any{}
				for f, fv := range m {
					if f == sec || f != "training" && f != "serving" {
						part[f] = fv
					}
				}
				if len(part) > 0 || len(m) == 0 {
					o[env] = part
				}
			}
			if len(o) > 0 || len(envs) == 0 {
				out[k] = o
			}
		default:
			out[k] = v
		}
	}
	return out
}
