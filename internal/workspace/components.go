package workspace

import (
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/helmrender"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/spec"
)

// checkComponents checks the platform's components: one source each,
// known dependencies without cycles, at most one Knative Serving, a
// kubeflow-config repo to publish them to. It reads each workspace chart
// into ws.Charts, with helmrender's safety rules, and adds it to the
// digest h.
func (l *loader) checkComponents(h interface{ Write([]byte) (int, error) }) {
	p := l.ws.Platform
	if len(p.Components) == 0 {
		return
	}
	prov := l.ws.PlatformProv
	add := func(at, format string, args ...any) {
		pos, _ := prov.Lookup(at)
		l.diags.Add(pos, at, format, args...)
	}
	if _, ok := p.Repos[layout.RepoKubeflowConfig]; !ok {
		add("components", "components are published to the %q repo; add it to repos", layout.RepoKubeflowConfig)
	}
	knative := ""
	bad := false
	for _, name := range slices.Sorted(maps.Keys(p.Components)) {
		c := p.Components[name]
		at := "components." + name
		n := 0
		for _, set := range []bool{c.Git != nil, c.Helm != nil, c.Chart != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			add(at, "a component needs exactly one source: git (an upstream folder Argo CD renders), helm (a chart repository Argo CD renders) or chart (a chart in the workspace dmls renders); it has %d", n)
		}
		for i, d := range c.DependsOn {
			if _, ok := p.Components[d]; !ok || d == name {
				bad = true
				add(fmt.Sprintf("%s.dependsOn[%d]", at, i), "no other component named %q; the components are %s", d, diag.QuoteList(slices.Sorted(maps.Keys(p.Components))))
			}
		}
		if c.KnativeServing {
			if knative != "" {
				add(at+".knativeServing", "component %q already installs Knative Serving; mark one component only", knative)
			}
			knative = name
			switch {
			case c.Helm != nil:
				add(at+".knativeServing", "dmls sets Knative's config-features itself, which it cannot do in a chart Argo CD renders; use a git kustomization or a workspace chart")
			case c.Git != nil && c.Git.Kind == spec.GitDirectory:
				add(at+".git.kind", "dmls sets Knative's config-features with a kustomize patch, which plain manifests cannot take; use kind: \"kustomize\"")
			}
		}
		if c.Chart != nil {
			files, err := l.readChart(c.Chart.Path)
			if err == nil {
				if _, err = helmrender.Load(files); err != nil {
					err = fmt.Errorf("chart %s: %w", c.Chart.Path, err)
				}
			}
			if err != nil {
				add(at+".chart.path", "%v", err)
				continue
			}
			for _, f := range files {
				fmt.Fprintf(h, "chart %s %s %d\n", name, f.Name, len(f.Data))
				h.Write(f.Data)
			}
			if l.ws.Charts == nil {
				l.ws.Charts = map[string]helmrender.Files{}
			}
			l.ws.Charts[name] = files
		}
	}
	if !bad {
		if _, err := spec.ComponentWaves(p.Components); err != nil {
			add("components", "%v", err)
		}
	}
}

// readChart reads a chart folder, or a .tgz, of the workspace.
func (l *loader) readChart(rel string) (helmrender.Files, error) {
	files, err := l.readChartFiles(rel)
	if err != nil {
		// The workspace's root refuses a symlink that leads outside it
		// with "path escapes from parent": name the link instead.
		for p := rel; p != "." && p != "/"; p = path.Dir(p) {
			if target, lerr := fs.ReadLink(l.fsys, p); lerr == nil {
				return nil, fmt.Errorf("%w: %s is a symlink to %s, which the workspace cannot follow (only files inside %s are read); copy the chart into the workspace", helmrender.ErrUnsafe, p, target, l.root)
			}
		}
	}
	return files, err
}

// readChartFiles is readChart without its explanation of symlinks.
func (l *loader) readChartFiles(rel string) (helmrender.Files, error) {
	if !strings.HasSuffix(rel, ".tgz") {
		return helmrender.Read(l.fsys, rel, helmrender.Limits{})
	}
	entries, err := fs.ReadDir(l.fsys, path.Dir(rel))
	if err != nil {
		return nil, fmt.Errorf("read chart %s: %w", rel, unwrapPathError(err))
	}
	for _, e := range entries {
		if e.Name() != path.Base(rel) {
			continue
		}
		if e.Type()&fs.ModeSymlink != 0 {
			return nil, fmt.Errorf("%w: %s is a symlink; copy the chart into the workspace", helmrender.ErrUnsafe, rel)
		}
		info, err := e.Info()
		if err != nil {
			return nil, err
		}
		if !info.Mode().IsRegular() || info.Size() > helmrender.DefaultLimits.Bytes {
			return nil, fmt.Errorf("%w: %s is not a regular file of at most %d bytes", helmrender.ErrUnsafe, rel, helmrender.DefaultLimits.Bytes)
		}
		data, err := fs.ReadFile(l.fsys, rel)
		if err != nil {
			return nil, err
		}
		return helmrender.ReadArchive(data, helmrender.Limits{})
	}
	return nil, fmt.Errorf("read chart %s: %w", rel, fs.ErrNotExist)
}
