package rules

import (
	"maps"
	"slices"

	"github.com/dmls-project/dmls/internal/spec"
)

// names checks the names one instance of an app derives in its
// environment, beyond the TFJob and revision names of check.
func (c *checker) names(a *spec.AppSpec) {
	if env := c.in.Env; env != nil {
		if why := spec.ApplicationNameProblem(spec.ApplicationName(a.Name, env.Name)); why != "" {
			c.add("name", "app name too long for environment %s: %s (<app>-<env>); shorten the app name to at most %d characters", env.Name, why, spec.MaxApplicationName-len(env.Name)-1)
		}
	}
	seen := map[string]string{}
	for _, cl := range spec.CreatedClaims(a) {
		if len(cl.Name) > spec.MaxName {
			c.add(cl.From, "the PVC name %q (<app>-<volume>) is %d characters, more than %d; set claimName, or shorten the app or volume name", cl.Name, len(cl.Name), spec.MaxName)
		}
		if other, ok := seen[cl.Name]; ok {
			pos, _ := c.in.Prov.Lookup(other)
			c.add(cl.From, "the PVC %q is already created by %s (%s); one volume creates it, the others mount it without create", cl.Name, other, pos)
		}
		seen[cl.Name] = cl.From
	}
	if s := a.Serving; s != nil {
		tr := s.Traffic
		route := func(at, tag string) {
			if name := spec.RouteTagName(tag, s.ObjectName(a.Name)); len(name) > spec.MaxName {
				c.add(at, "the route of tag %q is the DNS label %q (<tag>-<app>), %d characters, more than %d; shorten the app name or the tag", tag, name, len(name), spec.MaxName)
			}
		}
		revision := func(at, rev string) {
			if name := spec.RevisionName(s.ObjectName(a.Name), rev); len(name) > spec.MaxName {
				c.add(at, "the revision name %q (<app>-<revision>) is %d characters, more than %d; shorten the app name or the revision", name, len(name), spec.MaxName)
			}
		}
		if tr.CanaryPercent != nil {
			route("serving.traffic.canaryPercent", spec.TagStable)
			route("serving.traffic.canaryPercent", spec.TagCanary)
		}
		if tr.Pinned {
			route("serving.traffic.pinned", spec.TagCurrent)
		}
		if tr.Stable != "" {
			revision("serving.traffic.stable", tr.Stable)
		}
		for _, tag := range slices.Sorted(maps.Keys(tr.Tags)) {
			route("serving.traffic.tags."+tag, tag)
			revision("serving.traffic.tags."+tag, tr.Tags[tag])
		}
	}
}
