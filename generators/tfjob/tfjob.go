// Package tfjob generates Kubeflow TFJobs, and the volume claims they ask
// for, from training specs.
package tfjob

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	kubeflowv1 "github.com/kubeflow/training-operator/pkg/apis/kubeflow.org/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/internal/spec"
)

// Component is the app.kubernetes.io/component label of training objects.
const Component = "training"

// ContainerName is the container name the training operator expects.
const ContainerName = kubeflowv1.TFJobDefaultContainerName

var _ generators.Func = Generate

// roleTypes maps spec roles to TFJob replica types.
var roleTypes = map[string]kubeflowv1.ReplicaType{
	"chief":     kubeflowv1.TFJobReplicaTypeChief,
	"worker":    kubeflowv1.TFJobReplicaTypeWorker,
	"ps":        kubeflowv1.TFJobReplicaTypePS,
	"evaluator": kubeflowv1.TFJobReplicaTypeEval,
}

// Generate returns the TFJob of app's training spec, preceded by the
// PersistentVolumeClaims its volumes ask to create. An app without
// training gives nothing.
func Generate(app *spec.AppSpec, p *spec.Platform) ([]generators.Object, error) {
	t := app.Training
	if t == nil || t.IsTrainJob() {
		return nil, nil
	}
	labels := generators.Labels(app, p, Component)
	var out []generators.Object

	claims, err := generators.VolumeClaims(app, labels)
	if err != nil {
		return nil, err
	}
	out = append(out, claims...)

	trace := &provenance.Trace{}
	job := &kubeflowv1.TFJob{
		ObjectMeta: metav1.ObjectMeta{Name: spec.JobName(app.Name, t), Labels: labels},
		Spec: kubeflowv1.TFJobSpec{
			RunPolicy: kubeflowv1.RunPolicy{
				CleanPodPolicy:          new(kubeflowv1.CleanPodPolicy(t.CleanPodPolicy)),
				TTLSecondsAfterFinished: t.TTLSecondsAfterFinished,
				ActiveDeadlineSeconds:   t.ActiveDeadlineSeconds,
				BackoffLimit:            t.BackoffLimit,
			},
			TFReplicaSpecs: map[kubeflowv1.ReplicaType]*kubeflowv1.ReplicaSpec{},
		},
	}
	generators.AnnotateException(app, &job.ObjectMeta, trace)
	trace.Record("metadata.name", "training.run")
	if t.Name != "" {
		trace.Record("metadata.name", "training.name")
	}
	trace.Record("spec.runPolicy.cleanPodPolicy", "training.cleanPodPolicy")
	trace.Record("spec.runPolicy.ttlSecondsAfterFinished", "training.ttlSecondsAfterFinished")
	trace.Record("spec.runPolicy.activeDeadlineSeconds", "training.activeDeadlineSeconds")
	trace.Record("spec.runPolicy.backoffLimit", "training.backoffLimit")
	if t.SuccessPolicy != "" {
		job.Spec.SuccessPolicy = new(kubeflowv1.SuccessPolicy(t.SuccessPolicy))
		trace.Record("spec.successPolicy", "training.successPolicy")
	}
	if q := app.Kueue; q != nil {
		// Kueue reads the queue and the priority from the job's labels;
		// the schedulingPolicy is Volcano's.
		job.Labels = maps.Clone(labels)
		job.Labels[spec.KueueQueueLabel] = q.Queue
		trace.Record("metadata.labels."+spec.KueueQueueLabel, q.QueueFrom)
		if q.PriorityClass != "" {
			job.Labels[spec.KueuePriorityLabel] = q.PriorityClass
			trace.Record("metadata.labels."+spec.KueuePriorityLabel, q.PriorityFrom)
		}
	} else if s := t.Scheduling; s != nil {
		job.Spec.RunPolicy.SchedulingPolicy = &kubeflowv1.SchedulingPolicy{
			Queue:         s.Queue,
			PriorityClass: s.PriorityClass,
			MinAvailable:  s.MinAvailable,
		}
		trace.Record("spec.runPolicy.schedulingPolicy", "training.scheduling")
	}
	for _, role := range spec.Roles {
		rs := t.Replicas.Get(role)
		if rs == nil {
			continue
		}
		rt := roleTypes[role]
		job.Spec.TFReplicaSpecs[rt] = replicaSpec(app, role, rs, labels, trace, "spec.tfReplicaSpecs."+string(rt))
	}
	obj, err := generators.New(job, kubeflowv1.SchemeGroupVersion.WithKind(kubeflowv1.TFJobKind), trace)
	if err != nil {
		return nil, err
	}
	return append(out, obj), nil
}

// replicaSpec builds one replica type: the job's settings, overridden by
// the replica set's own.
func replicaSpec(app *spec.AppSpec, role string, rs *spec.ReplicaSet, labels map[string]string, trace *provenance.Trace, at string) *kubeflowv1.ReplicaSpec {
	t := app.Training
	sp := "training.replicas." + role
	// pick returns the replica set's setting if it has one, else the job's.
	pick := func(field string, set bool) string {
		if set {
			return sp + "." + field
		}
		return "training." + field
	}
	c := corev1.Container{Name: ContainerName}
	cat := at + ".template.spec.containers[0]"

	c.Image = firstNonEmpty(rs.Image, t.Image)
	trace.Record(cat+".image", pick("image", rs.Image != ""))
	c.ImagePullPolicy = corev1.PullPolicy(firstNonEmpty(rs.ImagePullPolicy, t.ImagePullPolicy))
	trace.Record(cat+".imagePullPolicy", pick("imagePullPolicy", rs.ImagePullPolicy != ""))
	c.Command = firstList(rs.Command, t.Command)
	trace.Record(cat+".command", pick("command", rs.Command != nil))
	c.Args = append([]string(nil), firstList(rs.Args, t.Args)...)
	trace.Record(cat+".args", pick("args", rs.Args != nil))
	env := mergeMaps(t.Env, rs.Env)
	for _, k := range slices.Sorted(maps.Keys(env)) {
		c.Env = append(c.Env, generators.EnvVar(k, env[k]))
		_, own := rs.Env[k]
		trace.Record(fmt.Sprintf("%s.env[%d]", cat, len(c.Env)-1), pick("env."+k, own))
	}
	envFrom := firstList(rs.EnvFrom, t.EnvFrom)
	c.EnvFrom = generators.EnvFrom(envFrom)
	for i := range envFrom {
		trace.Record(fmt.Sprintf("%s.envFrom[%d]", cat, i), pick(fmt.Sprintf("envFrom[%d]", i), rs.EnvFrom != nil))
	}
	for _, k := range slices.Sorted(maps.Keys(t.Hyperparameters)) {
		v := generators.FormatValue(t.Hyperparameters[k])
		if t.HyperparametersAs == "env" {
			c.Env = append(c.Env, corev1.EnvVar{Name: "HP_" + strings.ToUpper(k), Value: v})
			trace.Record(fmt.Sprintf("%s.env[%d]", cat, len(c.Env)-1), "training.hyperparameters."+k)
		} else {
			c.Args = append(c.Args, fmt.Sprintf("--%s=%s", k, v))
			trace.Record(fmt.Sprintf("%s.args[%d]", cat, len(c.Args)-1), "training.hyperparameters."+k)
		}
	}
	if ev, ok := generators.OutputEnv(t); ok {
		c.Env = append(c.Env, ev)
		trace.Record(fmt.Sprintf("%s.env[%d]", cat, len(c.Env)-1), "training.output.storageUri")
	}
	res := rs.Resources
	if res == nil {
		res = t.Resources
	}
	c.Resources = generators.Resources(res)
	trace.Record(cat+".resources", pick("resources", rs.Resources != nil))

	pod := corev1.PodSpec{ServiceAccountName: generators.TrainingServiceAccount}
	pod.NodeSelector = mergeMaps(t.NodeSelector, rs.NodeSelector)
	trace.Record(at+".template.spec.nodeSelector", pick("nodeSelector", rs.NodeSelector != nil))
	pod.Tolerations = generators.Tolerations(firstList(rs.Tolerations, t.Tolerations))
	trace.Record(at+".template.spec.tolerations", pick("tolerations", rs.Tolerations != nil))
	if res != nil && res.GPU != nil && *res.GPU > 0 {
		generators.PlaceGPU(&pod, app.GPU, trace, at+".template.spec", pick("resources", rs.Resources != nil)+".gpu")
	}

	vols := map[string]spec.Volume{}
	for k, v := range t.Volumes {
		vols[k] = v
	}
	for k, v := range rs.Volumes {
		vols[k] = v
	}
	for i, name := range slices.Sorted(maps.Keys(vols)) {
		v := vols[name]
		from := "training.volumes." + name
		if _, ok := rs.Volumes[name]; ok {
			from = sp + ".volumes." + name
		}
		pod.Volumes = append(pod.Volumes, corev1.Volume{
			Name: name,
			VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
				ClaimName: ClaimName(app.Name, name, v), ReadOnly: v.ReadOnly,
			}},
		})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: v.MountPath, ReadOnly: v.ReadOnly, SubPath: v.SubPath})
		trace.Record(fmt.Sprintf("%s.template.spec.volumes[%d]", at, i), from)
		trace.Record(fmt.Sprintf("%s.volumeMounts[%d]", cat, i), from)
	}
	// The restricted security context of the policy. A read-only root
	// filesystem leaves the container /tmp, an emptyDir, for scratch
	// files, and HOME there (TensorFlow and Keras keep caches under it).
	sc, scFrom := generators.SecurityContext(app)
	c.SecurityContext = sc
	if scFrom != "" {
		trace.Record(cat+".securityContext", scFrom)
	}
	if sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem {
		if _, taken := vols[TmpVolume]; !taken && !mountsAt(c.VolumeMounts, "/tmp") {
			pod.Volumes = append(pod.Volumes, corev1.Volume{Name: TmpVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: TmpVolume, MountPath: "/tmp"})
			if _, set := env["HOME"]; !set {
				c.Env = append(c.Env, corev1.EnvVar{Name: "HOME", Value: "/tmp"})
			}
		}
	}
	if sc.RunAsUser != nil {
		// Volumes (a fresh claim is root's) belong to the user's group.
		pod.SecurityContext = &corev1.PodSecurityContext{FSGroup: sc.RunAsUser}
	}
	pod.Containers = []corev1.Container{c}
	trace.Record(cat, sp)
	// The replica set as a whole, for findings about its pod template or
	// its containers (the operator requires a container named tensorflow).
	trace.Record(at, sp)

	restart := t.RestartPolicy
	if rs.RestartPolicy != "" {
		restart = rs.RestartPolicy
	}
	trace.Record(at+".restartPolicy", pick("restartPolicy", rs.RestartPolicy != ""))
	trace.Record(at+".replicas", sp+".replicas")
	return &kubeflowv1.ReplicaSpec{
		Replicas:      new(int32(rs.Replicas)),
		RestartPolicy: kubeflowv1.RestartPolicy(restart),
		Template: corev1.PodTemplateSpec{
			ObjectMeta: podMeta(labels, t.PodMetadata, rs.PodMetadata, trace, at+".template.metadata", sp),
			Spec:       pod,
		},
	}
}

// podMeta is the metadata of a replica set's pods: dmls's labels, then the
// job's podMetadata, then the replica set's, key by key. The loader
// refuses keys that dmls, Kueue or Volcano own.
func podMeta(labels map[string]string, job, own *spec.PodMetadata, trace *provenance.Trace, at, sp string) metav1.ObjectMeta {
	m := metav1.ObjectMeta{Labels: labels}
	cloned := false
	for _, md := range []struct {
		pm   *spec.PodMetadata
		from string
	}{{job, "training.podMetadata"}, {own, sp + ".podMetadata"}} {
		if md.pm == nil {
			continue
		}
		for k, v := range md.pm.Labels {
			if !cloned {
				m.Labels, cloned = maps.Clone(labels), true
			}
			m.Labels[k] = v
			trace.Record(at+".labels."+k, md.from+".labels."+k)
		}
		for k, v := range md.pm.Annotations {
			if m.Annotations == nil {
				m.Annotations = map[string]string{}
			}
			m.Annotations[k] = v
			trace.Record(at+".annotations."+k, md.from+".annotations."+k)
		}
	}
	return m
}

// ClaimName is the PVC a volume mounts: its claimName, or <app>-<volume>.
func ClaimName(app, volume string, v spec.Volume) string { return spec.ClaimName(app, volume, v) }

// TmpVolume is the emptyDir mounted at /tmp when the root filesystem is
// read-only.
const TmpVolume = generators.TmpVolume

func mountsAt(ms []corev1.VolumeMount, p string) bool {
	for _, m := range ms {
		if m.MountPath == p {
			return true
		}
	}
	return false
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func firstList[T any](a, b []T) []T {
	if a != nil {
		return a
	}
	return b
}

func mergeMaps[V any](a, b map[string]V) map[string]V {
	if len(a) == 0 && len(b) == 0 {
		return nil
	}
	out := map[string]V{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
