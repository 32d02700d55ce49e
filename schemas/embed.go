// Package schemas holds the CUE schemas of dmls specs, embedded in the binary.
package schemas

import "embed"

// FS holds the schema files. They form one CUE package, "schemas", whose
// definitions (#Platform, #Environment, #App, #TrainingJob, #ModelService)
// are the single source of truth for every spec, file or API request.
//
//go:embed *.cue
var FS embed.FS
