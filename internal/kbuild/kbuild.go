// Package kbuild runs kustomize build in-process (krusty) on a generated
// tree: the renderer of last resort, and the reference that dmls's direct
// rendering is held to byte for byte.
package kbuild

import (
	"bytes"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/dmls-project/dmls/generators"
)

// kustomizeMu serialises krusty runs: kustomize has a known concurrent map
// access in its transformer configs (kustomize#3659).
var kustomizeMu sync.Mutex

// Build runs kustomize on dir of tree, in memory, with root-only load
// restrictions, no plugins and kustomize's legacy kind order, and returns
// the multi-document YAML it renders.
func Build(tree generators.Tree, dir string) (out []byte, err error) {
	fs := filesys.MakeFsInMemory()
	files := make([]string, 0, len(tree))
	for p := range tree {
		files = append(files, p)
	}
	sort.Strings(files)
	for _, p := range files {
		if err := fs.MkdirAll(path.Dir("/" + p)); err != nil {
			return nil, err
		}
		if err := fs.WriteFile("/"+p, tree[p]); err != nil {
			return nil, err
		}
	}
	opts := &krusty.Options{
		Reorder:          krusty.ReorderOptionLegacy,
		LoadRestrictions: types.LoadRestrictionsRootOnly,
		PluginConfig:     types.DisabledPluginConfig(),
	}
	kustomizeMu.Lock()
	defer kustomizeMu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("kustomize build %s: panic: %v", dir, r)
		}
	}()
	m, err := krusty.MakeKustomizer(opts).Run(fs, "/"+strings.TrimPrefix(dir, "/"))
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	y, err := m.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	return bytes.TrimSpace(y), nil
}
