package apiclient

import "encoding/json"

// Request and response bodies of the dmls API, version 1. The server
// (internal/api) encodes and decodes these same types; the CUE definitions
// in internal/api/api.cue describe them in the OpenAPI document, and the
// server's tests check every response against them.

// FieldError is one problem with a request: where in the request body
// (a dotted path such as training.replicas.worker.replicas; empty when the
// problem is not about one field) and what is wrong.
type FieldError struct {
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
}

// ErrorResponse is the body of every 4xx and 5xx response.
type ErrorResponse struct {
	RequestID string       `json:"requestId,omitempty"`
	Errors    []FieldError `json:"errors"`
}

// Commit is a commit the server pushed to one repo.
type Commit struct {
	// Repo is the platform's name of the repo: ml-model or k8s-config.
	Repo string `json:"repo"`
	SHA  string `json:"sha"`
}

// Result is the body of an accepted change (201, 202) or of a change that
// turned out to change nothing (200, Changed false).
type Result struct {
	RequestID string `json:"requestId"`
	// Operation names what was done, such as "retrain" or "rollout".
	Operation string `json:"operation"`
	Team      string `json:"team"`
	App       string `json:"app"`
	Changed   bool   `json:"changed"`
	// Commits are the commits that carry the change: the spec commit in
	// ml-model and the generated config in k8s-config. Requests batched
	// together share their commits.
	Commits []Commit `json:"commits"`
	// Applications are the Argo CD Applications (<app>-<env>) that sync
	// the change.
	Applications []string `json:"applications"`
	// Warnings say what was accepted but is not done yet, such as a
	// config publish that will be retried.
	Warnings     []string      `json:"warnings,omitempty"`
	TrainingJob  *TrainingJob  `json:"trainingJob,omitempty"`
	ModelService *ModelService `json:"modelService,omitempty"`
	// DryRun: the request asked for a dry run (?dryRun=true), and nothing
	// was committed; Preview says what the change would do.
	DryRun  bool     `json:"dryRun,omitempty"`
	Preview *Preview `json:"preview,omitempty"`
}

// Preview is what a change would do to the config repos, in words: the
// summary and the risks of dmls diff.
type Preview struct {
	Summary []PreviewLine `json:"summary"`
	Risks   []PreviewLine `json:"risks"`
}

// PreviewLine is one line of a Preview: where (app/env, team/env or "")
// and what.
type PreviewLine struct {
	Where string `json:"where,omitempty"`
	What  string `json:"what"`
}

// Commit returns the SHA of the commit in repo, or "".
func (r *Result) Commit(repo string) string {
	for _, c := range r.Commits {
		if c.Repo == repo {
			return c.SHA
		}
	}
	return ""
}

// TrainingJob is an app's training job as the API shows it.
type TrainingJob struct {
	Team string `json:"team"`
	App  string `json:"app"`
	// Managed is true when the API owns the app's spec
	// (apps/<app>/app.json); hand-written apps can be read but not changed
	// through the API.
	Managed bool `json:"managed"`
	// Commit is the ml-model commit that last changed the app, as far as
	// the server has seen (see the package documentation of internal/api).
	Commit string `json:"commit"`
	// Training is the #TrainingJob as stored: what was submitted and
	// changed since, without defaults filled in.
	Training json.RawMessage `json:"training"`
	// Overrides are the per-environment training overrides, by environment.
	Overrides map[string]json.RawMessage `json:"overrides,omitempty"`
	// Run is the current run; TFJob is its name, <app>-r<run> (the name
	// of the TFJob or TrainJob, as Kind says).
	Run   int    `json:"run"`
	TFJob string `json:"tfJob"`
	// Kind is TFJob or TrainJob.
	Kind         string                `json:"kind"`
	Environments []TrainingEnvironment `json:"environments"`
}

// TrainingEnvironment is a training job as it runs in one environment.
type TrainingEnvironment struct {
	Env         string         `json:"env"`
	Namespace   string         `json:"namespace"`
	Application string         `json:"application"`
	TFJob       string         `json:"tfJob"`
	Image       string         `json:"image,omitempty"`
	Replicas    map[string]int `json:"replicas"`
	// Nodes is a TrainJob's node count (replicas are a TFJob's).
	Nodes int `json:"nodes,omitempty"`
}

// ModelService is an app's model service as the API shows it.
type ModelService struct {
	Team    string `json:"team"`
	App     string `json:"app"`
	Managed bool   `json:"managed"`
	Commit  string `json:"commit"`
	// Serving is the #ModelService as stored.
	Serving      json.RawMessage            `json:"serving"`
	Overrides    map[string]json.RawMessage `json:"overrides,omitempty"`
	Environments []ServingEnvironment       `json:"environments"`
}

// ServingEnvironment is a model service as it runs in one environment.
type ServingEnvironment struct {
	Env         string `json:"env"`
	Namespace   string `json:"namespace"`
	Application string `json:"application"`
	// Revision is the revision the spec creates (serving.revision).
	Revision   string `json:"revision,omitempty"`
	Image      string `json:"image,omitempty"`
	StorageURI string `json:"storageUri,omitempty"`
	// Traffic is the Knative traffic split as generated.
	Traffic []TrafficTarget `json:"traffic"`
}

// TrafficTarget is one route of a Knative Service.
type TrafficTarget struct {
	Tag string `json:"tag,omitempty"`
	// Revision is a Knative revision name (<app>-<revision>); empty with
	// LatestRevision.
	Revision       string `json:"revision,omitempty"`
	LatestRevision bool   `json:"latestRevision,omitempty"`
	Percent        int    `json:"percent"`
}

// TrainingJobList is the body of GET /v1/teams/{team}/trainingjobs.
type TrainingJobList struct {
	Items []TrainingJob `json:"items"`
}

// ModelServiceList is the body of GET /v1/teams/{team}/modelservices.
type ModelServiceList struct {
	Items []ModelService `json:"items"`
}

// TrainingJobSubmission is the body of POST /v1/teams/{team}/trainingjobs:
// an #App holding a training job, without its team, which the path names.
// Training and the overrides are #TrainingJob values, as in spec files.
type TrainingJobSubmission struct {
	Name      string            `json:"name"`
	Envs      []string          `json:"envs,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	Training  any               `json:"training"`
	Release   any               `json:"release,omitempty"`
	Overrides map[string]any    `json:"overrides,omitempty"`
}

// ModelServiceSubmission is the body of POST /v1/teams/{team}/modelservices.
type ModelServiceSubmission struct {
	Name      string            `json:"name"`
	Envs      []string          `json:"envs,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	Serving   any               `json:"serving"`
	Release   any               `json:"release,omitempty"`
	Overrides map[string]any    `json:"overrides,omitempty"`
}

// Rollout is the body of POST .../modelservices/{app}/rollouts: a new
// version, from an image or a model in storage.
type Rollout struct {
	// Env limits the rollout to one environment (overrides.<env>);
	// empty changes the app's own settings, which every environment gets.
	Env        string `json:"env,omitempty"`
	Image      string `json:"image,omitempty"`
	StorageURI string `json:"storageUri,omitempty"`
	// Revision names the new revision; empty means the next one (v3 after v2).
	Revision string `json:"revision,omitempty"`
	// CanaryPercent, when set, sends that share of traffic to the new
	// revision and the rest to the one that served until now.
	CanaryPercent *int `json:"canaryPercent,omitempty"`
}

// CanaryUpdate is the body of PUT .../modelservices/{app}/canary.
type CanaryUpdate struct {
	Env     string `json:"env,omitempty"`
	Percent int    `json:"percent"`
}

// Target is the body of canary promotion and rollback: which environment,
// or none for the app's own settings.
type Target struct {
	Env string `json:"env,omitempty"`
}

// Promotion is the body of POST /v1/teams/{team}/apps/{app}/promote.
type Promotion struct {
	From string `json:"from"`
	// To defaults to the environment after From.
	To string `json:"to,omitempty"`
}

// Identity is the body of GET /v1/whoami.
type Identity struct {
	Team  string `json:"team"`
	Actor string `json:"actor"`
	// Admin tokens may act for every team.
	Admin bool `json:"admin,omitempty"`
	// A user logged in through the identity provider: the username
	// claim, subject, email and groups, the teams of those groups, and
	// when the token expires (RFC 3339).
	User    string   `json:"user,omitempty"`
	Subject string   `json:"subject,omitempty"`
	Email   string   `json:"email,omitempty"`
	Groups  []string `json:"groups,omitempty"`
	Teams   []string `json:"teams,omitempty"`
	Expires string   `json:"expires,omitempty"`
	// ServiceAccount is a Kubernetes service account, "<namespace>/<name>".
	ServiceAccount string `json:"serviceAccount,omitempty"`
}

// AuthConfig is the body of GET /v1/auth/config: how to log in.
type AuthConfig struct {
	OIDC *OIDCConfig `json:"oidc,omitempty"`
	// Tokens: the server takes team tokens too.
	Tokens bool `json:"tokens"`
}

// OIDCConfig is the platform's identity provider.
type OIDCConfig struct {
	Issuer   string   `json:"issuer"`
	ClientID string   `json:"clientID"`
	Audience string   `json:"audience"`
	Scopes   []string `json:"scopes"`
	// The issuer's authorization and token endpoints (from its
	// discovery document), while the server can reach it.
	AuthorizationEndpoint string `json:"authorizationEndpoint,omitempty"`
	TokenEndpoint         string `json:"tokenEndpoint,omitempty"`
}

// ReleaseTarget is the body of the release routes a person takes
// (approve, abort, resume).
type ReleaseTarget struct {
	Env string `json:"env"`
}

// ReleaseView is the body of GET /v1/teams/{team}/apps/{app}/release.
type ReleaseView struct {
	Team         string               `json:"team"`
	App          string               `json:"app"`
	Chain        []string             `json:"chain"`
	Rejected     []int                `json:"rejected"`
	Training     *ReleaseTraining     `json:"training,omitempty"`
	Managed      bool                 `json:"managed"`
	Environments []ReleaseEnvironment `json:"environments"`
	DecidedAt    string               `json:"decidedAt"`
}

// ReleaseTraining is the observed run of the environment that trains.
type ReleaseTraining struct {
	Run        int    `json:"run"`
	State      string `json:"state"`
	FinishedAt string `json:"finishedAt,omitempty"`
}

// ReleaseEnvironment is one environment of a release pipeline.
type ReleaseEnvironment struct {
	Env      string         `json:"env"`
	Serving  int            `json:"serving"`
	Canary   *ReleaseCanary `json:"canary,omitempty"`
	Step     string         `json:"step"`
	Run      int            `json:"run,omitempty"`
	Reason   string         `json:"reason"`
	From     string         `json:"from,omitempty"`
	Since    string         `json:"since,omitempty"`
	Until    string         `json:"until,omitempty"`
	Gates    []ReleaseGate  `json:"gates,omitempty"`
	LastStep *ReleaseLast   `json:"lastStep,omitempty"`
}

// ReleaseCanary is a canary under way.
type ReleaseCanary struct {
	Run     int `json:"run"`
	Percent int `json:"percent"`
}

// ReleaseGate is one gate's last evaluation.
type ReleaseGate struct {
	Name    string  `json:"name"`
	Query   string  `json:"query"`
	Value   float64 `json:"value"`
	Max     float64 `json:"max"`
	Verdict string  `json:"verdict"`
	Error   string  `json:"error,omitempty"`
}

// ReleaseLast is the pipeline's last step in an environment.
type ReleaseLast struct {
	Step string `json:"step"`
	Run  int    `json:"run"`
	At   string `json:"at"`
}
