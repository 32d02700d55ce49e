package workspace

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
	in    *Instance
	p     *spec.Platform
	diags diag.List
}

func (c *checker) add(at, format string, args ...any) {
	pos, at := c.in.Locate(at)
	c.diags.Add(pos, at, format, args...)
}

// envSuffix says which environment a finding is about.
func (c *checker) envSuffix() string {
	if c.in.Env == nil {
		return ""
	}
	return fmt.Sprintf(" (environment %s)", c.in.Env.Name)
}

// check holds the rules that span fields, which read better in Go than in
// CUE, and that need the environment.
func (l *loader) check(in *Instance) diag.List {
	c := &checker{in: in, p: l.ws.Platform}
	a := in.Spec
	if a.Training != nil {
		c.training(a)
	}
	if a.Serving != nil {
		c.serving(a)
	}
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

func (c *checker) training(a *spec.App) {
	t := a.Training
	if t.Name != "" {
		if len(t.Name)+maxPodSuffix > 63 {
			c.add("training.name", "TFJob name %q too long: with its pod suffixes it must fit in 63 characters; shorten it to at most %d characters", t.Name, 63-maxPodSuffix)
		}
	} else if name := spec.TFJobName(a.Name, t.Run); len(name)+maxPodSuffix > 63 {
		c.add("name", "app name too long for training: the TFJob %q plus its pod suffixes must fit in 63 characters; shorten the name to at most %d characters", name, 63-maxPodSuffix-len(name)+len(a.Name))
	}
	roles := 0
	for _, role := range spec.Roles {
		rs := t.Replicas.Get(role)
		if rs == nil {
			continue
		}
		roles++
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
	for name, v := range t.Volumes {
		c.volume("training.volumes."+name, v)
	}
}

func (c *checker) volume(at string, v spec.Volume) {
	if v.Create != nil {
		c.quantity(at+".create.size", v.Create.Size)
	}
}

func (c *checker) serving(a *spec.App) {
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
			switch {
			case env.ImageTags == spec.ImageTagsDigest:
				c.add("serving.model.runtimeVersion", "environment %s requires image digests; set serving.image to an image@sha256:… of the runtime instead of serving.model", env.Name)
			case env.ImageTags == spec.ImageTagsPinned && s.Model.RuntimeVersion == "latest":
				c.add("serving.model.runtimeVersion", "environment %s refuses the tag \"latest\"; pin a runtime version such as 2.14.1", env.Name)
			}
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
}

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
	if !pvcURI.MatchString(m.StorageURI) {
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
	if mode == spec.DeploymentRaw {
		if as := s.Autoscaling; as.MinScale != nil && *as.MinScale == 0 {
			c.add("serving.autoscaling.minScale", "KServe's RawDeployment mode cannot scale to zero%s; set minScale to 1 or more, or use deploymentMode \"Serverless\"", c.envSuffix())
		}
		if tr.CanaryPercent != nil {
			c.add("serving.traffic.canaryPercent", "KServe's RawDeployment mode has no canary rollout%s; use deploymentMode \"Serverless\"", c.envSuffix())
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
	tag, digest := splitImage(image)
	switch env.ImageTags {
	case spec.ImageTagsDigest:
		if digest == "" {
			c.add(at, "environment %s requires image digests: use %s@sha256:<digest>", env.Name, image)
		}
	case spec.ImageTagsPinned:
		if digest == "" && (tag == "" || tag == "latest") {
			c.add(at, "environment %s requires a pinned tag or digest, not %q: use a version tag such as :1.4.2", env.Name, image)
		}
	}
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
