package rules

import (
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/spec"
)

// checker collects findings about one instance, placed through its
// provenance.
type checker struct {
	in    *spec.Instance
	p     *spec.Platform
	diags diag.List
}

func (c *checker) add(at, format string, args ...any) {
	pos, at := c.in.Locate(at)
	c.diags.Add(pos, at, format, args...)
}

// rule adds a finding of a policy rule at the environment's level for it:
// an error (also when the level is unset), a warning, or nothing ("off").
// Like add, it names a value an override set by the override's own path.
func (c *checker) rule(id, level, at, format string, args ...any) {
	if level == spec.PolicyOff {
		return
	}
	pos, at := c.in.Locate(at)
	d := diag.Diagnostic{Pos: pos, Path: at, Rule: id, Message: fmt.Sprintf(format, args...)}
	if level == spec.PolicyWarn {
		d.Severity = diag.SeverityWarning
	}
	c.diags = append(c.diags, d)
}

// envSuffix says which environment a finding is about.
func (c *checker) envSuffix() string {
	if c.in.Env == nil {
		return ""
	}
	return fmt.Sprintf(" (environment %s)", c.in.Env.Name)
}

// Instance checks one app in one environment (or its base) against the
// rules that span fields, which read better in Go than in CUE, and that
// need the environment, and places each finding at the user's own line
// through the instance's provenance. It also sets in.Spec.GPU, where the
// app's GPU pods must run, when the checks pass.
func Instance(p *spec.Platform, in *spec.Instance) diag.List {
	c := &checker{in: in, p: p}
	a := in.Spec
	c.secrets(a)
	if t := a.Training; t.IsTrainJob() {
		c.trainJob(a)
	} else if t != nil {
		c.training(a)
	}
	if a.Training != nil {
		c.podMetadata("training.podMetadata", a.Training.PodMetadata)
		c.scheduling(a)
	}
	if a.Serving != nil {
		c.serving(a)
	}
	c.securityException(a)
	c.names(a)
	if !c.diags.HasErrors() {
		c.clusterFit(a)
		a.GPU = c.placement()
	}
	return c.diags
}

// maxPodSuffix is the longest suffix the training operator appends to a
// TFJob name for its pods and services: "-evaluator-" plus an index.
const maxPodSuffix = len("-evaluator-") + 4

func (c *checker) training(a *spec.AppSpec) {
	t := a.Training
	if t.Name != "" {
		if len(t.Name)+maxPodSuffix > 63 {
			c.add("training.name", "TFJob name %q too long: with its pod suffixes it must fit in 63 characters; shorten it to at most %d characters", t.Name, 63-maxPodSuffix)
		}
	} else if name := spec.TFJobName(a.Name, t.Run); len(name)+maxPodSuffix > 63 {
		c.add("name", "app name too long for training: the TFJob %q plus its pod suffixes must fit in 63 characters; shorten the name to at most %d characters", name, 63-maxPodSuffix-len(name)+len(a.Name))
	}
	c.tfjobOnly(t)
	roles := 0
	for _, role := range spec.Roles {
		rs := t.Replicas.Get(role)
		if rs == nil {
			continue
		}
		roles++
		c.podMetadata("training.replicas."+role+".podMetadata", rs.PodMetadata)
		at := "training.replicas." + role
		if rs.Image == "" && t.Image == "" {
			c.add(at, "no image: set training.image, or image for every replica set")
		}
		if rs.Image != "" {
			c.image(at+".image", rs.Image)
		}
		if max := c.in.Env; max != nil && max.Training.MaxReplicas != nil && rs.Replicas > *max.Training.MaxReplicas {
			c.add(at+".replicas", "%d replicas exceed the limit of %d set by environment %s (training.maxReplicas)", rs.Replicas, *max.Training.MaxReplicas, max.Name)
		}
		c.resources(at+".resources", rs.Resources)
		switch {
		case rs.Resources != nil:
			c.requireResources(at+".resources", rs.Resources)
		case t.Resources != nil:
			c.requireResources("training.resources", t.Resources)
		default:
			c.requireResources(at, nil)
		}
	}
	if roles == 0 {
		c.add("training.replicas", "a training job needs at least one replica set: chief, worker, ps or evaluator")
	}
	if t.Replicas.PS != nil && t.Replicas.Worker == nil {
		c.add("training.replicas.ps", "parameter servers need workers: add training.replicas.worker")
	}
	if t.Image != "" {
		c.image("training.image", t.Image)
	}
	c.resources("training.resources", t.Resources)
	if t.TTLSecondsAfterFinished != nil {
		c.argoCDTTL()
	}
	for name, v := range t.Volumes {
		c.volume("training.volumes."+name, v)
	}
}

// argoCDTTL refuses training.ttlSecondsAfterFinished, a rule of Argo CD
// rather than of the training operator: the operator deletes a finished
// TFJob after the TTL while it is still in git, and Argo CD's selfHeal
// (dmls syncs with it) recreates it, so the training runs again, forever.
// The loader holds the rule, where the field's position is known; the
// generators only generate.
func (c *checker) argoCDTTL() {
	pos, at := c.in.Locate(pathTTL)
	c.diags = append(c.diags, diag.Diagnostic{Pos: pos, Path: at, Rule: diag.RuleArgoCD, Message: "Argo CD's selfHeal would recreate the TFJob each time " +
		"the training operator deletes it after ttlSecondsAfterFinished, and the training would run again; leave ttlSecondsAfterFinished " +
		"unset (cleanPodPolicy frees the pods, the finished job stays and shows Healthy) and bump run to train again"})
}

// pathTTL is the spec field of a TFJob's ttlSecondsAfterFinished.
const pathTTL = "training.ttlSecondsAfterFinished"

func (c *checker) volume(at string, v spec.Volume) {
	if v.Create != nil {
		c.quantity(at+".create.size", v.Create.Size)
	}
}

func (c *checker) serving(a *spec.AppSpec) {
	s := a.Serving
	if s.Runtime == spec.RuntimeKServe {
		c.kserve(s)
	} else {
		c.knative(s)
	}
	switch {
	case s.Image == "" && s.Model == nil:
		c.add("serving", "set serving.image, or serving.model with a storageUri")
	case s.Image != "" && s.Model != nil:
		c.add("serving.model", "set serving.image or serving.model, not both")
	case s.Image != "":
		c.image("serving.image", s.Image)
	default:
		if env := c.in.Env; env != nil {
			at := "serving.model.runtimeVersion"
			switch {
			case env.ImageTags == spec.ImageTagsDigest:
				c.rule(diag.RuleImageDigest, env.Policy.Images, at, "environment %s requires image digests; set serving.image to an image@sha256:… of the runtime instead of serving.model", env.Name)
			case pins(env) && strings.EqualFold(s.Model.RuntimeVersion, "latest"):
				c.rule(diag.RuleImageTag, env.Policy.Images, at, "environment %s refuses the tag %q; pin a runtime version such as 2.14.1", env.Name, s.Model.RuntimeVersion)
			}
			c.registry(at, spec.TFServingImage+":"+s.Model.RuntimeVersion)
		}
	}
	if rev := s.Revision; rev != "" && s.Runtime != spec.RuntimeKServe {
		name := s.ObjectName(a.Name)
		if n := len(spec.RevisionName(name, rev)); n > 63 {
			c.add("serving.revision", "the revision name %q is %d characters; service name and revision together must fit in 62", spec.RevisionName(name, rev), n)
		}
	}
	as := s.Autoscaling
	if as.MinScale != nil && as.MaxScale != nil && *as.MaxScale != 0 && *as.MinScale > *as.MaxScale {
		c.add("serving.autoscaling.minScale", "minScale %d is above maxScale %d%s", *as.MinScale, *as.MaxScale, c.envSuffix())
	}
	tr := s.Traffic
	if tr.CanaryPercent != nil && s.Runtime == spec.RuntimeKServe {
		// KServe sends the rest to the revision it rolled out last; stable
		// and revision only name them.
	} else if tr.CanaryPercent != nil {
		if tr.Stable == "" {
			c.add("serving.traffic.canaryPercent", "a canary needs serving.traffic.stable, the revision that keeps the rest of the traffic")
		}
		if s.Revision == "" {
			c.add("serving.traffic.canaryPercent", "a canary needs serving.revision, the name of the new revision that gets canaryPercent")
		}
	} else if tr.Stable != "" {
		c.add("serving.traffic.stable", "stable is only used with a canary; set serving.traffic.canaryPercent (0-100)")
	}
	if tr.Stable != "" && tr.Stable == s.Revision {
		c.add("serving.traffic.stable", "stable and revision are both %q; the canary must be a different revision", tr.Stable)
	}
	if tr.Pinned && s.Revision == "" {
		c.add("serving.traffic.pinned", "pinned traffic needs serving.revision, the revision to pin")
	}
	if tr.Pinned && tr.CanaryPercent != nil {
		c.add("serving.traffic.pinned", "pinned and canaryPercent exclude each other: a canary already pins both revisions")
	}
	for tag := range tr.Tags {
		if tag == spec.TagStable || tag == spec.TagCanary || tag == spec.TagCurrent {
			c.add("serving.traffic.tags."+tag, "tag %q is reserved for the routes dmls makes; choose another", tag)
		}
	}
	c.resources("serving.resources", s.Resources)
	if s.Resources != nil {
		c.requireResources("serving.resources", s.Resources)
	} else {
		c.requireResources("serving", nil)
	}
}

// requireResources applies rule resources-required to the resources of
// one container, written at at.
func (c *checker) requireResources(at string, r *spec.Resources) {
	env := c.in.Env
	if env == nil || env.Policy.Resources == "" || env.Policy.Resources == spec.PolicyOff {
		return
	}
	var missing []string
	if r == nil || r.CPU == "" {
		missing = append(missing, "cpu")
	}
	if r == nil || r.Memory == "" {
		missing = append(missing, "memory")
	}
	if r == nil || r.Limits == nil || r.Limits.CPU == "" {
		missing = append(missing, "limits.cpu")
	}
	if r == nil || r.Limits == nil || r.Limits.Memory == "" {
		missing = append(missing, "limits.memory")
	}
	if len(missing) == 0 {
		return
	}
	where := at
	if r != nil {
		where = strings.TrimSuffix(at, ".resources")
	}
	c.rule(diag.RuleResources, env.Policy.Resources, at, "environment %s requires resource requests and limits on every container; set %s.resources: %s", env.Name, where, strings.Join(missing, ", "))
}

// securityException applies rule security-context: an app that relaxes
// the restricted security context of its containers, which the
// environment's policy.securityExceptions allows, reports or refuses.
func (c *checker) securityException(a *spec.AppSpec) {
	ex := a.SecurityException()
	env := c.in.Env
	if ex == nil || env == nil {
		return
	}
	const at = "policy.exceptions.securityContext"
	var relaxed []string
	if ex.RunAsRoot {
		relaxed = append(relaxed, "as root")
	}
	if ex.PrivilegeEscalation {
		relaxed = append(relaxed, "with privilege escalation")
	}
	if ex.WritableRootFilesystem {
		relaxed = append(relaxed, "with a writable root filesystem")
	}
	if len(relaxed) == 0 {
		c.rule(diag.RuleSecurityContext, spec.PolicyError, at, "the exception relaxes nothing: set runAsRoot, privilegeEscalation or writableRootFilesystem to true, or remove it")
		return
	}
	level := env.Policy.SecurityExceptions
	verb := "refuses"
	if level == spec.PolicyWarn {
		verb = "reports"
	}
	c.rule(diag.RuleSecurityContext, level, at, "app %s runs its containers %s (reason: %q); environment %s %s this exception (policy.securityExceptions: %q)", a.Name, strings.Join(relaxed, ", "), ex.Reason, env.Name, verb, level)
}

// image applies the environment's image policy (rules image-tag,
// image-digest and image-registry): a tag or digest always, no latest (in
// any case) where the environment pins, a digest where it requires digests,
// and a registry from its allow-list.

// ruleKServeModeWord is the rule of the warning about a deprecated KServe
// deployment mode word (Serverless, RawDeployment).
const ruleKServeModeWord = "kserve-deprecated-mode"

// kserveOnly lists the settings only KServe understands, by spec path.
func kserveOnly(s *spec.ModelService) []string {
	var out []string
	if m := s.Model; m != nil {
		for _, f := range []struct{ at, v string }{
			{"model.format", m.Format}, {"model.formatVersion", m.FormatVersion}, {"model.protocolVersion", m.ProtocolVersion},
		} {
			if f.v != "" {
				out = append(out, f.at)
			}
		}
	}
	if s.Autoscaling.Metric != "" {
		out = append(out, "autoscaling.metric")
	}
	if s.DeploymentMode != "" {
		out = append(out, "deploymentMode")
	}
	if s.Transformer != nil {
		out = append(out, "transformer")
	}
	return out
}

// knative checks what a Knative Service can serve: TensorFlow Serving
// reads the model from a volume claim.
func (c *checker) knative(s *spec.ModelService) {
	for _, at := range kserveOnly(s) {
		c.add("serving."+at, "%s is a KServe setting; set serving.runtime: \"kserve\" to serve with KServe, or remove it", at)
	}
	m := s.Model
	if m == nil {
		return
	}
	if m.FromTraining {
		// The output's scheme is checked where it is written
		// (Release): a second finding here would say it again.
	} else if !pvcURI.MatchString(m.StorageURI) {
		c.add("serving.model.storageUri", "Knative serves models from a volume claim only: use pvc://<claim>/<path>, not %q, or set serving.runtime: \"kserve\"", m.StorageURI)
	}
	if m.Runtime != "" && m.Runtime != spec.TFServingRuntime {
		c.add("serving.model.runtime", "the Knative runtime is %q, the only one; other runtimes need serving.runtime: \"kserve\"", spec.TFServingRuntime)
	}
}

var pvcURI = regexp.MustCompile(`^pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?(/[A-Za-z0-9_.-]+)*/?$`)

// kserve checks what an InferenceService can express. KServe's own
// validation runs on the generated object as well (internal/build).
func (c *checker) kserve(s *spec.ModelService) {
	if m := s.Model; m != nil {
		if m.Format == "" {
			c.add("serving.model", "KServe needs the model format: set serving.model.format, for example \"tensorflow\", \"pytorch\", \"sklearn\" or \"onnx\"")
		}
		if m.Name != "" {
			c.add("serving.model.name", "KServe names the model after the service; remove serving.model.name (Knative only)")
		}
	}
	tr := s.Traffic
	if tr.Pinned {
		c.add("serving.traffic.pinned", "KServe cannot pin a revision: it routes to the latest one, or splits with canaryPercent against the one it rolled out last")
	}
	for tag := range tr.Tags {
		c.add("serving.traffic.tags."+tag, "KServe has no named routes; remove the tag (KServe tags the latest and previous revisions itself with serving.kserve.io/enable-tag-routing)")
	}
	mode := s.DeploymentMode
	if mode == "" && c.in.Env != nil {
		mode = c.in.Env.Serving.DeploymentMode
	}
	mode, deprecated := spec.DeploymentMode(mode)
	if deprecated && s.DeploymentMode != "" {
		pos, at := c.in.Locate("serving.deploymentMode")
		c.diags = append(c.diags, diag.Diagnostic{Pos: pos, Path: at, Severity: diag.SeverityWarning, Rule: ruleKServeModeWord,
			Message: fmt.Sprintf("deploymentMode %q is KServe's deprecated name of %q (since KServe 0.16); dmls writes %q, write that", s.DeploymentMode, mode, mode)})
	}
	if mode == spec.DeploymentStandard {
		if as := s.Autoscaling; as.MinScale != nil && *as.MinScale == 0 {
			c.add("serving.autoscaling.minScale", "KServe's Standard mode cannot scale to zero%s; set minScale to 1 or more, or use deploymentMode \"Knative\"", c.envSuffix())
		}
		if tr.CanaryPercent != nil {
			c.add("serving.traffic.canaryPercent", "KServe's Standard mode has no canary rollout%s; use deploymentMode \"Knative\"", c.envSuffix())
		}
	}
	if t := s.Transformer; t != nil {
		c.image("serving.transformer.image", t.Image)
		c.resources("serving.transformer.resources", t.Resources)
	}
}

// image applies the environment's image tag policy.
func (c *checker) image(at, image string) {
	env := c.in.Env
	if env == nil {
		return
	}
	level := env.Policy.Images
	tag, digest := splitImage(image)
	switch {
	case digest != "":
	case tag == "":
		c.rule(diag.RuleImageTag, level, at, "image %q has no tag or digest, so it runs whatever latest is: add a version tag such as :1.4.2 or a digest @sha256:<digest>", image)
	case pins(env) && strings.EqualFold(tag, "latest"):
		c.rule(diag.RuleImageTag, level, at, "environment %s refuses the tag %q: use a version tag such as :1.4.2 or a digest", env.Name, tag)
	case env.ImageTags == spec.ImageTagsDigest:
		c.rule(diag.RuleImageDigest, level, at, "environment %s requires image digests: use %s@sha256:<digest>", env.Name, image)
	}
	c.registry(at, image)
}

// pins reports whether env refuses floating tags.
func pins(env *spec.Environment) bool {
	return env.ImageTags == spec.ImageTagsPinned || env.ImageTags == spec.ImageTagsDigest
}

// registry checks an image against the environment's allow-list.
func (c *checker) registry(at, image string) {
	env := c.in.Env
	allowed := env.Policy.Registries
	if len(allowed) == 0 {
		return
	}
	ref := normalizeImage(image)
	for _, r := range allowed {
		if strings.HasPrefix(ref, strings.TrimSuffix(r, "/")+"/") {
			return
		}
	}
	c.rule(diag.RuleImageRegistry, env.Policy.Images, at, "image %q is from %s, which environment %s does not allow (policy.registries: %s)", image, registryOf(image), env.Name, strings.Join(allowed, ", "))
}

// registryOf returns the registry host of an image reference: its first
// path component when that looks like a host, else docker.io.
func registryOf(image string) string {
	first, _, ok := strings.Cut(image, "/")
	if ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return first
	}
	return "docker.io"
}

// normalizeImage spells out the registry of an image reference.
func normalizeImage(image string) string {
	if r := registryOf(image); r == "docker.io" && !strings.HasPrefix(image, "docker.io/") {
		return "docker.io/" + image
	}
	return image
}

// splitImage returns the tag and digest of an image reference.
func splitImage(image string) (tag, digest string) {
	if i := strings.Index(image, "@"); i >= 0 {
		image, digest = image[:i], image[i+1:]
	}
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		tag = image[i+1:]
	}
	return tag, digest
}

// resources checks that quantities parse and that requests fit in limits.
func (c *checker) resources(at string, r *spec.Resources) {
	if r == nil {
		return
	}
	cpu := c.quantity(at+".cpu", r.CPU)
	mem := c.quantity(at+".memory", r.Memory)
	if env := c.in.Env; env != nil {
		// A container without a limit gets the namespace's default limit
		// (its LimitRange), and a request above it makes the pod invalid.
		var lim spec.Limits
		if r.Limits != nil {
			lim = *r.Limits
		}
		c.underDefaultLimit(at+".cpu", "cpu", cpu, lim.CPU, env.Limits.Default.CPU, env.Name)
		c.underDefaultLimit(at+".memory", "memory", mem, lim.Memory, env.Limits.Default.Memory, env.Name)
	}
	if r.Limits == nil {
		return
	}
	if lim := c.quantity(at+".limits.cpu", r.Limits.CPU); lim != nil && cpu != nil && lim.Cmp(*cpu) < 0 {
		c.add(at+".limits.cpu", "cpu limit %s is below the request %s", r.Limits.CPU, r.CPU)
	}
	if lim := c.quantity(at+".limits.memory", r.Limits.Memory); lim != nil && mem != nil && lim.Cmp(*mem) < 0 {
		c.add(at+".limits.memory", "memory limit %s is below the request %s", r.Limits.Memory, r.Memory)
	}
}

// underDefaultLimit reports a request without a limit that is above the
// environment's default limit.
func (c *checker) underDefaultLimit(at, name string, req *resource.Quantity, limit, def, env string) {
	if req == nil || limit != "" || def == "" {
		return
	}
	d, err := resource.ParseQuantity(def)
	if err != nil || req.Cmp(d) <= 0 {
		return
	}
	c.add(at, "%s request %s is above the default %s limit %s that environment %s's LimitRange gives containers without a limit, so Kubernetes would reject the pod; set limits.%s (at least %s), or raise limits.default.%s in overlays/%s.cue", name, req.String(), name, def, env, name, req.String(), name, env)
}

func (c *checker) quantity(at, s string) *resource.Quantity {
	if s == "" {
		return nil
	}
	q, err := resource.ParseQuantity(s)
	if err != nil {
		c.add(at, "invalid quantity %q: must be a Kubernetes quantity such as 500m, 2, 1.5Gi or 8Gi", s)
		return nil
	}
	if q.Sign() <= 0 {
		c.add(at, "quantity %q must be positive", s)
		return nil
	}
	return &q
}
