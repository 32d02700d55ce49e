// Package tfjob generates Kubeflow TFJobs, and the volume claims they ask
// for, from training specs.
package tfjob

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	kubeflowv1 "github.com/kubeflow/training-operator/pkg/apis/kubeflow.org/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
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
	if t == nil {
		return nil, nil
	}
	labels := generators.Labels(app, p, Component)
	var out []generators.Object

	claims, err := volumeClaims(app, labels)
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
	if s := t.Scheduling; s != nil {
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
		v := formatValue(t.Hyperparameters[k])
		if t.HyperparametersAs == "env" {
			c.Env = append(c.Env, corev1.EnvVar{Name: "HP_" + strings.ToUpper(k), Value: v})
			trace.Record(fmt.Sprintf("%s.env[%d]", cat, len(c.Env)-1), "training.hyperparameters."+k)
		} else {
			c.Args = append(c.Args, fmt.Sprintf("--%s=%s", k, v))
			trace.Record(fmt.Sprintf("%s.args[%d]", cat, len(c.Args)-1), "training.hyperparameters."+k)
		}
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
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec:       pod,
		},
	}
}

// volumeClaims returns the PersistentVolumeClaims that the job's volumes
// ask to create, in name order.
func volumeClaims(app *spec.AppSpec, labels map[string]string) ([]generators.Object, error) {
	// A later volume of the same claim wins; the loader refuses two.
	claims := map[string]spec.Claim{}
	for _, c := range spec.CreatedClaims(app) {
		claims[c.Name] = c
	}
	var out []generators.Object
	for _, name := range slices.Sorted(maps.Keys(claims)) {
		cl := claims[name]
		pvc := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			Spec: corev1.PersistentVolumeClaimSpec{
				VolumeMode: new(corev1.PersistentVolumeFilesystem),
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceStorage: resource.MustParse(cl.Volume.Create.Size),
				}},
			},
		}
		for _, m := range cl.Volume.Create.AccessModes {
			pvc.Spec.AccessModes = append(pvc.Spec.AccessModes, corev1.PersistentVolumeAccessMode(m))
		}
		if sc := cl.Volume.Create.StorageClass; sc != "" {
			pvc.Spec.StorageClassName = &sc
		}
		trace := &provenance.Trace{}
		trace.Record("metadata.name", cl.From)
		trace.Record("spec", cl.From+".create")
		trace.Record("spec.resources.requests.storage", cl.From+".create.size")
		obj, err := generators.New(pvc, corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaim"), trace)
		if err != nil {
			return nil, err
		}
		out = append(out, obj)
	}
	return out, nil
}

// ClaimName is the PVC a volume mounts: its claimName, or <app>-<volume>.
func ClaimName(app, volume string, v spec.Volume) string { return spec.ClaimName(app, volume, v) }

// formatValue prints a hyperparameter as the training code reads it.
func formatValue(v any) string {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case string:
		return x
	default:
		return fmt.Sprint(x)
	}
}

// TmpVolume is the emptyDir mounted at /tmp when the root filesystem is
// read-only.
const TmpVolume = "tmp"

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
