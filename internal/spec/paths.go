package spec

// Spec paths: the top-level fields of an app spec, as findings and
// provenance name them.
const (
	PathName      = "name"
	PathTeam      = "team"
	PathEnvs      = "envs"
	PathOverrides = "overrides"
	PathTraining  = "training"
	PathServing   = "serving"
	PathPolicy    = "policy"
	PathSecrets   = "secrets"
	PathEnv       = "env"
	PathEnvFrom   = "envFrom"
)
