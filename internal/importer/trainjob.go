package importer

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/generators/trainjob"
	api "github.com/dmls-project/dmls/internal/apis/trainerv1alpha1"
	"github.com/dmls-project/dmls/internal/spec"
)

// kindTrainJob is Kubeflow Trainer v2's TrainJob.
const kindTrainJob = "trainer.kubeflow.org/v1alpha1/TrainJob"

// trainJobProblems are what keeps a TrainJob from becoming a spec: a
// namespaced TrainingRuntime (dmls's jobs name ClusterTrainingRuntimes),
// and a runtime that is not upstream, whose framework dmls cannot tell.
func trainJobProblems(d Doc, tj *api.TrainJob) []Problem {
	var out []Problem
	if tj.Spec == nil {
		return []Problem{{Doc: d.String(), Path: "spec", Message: "a TrainJob needs a spec"}}
	}
	ref := tj.Spec.RuntimeRef
	if ref.Kind != nil && *ref.Kind != "ClusterTrainingRuntime" {
		out = append(out, Problem{Doc: d.String(), Path: "spec.runtimeRef.kind", Message: fmt.Sprintf("runtime kind %s: dmls's TrainJobs run on ClusterTrainingRuntimes, which the platform installs", *ref.Kind)})
	}
	if spec.RuntimeFramework(ref.Name) == "" {
		var ups []string
		for _, fw := range spec.TrainerFrameworks {
			ups = append(ups, spec.DefaultRuntime(fw))
		}
		out = append(out, Problem{Doc: d.String(), Path: "spec.runtimeRef.name", Message: fmt.Sprintf("runtime %s is not one of Trainer's upstream runtimes (%s), so dmls cannot tell its framework; import the job with an upstream runtime and set training.runtime afterwards", ref.Name, strings.Join(ups, ", "))})
	}
	return out
}

// trainjob translates a TrainJob: the trainer, the initializers and
// deadline, the queue labels, and from its runtime patch what dmls's own
// patch would write again (pod metadata, placement and claims).
func (t *translation) trainjob(d Doc, tj *api.TrainJob, app string) {
	tr := &node{}
	t.training = tr
	t.jobDoc = &d
	base := "training"
	t.record(base, d, "spec")
	s := tj.Spec
	fw := spec.RuntimeFramework(s.RuntimeRef.Name)
	tr.set("framework", fw, "the framework of runtime "+s.RuntimeRef.Name)
	t.record(base+".framework", d, "spec.runtimeRef.name")
	if s.RuntimeRef.Name != spec.DefaultRuntime(fw) {
		tr.set("runtime", s.RuntimeRef.Name)
		t.record(base+".runtime", d, "spec.runtimeRef.name")
	}
	if tn := s.Trainer; tn != nil {
		if tn.Image != nil {
			tr.set("image", *tn.Image)
			t.record(base+".image", d, "spec.trainer.image")
		}
		if len(tn.Command) > 0 {
			tr.set("command", fromAnyValue(jsonValue(tn.Command)))
			t.record(base+".command", d, "spec.trainer.command")
		}
		if len(tn.Args) > 0 {
			tr.set("args", fromAnyValue(jsonValue(tn.Args)))
			t.record(base+".args", d, "spec.trainer.args")
			t.hyperparameters(tr, d, "spec.trainer.args")
		}
		if env := plainEnv(tn.Env); len(env) > 0 {
			tr.set("env", fromAnyValue(jsonValue(env)))
			t.record(base+".env", d, "spec.trainer.env")
		}
		if tn.NumNodes != nil {
			tr.set("numNodes", int64(*tn.NumNodes))
			t.record(base+".numNodes", d, "spec.trainer.numNodes")
		}
		if tn.NumProcPerNode != nil {
			tr.set("numProcPerNode", int64(*tn.NumProcPerNode))
			t.record(base+".numProcPerNode", d, "spec.trainer.numProcPerNode")
		}
		if tn.ResourcesPerNode != nil {
			if r := resources(*tn.ResourcesPerNode); len(r) > 0 {
				tr.set("resourcesPerNode", resourceNode(jsonValue(r).(map[string]any)))
				t.record(base+".resourcesPerNode", d, "spec.trainer.resourcesPerNode")
			}
		}
	}
	if in := s.Initializer; in != nil {
		n := &node{}
		add := func(key, uri, secret string, env map[string]string) {
			m := &node{}
			m.set("storageUri", uri)
			if secret != "" {
				m.set("secretRef", secret)
			}
			if len(env) > 0 {
				m.set("env", fromAnyValue(jsonValue(env)))
			}
			n.set(key, m)
			t.record(base+".initializer."+key, d, "spec.initializer."+key)
		}
		if ds := in.Dataset; ds != nil && ds.StorageUri != nil {
			sec := ""
			if ds.SecretRef != nil && ds.SecretRef.Name != nil {
				sec = *ds.SecretRef.Name
			}
			add("dataset", *ds.StorageUri, sec, plainEnv(ds.Env))
		}
		if m := in.Model; m != nil && m.StorageUri != nil {
			sec := ""
			if m.SecretRef != nil && m.SecretRef.Name != nil {
				sec = *m.SecretRef.Name
			}
			add("model", *m.StorageUri, sec, plainEnv(m.Env))
		}
		if !n.empty() {
			tr.set("initializer", n)
		}
	}
	if s.ActiveDeadlineSeconds != nil {
		tr.set("activeDeadlineSeconds", int64(*s.ActiveDeadlineSeconds))
		t.record(base+".activeDeadlineSeconds", d, "spec.activeDeadlineSeconds")
	}
	// The queue labels of Kueue are the scheduling of the spec.
	sched := &node{}
	if md := tj.Metadata; md != nil {
		if q := md.Labels[spec.KueueQueueLabel]; q != "" {
			sched.set("queue", q)
		}
		if pc := md.Labels[spec.KueuePriorityLabel]; pc != "" {
			sched.set("priorityClass", pc)
		}
	}
	if !sched.empty() {
		tr.set("scheduling", sched)
		t.record(base+".scheduling", d, "metadata.labels")
	}
	// From the runtime patch: what dmls's own patch writes.
	for i, p := range s.RuntimePatches {
		if p.TrainingRuntimeSpec == nil || p.TrainingRuntimeSpec.Template == nil || p.TrainingRuntimeSpec.Template.Spec == nil {
			continue
		}
		jobs := p.TrainingRuntimeSpec.Template.Spec.ReplicatedJobs
		if len(jobs) == 0 || jobs[0].Template == nil || jobs[0].Template.Spec == nil || jobs[0].Template.Spec.Template == nil {
			continue
		}
		pt := jobs[0].Template.Spec.Template
		at := fmt.Sprintf("spec.runtimePatches[%d].trainingRuntimeSpec.template.spec.replicatedJobs[0].template.spec.template", i)
		if md := pt.Metadata; md != nil {
			if pm := podMetadata(md.Labels, md.Annotations, tj.Metadata.Labels); pm != nil {
				tr.set("podMetadata", fromAnyValue(jsonValue(pm)))
				t.record(base+".podMetadata", d, at+".metadata")
			}
		}
		ps := pt.Spec
		if ps == nil {
			break
		}
		pod := corev1.PodSpec{NodeSelector: ps.NodeSelector, Tolerations: ps.Tolerations, Volumes: ps.Volumes}
		for _, c := range ps.Containers {
			if c.Name == spec.TrainerNodeContainer {
				pod.Containers = append(pod.Containers, corev1.Container{Name: c.Name, VolumeMounts: c.VolumeMounts})
			}
		}
		c := t.container(d, app, pod, at+".spec")
		for _, f := range []struct {
			key string
			v   any
			n   int
		}{{"nodeSelector", c.NodeSelector, len(c.NodeSelector)}, {"tolerations", c.Tolerations, len(c.Tolerations)}, {"volumes", c.Volumes, len(c.Volumes)}} {
			if f.n > 0 {
				tr.set(f.key, fromAnyValue(jsonValue(f.v)))
				t.record(base+"."+f.key, d, at+".spec."+f.key)
			}
		}
		break
	}
	orderFields(tr, "framework", "runtime", "image", "command", "args", "hyperparameters", "env", "numNodes", "numProcPerNode", "resourcesPerNode", "initializer", "volumes", "nodeSelector", "tolerations", "podMetadata", "scheduling")
}

// withoutPolicyPatch returns a copy of a rendered TrainJob without what
// dmls's runtime patch writes by policy rather than from the spec: the
// dmls-training service account, the restricted security contexts, the
// /tmp scratch volume and HOME=/tmp. The patch goes when nothing else is
// left in it, as a job imported without one renders.
func withoutPolicyPatch(obj map[string]any) map[string]any {
	obj = runtime.DeepCopyJSON(obj)
	sp, _ := obj["spec"].(map[string]any)
	if tr, _ := sp["trainer"].(map[string]any); tr != nil {
		tr["env"] = keep(tr["env"], func(m map[string]any) bool { return m["name"] != "HOME" || m["value"] != "/tmp" })
	}
	patches, _ := sp["runtimePatches"].([]any)
	var kept []any
	for _, p := range patches {
		pm, _ := p.(map[string]any)
		if pm["manager"] != trainjob.Manager {
			kept = append(kept, p)
			continue
		}
		jobs, _ := nested(pm, "trainingRuntimeSpec", "template", "spec", "replicatedJobs").([]any)
		empty := true
		for _, j := range jobs {
			pod, _ := nested(asMap(j), "template", "spec", "template", "spec").(map[string]any)
			if pod != nil {
				if pod["serviceAccountName"] == generators.TrainingServiceAccount {
					delete(pod, "serviceAccountName")
				}
				delete(pod, "securityContext")
				pod["volumes"] = keep(pod["volumes"], func(m map[string]any) bool { return m["name"] != generators.TmpVolume || m["emptyDir"] == nil })
				cs, _ := pod["containers"].([]any)
				var cl []any
				for _, c := range cs {
					cm := asMap(c)
					delete(cm, "securityContext")
					cm["volumeMounts"] = keep(cm["volumeMounts"], func(m map[string]any) bool { return m["name"] != generators.TmpVolume })
					if cm["volumeMounts"] == nil {
						delete(cm, "volumeMounts")
					}
					if len(cm) > 1 {
						cl = append(cl, c)
					}
				}
				pod["containers"] = cl
				for _, k := range slices.Collect(maps.Keys(pod)) {
					switch v := pod[k].(type) {
					case nil:
						delete(pod, k)
					case []any:
						if len(v) == 0 {
							delete(pod, k)
						}
					}
				}
				if len(pod) > 0 {
					empty = false
				}
			}
			if md := nested(asMap(j), "template", "spec", "template", "metadata"); md != nil {
				empty = false
			}
		}
		if !empty {
			kept = append(kept, p)
		}
	}
	if len(kept) == 0 {
		delete(sp, "runtimePatches")
	} else {
		sp["runtimePatches"] = kept
	}
	return obj
}
