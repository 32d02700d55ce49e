package diag

// Rule IDs. Every finding that names a rule uses one of these constants;
// Rules lists them all, and a test (internal/cli) fails when one of them
// has no bad-spec case in the testscript corpus.
const (
	// RuleCRDSchema: a generated custom object that its CRD's schema
	// (and CEL rules) would refuse, or a field the API server would prune.
	RuleCRDSchema = "crd-schema"
	// RuleBuiltin: a generated built-in object that the API server's own
	// validation would refuse.
	RuleBuiltin = "api-validation"
	// RuleTFJobAdmission: the training operator's admission webhook.
	RuleTFJobAdmission = "tfjob-admission"
	// RuleKnative: Knative's own Validate on a generated Service.
	RuleKnative = "knative-validation"
	// RuleKServe: KServe's own admission validation on a generated
	// InferenceService.
	RuleKServe = "kserve-validation"
	// RuleArgoCD: a spec setting that would make a generated object fight
	// Argo CD's selfHeal (checked by the loader).
	RuleArgoCD = "argocd-selfheal"

	// RuleCredentialsInURL: a repository URL with credentials in it.
	RuleCredentialsInURL = "credentials-in-url"
	// RuleSecretLiteral: a literal in an app's spec that looks like a
	// secret, at the environment's policy.secretLiterals.
	RuleSecretLiteral = "secret-literal"
	// RuleImageTag: an image without a tag or digest, or one tagged
	// latest (in any case) where the environment pins (imageTags
	// "pinned" or "digest").
	RuleImageTag = "image-tag"
	// RuleImageDigest: an image without a digest where the environment
	// requires digests (imageTags "digest").
	RuleImageDigest = "image-digest"
	// RuleImageRegistry: an image from a registry outside the
	// environment's policy.images.registries.
	RuleImageRegistry = "image-registry"
	// RuleResources: a container without cpu and memory requests and
	// limits where the environment's policy.resources requires them.
	RuleResources = "resources-required"
	// RuleSecurityContext: an app that relaxes the restricted security
	// context (policy.exceptions.securityContext) where the environment's
	// policy.securityExceptions refuses or reports it.
	RuleSecurityContext = "security-context"

	// RuleQuotaMaxScale: a team's apps fit its quota with every service at
	// its min scale but not at its max scale (a warning; at min scale it
	// is an error).
	RuleQuotaMaxScale = "quota-max-scale"

	// RuleKueueTFJob: a TFJob queues through Kueue's TFJob integration,
	// deprecated since Kueue 0.19 and removed in 0.20 (a warning; from
	// 0.20 on it is an error).
	RuleKueueTFJob = "kueue-tfjob"
)

// RuleInfo describes one rule.
type RuleInfo struct {
	ID      string
	Summary string
	// Backstop marks a rule on generated objects that the spec schemas
	// already keep from firing: no spec that passes them reaches it. Its
	// bad cases are generated objects broken on purpose, in
	// internal/build's admission tests, instead of bad specs.
	Backstop bool
}

// Rules is the registry of every rule ID, in a fixed order.
var Rules = []RuleInfo{
	{RuleCRDSchema, "generated custom objects pass their CRD's schema, CEL rules and pruning", true},
	{RuleBuiltin, "generated built-in objects pass the API server's validation", false},
	{RuleTFJobAdmission, "TFJobs pass the training operator's admission rules", true},
	{RuleKnative, "Knative Services pass Knative's own validation", false},
	{RuleKServe, "KServe InferenceServices pass KServe's own admission validation", false},
	{RuleArgoCD, "no spec setting makes a generated object fight Argo CD's selfHeal", false},
	{RuleCredentialsInURL, "repository URLs carry no credentials", false},
	{RuleSecretLiteral, "no secret-looking literal in a spec", false},
	{RuleImageTag, "images carry a tag or digest; latest is refused where the environment pins", false},
	{RuleImageDigest, "images carry a digest where the environment requires digests", false},
	{RuleImageRegistry, "images come from the environment's allowed registries", false},
	{RuleResources, "containers set cpu and memory requests and limits where the environment requires them", false},
	{RuleSecurityContext, "containers run restricted unless the app records an exception the environment allows", false},
	{RuleQuotaMaxScale, "a team's apps fit its quota with every model service at its max scale", false},
	{RuleKueueTFJob, "a TFJob under Kueue uses the TFJob integration, deprecated since Kueue 0.19 and gone in 0.20", false},
}

// KnownRule reports whether id is a registered rule.
func KnownRule(id string) bool {
	for _, r := range Rules {
		if r.ID == id {
			return true
		}
	}
	return false
}
