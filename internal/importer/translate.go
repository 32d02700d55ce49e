package importer

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	kubeflowv1 "github.com/kubeflow/training-operator/pkg/apis/kubeflow.org/v1"
	corev1 "k8s.io/api/core/v1"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"knative.dev/serving/pkg/apis/autoscaling"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/generators/inferenceservice"
	"github.com/dmls-project/dmls/generators/tfjob"
	"github.com/dmls-project/dmls/internal/spec"
)

// source is where a spec field came from: a document and a field of it.
type source struct {
	doc  string
	path string
}

// translation is the spec made from the input documents.
type translation struct {
	appFrom  string // "" or the document that named the app
	training *node
	serving  *node
	from     map[string]source
	// claims are the input's PersistentVolumeClaims by name.
	claims map[string]Doc
	// claimUsed marks claims a training volume creates.
	claimUsed map[string]bool
	jobDoc    *Doc
	svcDoc    *Doc
}

func (t *translation) record(specPath string, d Doc, path string) {
	t.from[specPath] = source{doc: d.String(), path: path}
}

// lookup finds the source of a spec path or of its nearest ancestor.
func (t *translation) lookup(specPath string) (source, bool) {
	for p := specPath; p != ""; {
		if s, ok := t.from[p]; ok {
			return s, true
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return source{}, false
}

// roles maps TFJob replica types to spec roles.
var roles = map[string]string{"chief": "chief", "master": "chief", "worker": "worker", "ps": "ps", "evaluator": "evaluator"}

// ctr is what a replica's container and pod say, in spec form.
type ctr struct {
	Image        string            `json:"image,omitempty"`
	PullPolicy   string            `json:"imagePullPolicy,omitempty"`
	Command      []string          `json:"command,omitempty"`
	Args         []string          `json:"args,omitempty"`
	Env          map[string]string `json:"env,omitempty"`
	Resources    map[string]any    `json:"resources,omitempty"`
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	Tolerations  []any             `json:"tolerations,omitempty"`
	Volumes      map[string]any    `json:"volumes,omitempty"`
	PodMetadata  map[string]any    `json:"podMetadata,omitempty"`
}

// podMetadata reads a pod template's labels and annotations in spec form
// (podMetadata), leaving out the labels the job itself carries, which the
// spec keeps as the app's labels and dmls puts on the pods anyway.
func podMetadata(labels, annotations, jobLabels map[string]string) map[string]any {
	out := map[string]any{}
	l := map[string]any{}
	for k, v := range labels {
		if jv, ok := jobLabels[k]; ok && jv == v || strings.HasPrefix(k, "dmls.dev/") {
			continue
		}
		l[k] = v
	}
	a := map[string]any{}
	for k, v := range annotations {
		if strings.HasPrefix(k, "dmls.dev/") || strings.HasPrefix(k, "argocd.argoproj.io/") {
			continue
		}
		a[k] = v
	}
	if len(l) > 0 {
		out["labels"] = l
	}
	if len(a) > 0 {
		out["annotations"] = a
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// tfjob translates a TFJob.
func (t *translation) tfjob(d Doc, job *kubeflowv1.TFJob, app string) {
	tr := &node{}
	t.training = tr
	t.jobDoc = &d
	base := "training"
	t.record(base, d, "spec")
	if rp := job.Spec.RunPolicy; true {
		if rp.CleanPodPolicy != nil && *rp.CleanPodPolicy != kubeflowv1.CleanPodPolicyNone {
			tr.set("cleanPodPolicy", string(*rp.CleanPodPolicy))
			t.record(base+".cleanPodPolicy", d, "spec.runPolicy.cleanPodPolicy")
		}
		if rp.BackoffLimit != nil {
			tr.set("backoffLimit", int64(*rp.BackoffLimit))
			t.record(base+".backoffLimit", d, "spec.runPolicy.backoffLimit")
		}
		if rp.ActiveDeadlineSeconds != nil {
			tr.set("activeDeadlineSeconds", *rp.ActiveDeadlineSeconds)
			t.record(base+".activeDeadlineSeconds", d, "spec.runPolicy.activeDeadlineSeconds")
		}
		if rp.TTLSecondsAfterFinished != nil {
			tr.set("ttlSecondsAfterFinished", int64(*rp.TTLSecondsAfterFinished))
			t.record(base+".ttlSecondsAfterFinished", d, "spec.runPolicy.ttlSecondsAfterFinished")
		}
		if sp := rp.SchedulingPolicy; sp != nil {
			s := &node{}
			if sp.Queue != "" {
				s.set("queue", sp.Queue)
			}
			if sp.PriorityClass != "" {
				s.set("priorityClass", sp.PriorityClass)
			}
			if sp.MinAvailable != nil {
				s.set("minAvailable", int64(*sp.MinAvailable))
			}
			if !s.empty() {
				tr.set("scheduling", s)
				t.record(base+".scheduling", d, "spec.runPolicy.schedulingPolicy")
			}
		}
	}
	if sp := job.Spec.SuccessPolicy; sp != nil && *sp != "" {
		tr.set("successPolicy", string(*sp))
		t.record(base+".successPolicy", d, "spec.successPolicy")
	}

	// Each replica type, in spec form.
	type roleSpec struct {
		key      string
		role     string
		replicas int64
		restart  string
		c        ctr
	}
	var rss []roleSpec
	keys := make([]string, 0, len(job.Spec.TFReplicaSpecs))
	for k := range job.Spec.TFReplicaSpecs {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	for _, k := range keys {
		rs := job.Spec.TFReplicaSpecs[kubeflowv1.ReplicaType(k)]
		role, ok := roles[strings.ToLower(k)]
		if !ok || rs == nil {
			continue // the comparison names it
		}
		r := roleSpec{key: k, role: role, replicas: 1}
		if rs.Replicas != nil {
			r.replicas = int64(*rs.Replicas)
		}
		r.restart = string(rs.RestartPolicy)
		r.c = t.container(d, app, rs.Template.Spec, fmt.Sprintf("spec.tfReplicaSpecs.%s.template.spec", k))
		r.c.PodMetadata = podMetadata(rs.Template.Labels, rs.Template.Annotations, job.Labels)
		rss = append(rss, r)
	}
	// Settings all replica types share go to the job; the others to each.
	same := func(get func(c ctr) any) bool {
		if len(rss) == 0 {
			return false
		}
		first, _ := json.Marshal(get(rss[0].c))
		for _, r := range rss[1:] {
			b, _ := json.Marshal(get(r.c))
			if string(b) != string(first) {
				return false
			}
		}
		return true
	}
	getters := []struct {
		key string
		get func(c ctr) any
	}{
		{"image", func(c ctr) any { return c.Image }},
		{"imagePullPolicy", func(c ctr) any { return c.PullPolicy }},
		{"command", func(c ctr) any { return c.Command }},
		{"args", func(c ctr) any { return c.Args }},
		{"env", func(c ctr) any { return c.Env }},
		{"resources", func(c ctr) any { return c.Resources }},
		{"nodeSelector", func(c ctr) any { return c.NodeSelector }},
		{"tolerations", func(c ctr) any { return c.Tolerations }},
		{"volumes", func(c ctr) any { return c.Volumes }},
		{"podMetadata", func(c ctr) any { return c.PodMetadata }},
	}
	shared := map[string]bool{}
	for _, g := range getters {
		shared[g.key] = same(g.get)
	}
	first := ctr{}
	if len(rss) > 0 {
		first = rss[0].c
	}
	// The job needs an image: the one most replica types run; the others
	// name their own.
	if !shared["image"] && len(rss) > 0 {
		count := map[string]int{}
		best := ""
		for _, r := range rss {
			count[r.c.Image]++
			if r.c.Image != "" && (best == "" || count[r.c.Image] > count[best]) {
				best = r.c.Image
			}
		}
		if best != "" {
			tr.set("image", best, "the image most replica types run")
			t.record(base+".image", d, "spec.tfReplicaSpecs")
			for i := range rss {
				if rss[i].c.Image == best {
					rss[i].c.Image = ""
				}
			}
		}
	}
	set := func(n *node, c ctr, onlyShared bool, at string, src string) {
		for _, g := range getters {
			if shared[g.key] != onlyShared {
				continue
			}
			v := g.get(c)
			b, _ := json.Marshal(v)
			if string(b) == "null" || string(b) == `""` || string(b) == "{}" || string(b) == "[]" {
				continue
			}
			if r, ok := v.(map[string]any); ok && g.key == "resources" {
				n.set(g.key, resourceNode(jsonValue(r).(map[string]any)))
			} else {
				n.set(g.key, fromAnyValue(jsonValue(v)))
			}
			t.record(at+"."+g.key, d, src)
		}
	}
	jobSrc := "spec.tfReplicaSpecs"
	if len(rss) > 0 {
		jobSrc = fmt.Sprintf("spec.tfReplicaSpecs.%s.template.spec.containers[0]", rss[0].key)
	}
	set(tr, first, true, base, jobSrc)
	if shared["args"] {
		t.hyperparameters(tr, d, jobSrc+".args")
	}
	restartShared := true
	for _, r := range rss {
		if r.restart != rss[0].restart {
			restartShared = false
		}
	}
	if restartShared && len(rss) > 0 && rss[0].restart != "" && rss[0].restart != "Never" {
		tr.set("restartPolicy", rss[0].restart)
		t.record(base+".restartPolicy", d, fmt.Sprintf("spec.tfReplicaSpecs.%s.restartPolicy", rss[0].key))
	}
	reps := tr.sub("replicas")
	for _, r := range rss {
		n := &node{}
		at := base + ".replicas." + r.role
		if r.replicas != 1 || (r.role != "chief" && r.role != "evaluator") {
			n.set("replicas", r.replicas)
		}
		t.record(at, d, "spec.tfReplicaSpecs."+r.key)
		t.record(at+".replicas", d, "spec.tfReplicaSpecs."+r.key+".replicas")
		if !restartShared && r.restart != "" {
			n.set("restartPolicy", r.restart)
			t.record(at+".restartPolicy", d, "spec.tfReplicaSpecs."+r.key+".restartPolicy")
		}
		set(n, r.c, false, at, fmt.Sprintf("spec.tfReplicaSpecs.%s.template.spec.containers[0]", r.key))
		reps.set(r.role, n)
	}
}

// jsonValue is v as plain JSON values, whole numbers as int64.
func jsonValue(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = utiljson.Unmarshal(b, &out)
	return out
}

var hpArg = regexp.MustCompile(`^--([a-z][a-z0-9_]*)=(.*)$`)

// hyperparameters recognises the --name=value args at the end of the
// job's args, in name order, which is how dmls writes hyperparameters.
func (t *translation) hyperparameters(tr *node, d Doc, src string) {
	f := tr.get("args")
	if f == nil {
		return
	}
	args, _ := f.val.([]any)
	type hp struct {
		key string
		val any
		arg string
	}
	var found []hp
	i := len(args)
	last := ""
	for i > 0 {
		s, _ := args[i-1].(string)
		m := hpArg.FindStringSubmatch(s)
		if m == nil || (last != "" && m[1] >= last) {
			break
		}
		found = append([]hp{{m[1], parseHP(m[2]), s}}, found...)
		last = m[1]
		i--
	}
	if len(found) == 0 {
		return
	}
	if i == 0 {
		tr.del("args")
	} else {
		f.val = args[:i]
	}
	h := &node{}
	for _, x := range found {
		h.set(x.key, x.val, "from "+x.arg+" in args")
		t.record("training.hyperparameters."+x.key, d, src)
	}
	tr.set("hyperparameters", h, "recognised in the args: dmls appends them as --name=value")
}

// parseHP reads a hyperparameter value back the way the TFJob generator
// writes it, so that it prints the same.
func parseHP(s string) any {
	if s == "true" || s == "false" {
		return s == "true"
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && strconv.FormatFloat(f, 'g', -1, 64) == s {
		if f == float64(int64(f)) {
			return int64(f)
		}
		return f
	}
	return s
}

// container reads a TFJob replica's pod in spec form.
func (t *translation) container(d Doc, app string, pod corev1.PodSpec, at string) ctr {
	var out ctr
	var c *corev1.Container
	for i := range pod.Containers {
		if pod.Containers[i].Name == tfjob.ContainerName {
			c = &pod.Containers[i]
		}
	}
	if c == nil && len(pod.Containers) > 0 {
		c = &pod.Containers[0]
	}
	if c == nil {
		return out
	}
	out.Image = c.Image
	out.PullPolicy = string(c.ImagePullPolicy)
	out.Command = c.Command
	out.Args = c.Args
	out.Env = plainEnv(c.Env)
	out.Resources = resources(c.Resources)
	out.NodeSelector = pod.NodeSelector
	for _, tl := range pod.Tolerations {
		m := map[string]any{}
		if tl.Key != "" {
			m["key"] = tl.Key
		}
		if tl.Operator != "" && tl.Operator != corev1.TolerationOpEqual {
			m["operator"] = string(tl.Operator)
		}
		if tl.Value != "" {
			m["value"] = tl.Value
		}
		if tl.Effect != "" {
			m["effect"] = string(tl.Effect)
		}
		if tl.TolerationSeconds != nil {
			m["tolerationSeconds"] = *tl.TolerationSeconds
		}
		out.Tolerations = append(out.Tolerations, m)
	}
	claims := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		claims[v.Name] = v
	}
	for _, m := range c.VolumeMounts {
		v, ok := claims[m.Name]
		if !ok || v.PersistentVolumeClaim == nil {
			continue // not a claim: the comparison names it
		}
		vol := map[string]any{"mountPath": m.MountPath}
		claim := v.PersistentVolumeClaim.ClaimName
		if claim != app+"-"+m.Name {
			vol["claimName"] = claim
		}
		if m.ReadOnly {
			vol["readOnly"] = true
		}
		if m.SubPath != "" {
			vol["subPath"] = m.SubPath
		}
		if pd, ok := t.claims[claim]; ok {
			if cr := claimCreate(pd); cr != nil {
				vol["create"] = cr
				t.claimUsed[claim] = true
			}
		}
		if out.Volumes == nil {
			out.Volumes = map[string]any{}
		}
		out.Volumes[m.Name] = vol
	}
	return out
}

// claimCreate reads a PersistentVolumeClaim as a volume's create.
func claimCreate(d Doc) map[string]any {
	var pvc corev1.PersistentVolumeClaim
	if err := fromUnstructured(d.Obj, &pvc); err != nil {
		return nil
	}
	out := map[string]any{}
	if q, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
		out["size"] = q.String()
	}
	var modes []any
	for _, m := range pvc.Spec.AccessModes {
		modes = append(modes, string(m))
	}
	if len(modes) > 0 && !(len(modes) == 1 && modes[0] == "ReadWriteOnce") {
		out["accessModes"] = modes
	}
	if sc := pvc.Spec.StorageClassName; sc != nil && *sc != "" {
		out["storageClass"] = *sc
	}
	return out
}

func plainEnv(env []corev1.EnvVar) map[string]string {
	var out map[string]string
	for _, e := range env {
		if e.ValueFrom != nil {
			continue // the comparison names it
		}
		if out == nil {
			out = map[string]string{}
		}
		out[e.Name] = e.Value
	}
	return out
}

// resources reads container resources in spec form: cpu and memory
// requests, their limits, and the GPU limit.
func resources(r corev1.ResourceRequirements) map[string]any {
	out := map[string]any{}
	q := func(l corev1.ResourceList, name corev1.ResourceName) (string, bool) {
		v, ok := l[name]
		if !ok {
			return "", false
		}
		return v.String(), true
	}
	if v, ok := q(r.Requests, corev1.ResourceCPU); ok {
		out["cpu"] = v
	}
	if v, ok := q(r.Requests, corev1.ResourceMemory); ok {
		out["memory"] = v
	}
	lim := map[string]any{}
	if v, ok := q(r.Limits, corev1.ResourceCPU); ok {
		lim["cpu"] = v
	}
	if v, ok := q(r.Limits, corev1.ResourceMemory); ok {
		lim["memory"] = v
	}
	if len(lim) > 0 {
		out["limits"] = lim
	}
	if v, ok := r.Limits[generators.GPUResource]; ok {
		out["gpu"] = v.Value()
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// resourceNode writes resources in the schema's order.
func resourceNode(r map[string]any) *node {
	n := fromAny(r)
	orderFields(n, "cpu", "memory", "gpu", "limits")
	return n
}

// knative translates a Knative Service.
func (t *translation) knative(d Doc, svc *servingv1.Service, app string) {
	s := &node{}
	t.serving = s
	t.svcDoc = &d
	t.record("serving", d, "spec")
	name := svc.Name
	if name != app {
		s.set("name", name, "keeps the Service's own name (the app is "+app+")")
		t.record("serving.name", d, "metadata.name")
	}
	tmpl := svc.Spec.Template
	if tn := tmpl.Name; tn != "" {
		if rev, ok := strings.CutPrefix(tn, name+"-"); ok {
			s.set("revision", rev, "the template's revision "+tn)
			t.record("serving.revision", d, "spec.template.metadata.name")
		}
	}
	as := &node{}
	for key, f := range map[string]string{
		autoscaling.MinScaleAnnotationKey: "minScale", autoscaling.MaxScaleAnnotationKey: "maxScale", autoscaling.TargetAnnotationKey: "target",
	} {
		if v, ok := tmpl.Annotations[key]; ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				as.set(f, n, "from the annotation "+key)
				t.record("serving.autoscaling."+f, d, "spec.template.metadata.annotations."+key)
			}
		}
	}
	if cc := tmpl.Spec.ContainerConcurrency; cc != nil {
		as.set("containerConcurrency", *cc)
		t.record("serving.autoscaling.containerConcurrency", d, "spec.template.spec.containerConcurrency")
	}
	if ts := tmpl.Spec.TimeoutSeconds; ts != nil {
		as.set("timeoutSeconds", *ts)
		t.record("serving.autoscaling.timeoutSeconds", d, "spec.template.spec.timeoutSeconds")
	}
	sortFields(as)
	if len(tmpl.Spec.Containers) > 0 {
		c := tmpl.Spec.Containers[0]
		t.servingContainer(s, d, c, "spec.template.spec.containers[0]", 8080)
		if c.Image != "" {
			s.set("image", c.Image)
			t.record("serving.image", d, "spec.template.spec.containers[0].image")
		}
	}
	if !as.empty() {
		s.set("autoscaling", as)
	}
	t.traffic(s, d, svc, name)
	orderFields(s, "name", "image", "port", "command", "args", "env", "resources", "autoscaling", "revision", "traffic")
}

// servingContainer reads a serving container's command, args, env,
// resources and port.
func (t *translation) servingContainer(s *node, d Doc, c corev1.Container, at string, defaultPort int32) {
	if c.Command != nil {
		s.set("command", fromAnyValue(jsonValue(c.Command)))
		t.record("serving.command", d, at+".command")
	}
	if c.Args != nil {
		s.set("args", fromAnyValue(jsonValue(c.Args)))
		t.record("serving.args", d, at+".args")
	}
	if env := plainEnv(c.Env); env != nil {
		s.set("env", fromAnyValue(jsonValue(env)))
		t.record("serving.env", d, at+".env")
	}
	if r := resources(c.Resources); r != nil {
		s.set("resources", resourceNode(r))
		t.record("serving.resources", d, at+".resources")
	}
	if len(c.Ports) > 0 && c.Ports[0].ContainerPort != defaultPort {
		s.set("port", int64(c.Ports[0].ContainerPort))
		t.record("serving.port", d, at+".ports[0]")
	}
}

// traffic reads a Knative traffic block as dmls's routes: all to the
// latest revision, all to a pinned one, a stable/canary split, and tags
// at 0%.
func (t *translation) traffic(s *node, d Doc, svc *servingv1.Service, name string) {
	rev := func(r string) (string, bool) { return strings.CutPrefix(r, name+"-") }
	tr := &node{}
	var main []servingv1.TrafficTarget
	tags := &node{}
	for i, tt := range svc.Spec.Traffic {
		p := int64(0)
		if tt.Percent != nil {
			p = *tt.Percent
		}
		if p == 0 && tt.Tag != "" && tt.RevisionName != "" && tt.Tag != spec.TagCurrent && tt.Tag != spec.TagStable && tt.Tag != spec.TagCanary {
			if r, ok := rev(tt.RevisionName); ok {
				tags.set(tt.Tag, r, "a route at 0% to "+tt.RevisionName)
				t.record("serving.traffic.tags."+tt.Tag, d, fmt.Sprintf("spec.traffic[%d]", i))
				continue
			}
		}
		main = append(main, tt)
	}
	current, _ := s.get("revision").valOr("")
	switch {
	case len(main) == 1 && main[0].RevisionName != "":
		r, ok := rev(main[0].RevisionName)
		if ok && (current == "" || current == r) {
			s.set("revision", r)
			tr.set("pinned", true, "all traffic to "+main[0].RevisionName)
			t.record("serving.traffic.pinned", d, "spec.traffic[0]")
		}
	case len(main) == 2 && main[0].RevisionName != "" && main[1].RevisionName != "":
		a, okA := rev(main[0].RevisionName)
		b, okB := rev(main[1].RevisionName)
		// The canary is the template's revision.
		if okB && a == current {
			a, b = b, a
			main[0], main[1] = main[1], main[0]
		}
		if okA && okB && (current == "" || current == b) && main[1].Percent != nil {
			s.set("revision", b)
			tr.set("stable", a, "the split's other revision, "+main[0].RevisionName)
			tr.set("canaryPercent", *main[1].Percent, fmt.Sprintf("%s gets %d%%", main[1].RevisionName, *main[1].Percent))
			t.record("serving.traffic", d, "spec.traffic")
		}
	}
	if !tags.empty() {
		tr.set("tags", tags)
	}
	if !tr.empty() {
		s.set("traffic", tr)
	}
}

func (f *field) valOr(def string) (string, bool) {
	if f == nil {
		return def, false
	}
	s, ok := f.val.(string)
	return s, ok
}

// kserve translates an InferenceService.
func (t *translation) kserve(d Doc, isvc *inferenceservice.InferenceService, app string) {
	s := &node{}
	t.serving = s
	t.svcDoc = &d
	t.record("serving", d, "spec")
	s.set("runtime", spec.RuntimeKServe)
	meta, isvcSpec := inferenceservice.Parts(isvc)
	if meta.Name != app {
		s.set("name", meta.Name, "keeps the InferenceService's own name (the app is "+app+")")
		t.record("serving.name", d, "metadata.name")
	}
	if mode, ok := meta.Annotations[inferenceservice.AnnotationDeploymentMode]; ok {
		why := "from the annotation " + inferenceservice.AnnotationDeploymentMode
		if word, deprecated := spec.DeploymentMode(mode); deprecated {
			why += ", " + mode + " in KServe's words before 0.16"
			mode = word
		}
		s.set("deploymentMode", mode, why)
		t.record("serving.deploymentMode", d, "metadata.annotations."+inferenceservice.AnnotationDeploymentMode)
	}
	pr := isvcSpec.Predictor
	const at = "spec.predictor"
	// A framework field (tensorflow:, sklearn:, ...) is the older form of
	// model: KServe's defaulting rewrites it, and dmls writes model:.
	if pr.Model == nil {
		cp := inferenceservice.DeepCopy(isvc)
		inferenceservice.Default(cp)
		if cp.Spec.Predictor.Model != nil && len(pr.Containers) == 0 {
			pr.Model = cp.Spec.Predictor.Model
		}
	}
	if m := pr.Model; m != nil {
		mn := &node{}
		if m.ModelFormat != nil {
			mn.set("format", m.ModelFormat.Name)
		}
		t.record("serving.model.format", d, at+".model.modelFormat.name")
		if m.ModelFormat != nil && m.ModelFormat.Version != nil {
			mn.set("formatVersion", *m.ModelFormat.Version)
			t.record("serving.model.formatVersion", d, at+".model.modelFormat.version")
		}
		if m.StorageUri != nil {
			mn.set("storageUri", *m.StorageUri)
			t.record("serving.model.storageUri", d, at+".model.storageUri")
		}
		if m.Runtime != nil {
			mn.set("runtime", *m.Runtime)
			t.record("serving.model.runtime", d, at+".model.runtime")
		}
		if m.RuntimeVersion != nil {
			mn.set("runtimeVersion", *m.RuntimeVersion)
			t.record("serving.model.runtimeVersion", d, at+".model.runtimeVersion")
		}
		if m.ProtocolVersion != nil {
			mn.set("protocolVersion", *m.ProtocolVersion)
			t.record("serving.model.protocolVersion", d, at+".model.protocolVersion")
		}
		s.set("model", mn)
		t.servingContainer(s, d, m.Container, at+".model", 0)
	} else if len(pr.Containers) > 0 {
		c := pr.Containers[0]
		s.set("image", c.Image)
		t.record("serving.image", d, at+".containers[0].image")
		t.servingContainer(s, d, c, at+".containers[0]", 0)
	}
	as := &node{}
	ext := pr
	if ext.MinReplicas != nil {
		as.set("minScale", int64(*ext.MinReplicas), "minReplicas")
		t.record("serving.autoscaling.minScale", d, at+".minReplicas")
	}
	if ext.MaxReplicas != nil && *ext.MaxReplicas != 0 {
		as.set("maxScale", int64(*ext.MaxReplicas), "maxReplicas")
		t.record("serving.autoscaling.maxScale", d, at+".maxReplicas")
	}
	if ext.ScaleTarget != nil {
		as.set("target", int64(*ext.ScaleTarget), "scaleTarget")
		t.record("serving.autoscaling.target", d, at+".scaleTarget")
	}
	if ext.ScaleMetric != nil {
		as.set("metric", string(*ext.ScaleMetric), "scaleMetric")
		t.record("serving.autoscaling.metric", d, at+".scaleMetric")
	}
	if ext.ContainerConcurrency != nil {
		as.set("containerConcurrency", int64(*ext.ContainerConcurrency))
		t.record("serving.autoscaling.containerConcurrency", d, at+".containerConcurrency")
	}
	if ext.Timeout != nil {
		as.set("timeoutSeconds", int64(*ext.Timeout), "timeout")
		t.record("serving.autoscaling.timeoutSeconds", d, at+".timeout")
	}
	if !as.empty() {
		s.set("autoscaling", as)
	}
	if p := ext.CanaryTrafficPercent; p != nil {
		tr := &node{}
		tr.set("canaryPercent", int64(*p), "canaryTrafficPercent: the latest spec gets it, the revision KServe rolled out last the rest")
		t.record("serving.traffic.canaryPercent", d, at+".canaryTrafficPercent")
		s.set("traffic", tr)
	}
	if tf := isvcSpec.Transformer; tf != nil && len(tf.Containers) > 0 {
		c := tf.Containers[0]
		tn := &node{}
		tn.set("image", c.Image)
		t.servingContainer(tn, d, c, "spec.transformer.containers[0]", 0)
		t.record("serving.transformer", d, "spec.transformer")
		s.set("transformer", tn)
	}
	orderFields(s, "runtime", "name", "deploymentMode", "image", "model", "port", "command", "args", "env", "resources", "autoscaling", "traffic", "transformer")
}

// orderFields puts the fields of n in the given order, others after.
func orderFields(n *node, order ...string) {
	rank := map[string]int{}
	for i, k := range order {
		rank[k] = i + 1
	}
	sort.SliceStable(n.fields, func(i, j int) bool {
		ri, rj := rank[n.fields[i].key], rank[n.fields[j].key]
		if ri == 0 {
			ri = len(order) + 1
		}
		if rj == 0 {
			rj = len(order) + 1
		}
		return ri < rj
	})
}

func sortFields(n *node) {
	sort.SliceStable(n.fields, func(i, j int) bool { return n.fields[i].key < n.fields[j].key })
}
