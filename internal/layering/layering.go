// Package layering writes down the one-way structure of dmls's packages
// and holds the code to it: data flows from spec files through the schemas
// to the typed model, the generators and the kustomize trees, and on to
// render and publish, and no package imports one above it in that flow.
//
// Levels, bottom to top (a package imports only packages at lower levels,
// or at its own level without a circle):
//
//  1. leaf utilities, which import nothing of dmls's: diag, provenance,
//     yamlenc, parallel, repourl, memo, secrets, layout, memfs, and the data
//     tables and embedded files (ec2, support, status/reads, apis/*,
//     console, schemas, scaffold), gates and schedule (a canary's
//     Prometheus gates and cron schedules, for the release reconciler) and
//     test helpers (golden, gittest, synth, gates/promtest);
//  2. spec, the model;
//  3. schema, the CUE layer; and helmrender, whose safety rules the loader
//     reads workspace charts with (it imports only spec);
//  4. admission, the upstream validators and webhook emulation;
//  5. rules, the checks, on spec data plus provenance;
//  6. workspace (the loader, which makes the model) and generators (which
//     read it): siblings that never import each other;
//  7. build, kbuild (kustomize build in-process), and evallimit (which
//     bounds the loader's evaluation);
//  8. render, cache, diff, preview, importer, gitops, publish, status,
//     refresh, gitrev, outdir, and ociimage;
//  9. specrepo, submit, api, apiclient, and specops;
//  10. cli;
//  11. the commands and tools that drive cli: cmd/dmls, dist, docgen,
//     benchrun, crdgen.
//
// A new package must be given its level here (Levels), or the test fails.
package layering

import "strings"

// Module is dmls's module path.
const Module = "github.com/dmls-project/dmls"

// Levels gives each package (relative to Module) its level. A key ending
// in "/..." covers the folder and every package under it.
var Levels = map[string]int{
	"internal/diag": 1, "internal/provenance": 1, "internal/yamlenc": 1, "internal/parallel": 1,
	"internal/repourl": 1, "internal/memo": 1, "internal/secrets": 1, "internal/layout": 1, "internal/memfs": 1,
	"internal/ec2": 1, "internal/support": 1, "internal/status/reads": 1, "internal/apis/...": 1,
	"internal/console": 1, "schemas": 1, "internal/scaffold": 1, "internal/admission/corpus": 1,
	"internal/golden": 1, "internal/gittest": 1, "internal/oidctest": 1, "internal/synth": 1, "internal/crdgen": 1,
	"internal/gates": 1, "internal/gates/promtest": 1, "internal/schedule": 1,

	"internal/spec": 2,

	"internal/schema": 3, "internal/helmrender": 3,

	"internal/admission": 4,

	"internal/rules": 5, "internal/release": 5,

	"internal/workspace": 6, "generators": 6, "generators/...": 6,

	"internal/build": 7, "internal/evallimit": 7, "internal/kbuild": 7,

	"internal/render": 8, "internal/cache": 8, "internal/diff": 8, "internal/preview": 8,
	"internal/importer": 8, "internal/gitops": 8, "internal/publish": 8, "internal/status": 8,
	"internal/status/kube": 8, "internal/status/statustest": 8, "internal/refresh": 8,
	"internal/gitrev": 8, "internal/outdir": 8, "internal/ociimage": 8, "internal/oidcauth": 8,

	"internal/specrepo": 9, "internal/submit": 9, "internal/api": 9, "internal/apiclient": 9,
	"internal/specops": 9, "internal/pipeline": 9,

	"internal/cli": 10,

	"cmd/...": 11, "internal/dist": 11, "internal/docgen/...": 11, "internal/benchrun": 11,
	"internal/crdgen/cmd/...": 11, "internal/layering": 11,
}

// Siblings are groups of packages at one level that never import each
// other: the loader makes the model and the generators read it, and
// neither knows the other.
var Siblings = [][]string{{"internal/workspace"}, {"generators", "generators/..."}}

// CUEFree are the packages that must not depend on CUE, even through
// another package: the model and everything that reads it to generate,
// check and render. Only the CUE layer and the loader (and what loads a
// workspace) need it.
var CUEFree = []string{"internal/spec", "internal/rules", "internal/admission", "generators", "generators/...",
	"internal/build", "internal/kbuild", "internal/diff", "internal/render"}

// LevelOf returns the level of the package rel (relative to Module), and
// false when Levels does not place it.
func LevelOf(rel string) (int, bool) {
	if l, ok := Levels[rel]; ok {
		return l, true
	}
	best, level := "", 0
	for k, l := range Levels {
		dir, ok := strings.CutSuffix(k, "/...")
		if ok && (rel == dir || strings.HasPrefix(rel, dir+"/")) && len(dir) > len(best) {
			best, level = dir, l
		}
	}
	return level, best != ""
}

// Match reports whether the package rel is one of patterns (Levels' keys'
// form).
func Match(rel string, patterns []string) bool {
	for _, p := range patterns {
		if dir, ok := strings.CutSuffix(p, "/..."); ok {
			if rel == dir || strings.HasPrefix(rel, dir+"/") {
				return true
			}
		} else if rel == p {
			return true
		}
	}
	return false
}
