package spec

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ComponentWaves returns the sync wave of each component: 0 without dependencies,
// else one more than the highest of its dependencies. A cycle or an
// unknown name is an error (the loader reports them with positions).
func ComponentWaves(comps map[string]Component) (map[string]int, error) {
	waves := map[string]int{}
	visiting := map[string]bool{}
	var visit func(name string, chain []string) (int, error)
	visit = func(name string, chain []string) (int, error) {
		if w, ok := waves[name]; ok {
			return w, nil
		}
		c, ok := comps[name]
		if !ok {
			return 0, fmt.Errorf("components.%s.dependsOn: no component %q", chain[len(chain)-1], name)
		}
		if visiting[name] {
			return 0, fmt.Errorf("components.%s.dependsOn: cycle %s", name, strings.Join(append(chain, name), " -> "))
		}
		visiting[name] = true
		w := 0
		for _, d := range c.DependsOn {
			dw, err := visit(d, append(chain, name))
			if err != nil {
				return 0, err
			}
			w = max(w, dw+1)
		}
		visiting[name] = false
		waves[name] = w
		return w, nil
	}
	for _, name := range slices.Sorted(maps.Keys(comps)) {
		if _, err := visit(name, nil); err != nil {
			return nil, err
		}
	}
	return waves, nil
}
