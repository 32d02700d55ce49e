// Package trainjob generates Kubeflow Trainer v2 TrainJobs
// (trainer.kubeflow.org/v1alpha1), and the volume claims they ask for,
// from training specs whose framework is not tensorflow.
//
// A TrainJob names a ClusterTrainingRuntime and sets only what the runtime
// lets a job set: the trainer's image, command, args, env, node count and
// resources, and the initializers. Everything else of its pods (labels,
// annotations, the service account, volumes, the restricted security
// context, GPU placement) goes through one runtime patch of dmls's own
// manager, applied to each replicated job that runs the trainer.
package trainjob

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/dmls-project/dmls/generators"
	api "github.com/dmls-project/dmls/internal/apis/trainerv1alpha1"
	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/internal/spec"
)

// GVK is the TrainJob kind.
var GVK = schema.GroupVersionKind{Group: "trainer.kubeflow.org", Version: "v1alpha1", Kind: "TrainJob"}

// Manager is the manager of dmls's runtime patch. Kueue writes its own
// (KueueManager); Argo CD ignores that one.
const Manager = "dmls.dev/dmls"

// KueueManager is the manager of the runtime patch Kueue's webhook adds.
const KueueManager = "kueue.x-k8s.io/manager"

// Component is the app.kubernetes.io/component label of training objects
// (the same as a TFJob's).
const Component = "training"

var _ generators.Func = Generate

// Short names of the generated patch types.
type (
	patch       = api.TrainJobSpecRuntimePatchesElem
	runtimeSpec = api.TrainJobSpecRuntimePatchesElemTrainingRuntimeSpec
	jobSet      = api.TrainJobSpecRuntimePatchesElemTrainingRuntimeSpecTemplate
	jobSetSpec  = api.TrainJobSpecRuntimePatchesElemTrainingRuntimeSpecTemplateSpec
	replJob     = api.TrainJobSpecRuntimePatchesElemTrainingRuntimeSpecTemplateSpecReplicatedJobsElem
	jobTemplate = api.TrainJobSpecRuntimePatchesElemTrainingRuntimeSpecTemplateSpecReplicatedJobsElemTemplate
	jobSpec     = api.TrainJobSpecRuntimePatchesElemTrainingRuntimeSpecTemplateSpecReplicatedJobsElemTemplateSpec
	podTemplate = api.TrainJobSpecRuntimePatchesElemTrainingRuntimeSpecTemplateSpecReplicatedJobsElemTemplateSpecTemplate
	podMeta     = api.TrainJobSpecRuntimePatchesElemTrainingRuntimeSpecTemplateSpecReplicatedJobsElemTemplateSpecTemplateMetadata
	podSpec     = api.TrainJobSpecRuntimePatchesElemTrainingRuntimeSpecTemplateSpecReplicatedJobsElemTemplateSpecTemplateSpec
	container   = api.TrainJobSpecRuntimePatchesElemTrainingRuntimeSpecTemplateSpecReplicatedJobsElemTemplateSpecTemplateSpecContainersElem
)

// Generate returns the TrainJob of app's training spec, preceded by the
// PersistentVolumeClaims its volumes ask to create. An app without
// training, or whose training is a TFJob, gives nothing.
func Generate(app *spec.AppSpec, p *spec.Platform) ([]generators.Object, error) {
	t := app.Training
	if !t.IsTrainJob() {
		return nil, nil
	}
	labels := generators.Labels(app, p, Component)
	out, err := generators.VolumeClaims(app, labels)
	if err != nil {
		return nil, err
	}
	trace := &provenance.Trace{}
	meta := metav1.ObjectMeta{Name: spec.JobName(app.Name, t), Labels: labels}
	trace.Record("metadata.name", "training.run")
	if t.Name != "" {
		trace.Record("metadata.name", "training.name")
	}
	if q := app.Kueue; q != nil {
		meta.Labels = maps.Clone(labels)
		meta.Labels[spec.KueueQueueLabel] = q.Queue
		trace.Record("metadata.labels."+spec.KueueQueueLabel, q.QueueFrom)
		if q.PriorityClass != "" {
			meta.Labels[spec.KueuePriorityLabel] = q.PriorityClass
			trace.Record("metadata.labels."+spec.KueuePriorityLabel, q.PriorityFrom)
		}
	}
	generators.AnnotateException(app, &meta, trace)

	runtime := t.RuntimeName()
	js := api.TrainJobSpec{
		RuntimeRef: api.TrainJobSpecRuntimeRef{
			Name:     runtime,
			ApiGroup: new("trainer.kubeflow.org"),
			Kind:     new("ClusterTrainingRuntime"),
		},
		Trainer: trainer(app, trace),
	}
	trace.Record("spec.runtimeRef", "training.framework")
	if t.Runtime != "" {
		trace.Record("spec.runtimeRef", "training.runtime")
	}
	if t.ActiveDeadlineSeconds != nil {
		js.ActiveDeadlineSeconds = new(int(*t.ActiveDeadlineSeconds))
		trace.Record("spec.activeDeadlineSeconds", "training.activeDeadlineSeconds")
	}
	if in := t.Initializer; in != nil {
		js.Initializer = &api.TrainJobSpecInitializer{}
		if d := in.Dataset; d != nil {
			js.Initializer.Dataset = &api.TrainJobSpecInitializerDataset{StorageUri: new(d.StorageURI), Env: envVars(d.Env)}
			if d.SecretRef != "" {
				js.Initializer.Dataset.SecretRef = &api.TrainJobSpecInitializerDatasetSecretRef{Name: new(d.SecretRef)}
			}
			trace.Record("spec.initializer.dataset", "training.initializer.dataset")
			trace.Record("spec.initializer.dataset.storageUri", "training.initializer.dataset.storageUri")
		}
		if m := in.Model; m != nil {
			js.Initializer.Model = &api.TrainJobSpecInitializerModel{StorageUri: new(m.StorageURI), Env: envVars(m.Env)}
			if m.SecretRef != "" {
				js.Initializer.Model.SecretRef = &api.TrainJobSpecInitializerModelSecretRef{Name: new(m.SecretRef)}
			}
			trace.Record("spec.initializer.model", "training.initializer.model")
			trace.Record("spec.initializer.model.storageUri", "training.initializer.model.storageUri")
		}
	}
	js.RuntimePatches = []patch{runtimePatch(app, runtime, trace)}

	job := struct {
		metav1.TypeMeta   `json:",inline"`
		metav1.ObjectMeta `json:"metadata"`
		Spec              api.TrainJobSpec `json:"spec"`
	}{ObjectMeta: meta, Spec: js}
	obj, err := generators.New(&job, GVK, trace)
	if err != nil {
		return nil, err
	}
	return append(out, obj), nil
}

// trainer is the TrainJob's trainer: what the runtime lets a job set of
// its trainer container.
func trainer(app *spec.AppSpec, trace *provenance.Trace) *api.TrainJobSpecTrainer {
	t := app.Training
	tr := &api.TrainJobSpecTrainer{Command: t.Command, Args: append([]string(nil), t.Args...)}
	if t.Image != "" {
		tr.Image = new(t.Image)
	}
	trace.Record("spec.trainer.image", "training.image")
	trace.Record("spec.trainer.command", "training.command")
	trace.Record("spec.trainer.args", "training.args")
	for _, k := range slices.Sorted(maps.Keys(t.Env)) {
		tr.Env = append(tr.Env, generators.EnvVar(k, t.Env[k]))
		trace.Record(fmt.Sprintf("spec.trainer.env[%d]", len(tr.Env)-1), "training.env."+k)
	}
	for _, k := range slices.Sorted(maps.Keys(t.Hyperparameters)) {
		v := generators.FormatValue(t.Hyperparameters[k])
		if t.HyperparametersAs == "env" {
			tr.Env = append(tr.Env, corev1.EnvVar{Name: "HP_" + strings.ToUpper(k), Value: v})
			trace.Record(fmt.Sprintf("spec.trainer.env[%d]", len(tr.Env)-1), "training.hyperparameters."+k)
		} else {
			tr.Args = append(tr.Args, fmt.Sprintf("--%s=%s", k, v))
			trace.Record(fmt.Sprintf("spec.trainer.args[%d]", len(tr.Args)-1), "training.hyperparameters."+k)
		}
	}
	if ev, ok := generators.OutputEnv(t); ok {
		tr.Env = append(tr.Env, ev)
		trace.Record(fmt.Sprintf("spec.trainer.env[%d]", len(tr.Env)-1), "training.output.storageUri")
	}
	if sc, _ := generators.SecurityContext(app); readOnlyRoot(sc) && !mountsTmp(t) {
		if _, set := t.Env["HOME"]; !set {
			tr.Env = append(tr.Env, corev1.EnvVar{Name: "HOME", Value: "/tmp"})
		}
	}
	if t.NumNodes != nil {
		tr.NumNodes = new(*t.NumNodes)
		trace.Record("spec.trainer.numNodes", "training.numNodes")
	}
	if t.NumProcPerNode != nil {
		tr.NumProcPerNode = new(*t.NumProcPerNode)
		trace.Record("spec.trainer.numProcPerNode", "training.numProcPerNode")
	}
	if res, from := t.NodeResources(); res != nil {
		rr := generators.Resources(res)
		tr.ResourcesPerNode = &rr
		trace.Record("spec.trainer.resourcesPerNode", from)
	}
	return tr
}

// runtimePatch is dmls's patch of the runtime: the pod metadata, service
// account, placement, volumes and security context of every replicated
// job that runs the trainer.
func runtimePatch(app *spec.AppSpec, runtime string, trace *provenance.Trace) patch {
	t := app.Training
	pod := corev1.PodSpec{ServiceAccountName: generators.TrainingServiceAccount}
	const podAt = "spec.runtimePatches[0].trainingRuntimeSpec.template.spec.replicatedJobs[0].template.spec.template.spec"
	pod.NodeSelector = maps.Clone(t.NodeSelector)
	trace.Record(podAt+".nodeSelector", "training.nodeSelector")
	pod.Tolerations = generators.Tolerations(t.Tolerations)
	trace.Record(podAt+".tolerations", "training.tolerations")
	if res, from := t.NodeResources(); res != nil && res.GPU != nil && *res.GPU > 0 {
		generators.PlaceGPU(&pod, app.GPU, trace, podAt, from+".gpu")
	}
	c := container{Name: spec.TrainerNodeContainer}
	for i, name := range slices.Sorted(maps.Keys(t.Volumes)) {
		v := t.Volumes[name]
		pod.Volumes = append(pod.Volumes, corev1.Volume{
			Name: name,
			VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
				ClaimName: spec.ClaimName(app.Name, name, v), ReadOnly: v.ReadOnly,
			}},
		})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: v.MountPath, ReadOnly: v.ReadOnly, SubPath: v.SubPath})
		trace.Record(fmt.Sprintf("%s.volumes[%d]", podAt, i), "training.volumes."+name)
	}
	sc, scFrom := generators.SecurityContext(app)
	c.SecurityContext = sc
	if scFrom != "" {
		trace.Record(podAt+".containers[0].securityContext", scFrom)
	}
	if readOnlyRoot(sc) && !mountsTmp(t) {
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: generators.TmpVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: generators.TmpVolume, MountPath: "/tmp"})
	}
	if sc.RunAsUser != nil {
		pod.SecurityContext = &corev1.PodSecurityContext{FSGroup: sc.RunAsUser}
	}
	ps := &podSpec{
		ServiceAccountName: new(pod.ServiceAccountName),
		NodeSelector:       pod.NodeSelector,
		Tolerations:        pod.Tolerations,
		Volumes:            pod.Volumes,
		SecurityContext:    pod.SecurityContext,
		Containers:         []container{c},
	}
	var pm *podMeta
	if md := t.PodMetadata; md != nil && (len(md.Labels) > 0 || len(md.Annotations) > 0) {
		pm = &podMeta{Labels: md.Labels, Annotations: md.Annotations}
		trace.Record(podAt[:len(podAt)-len(".spec")]+".metadata", "training.podMetadata")
	}
	var jobs []replJob
	for _, name := range spec.RuntimeJobs(runtime) {
		jobs = append(jobs, replJob{Name: name, Template: &jobTemplate{Spec: &jobSpec{Template: &podTemplate{Metadata: pm, Spec: ps}}}})
	}
	trace.Record("spec.runtimePatches", "training")
	return patch{
		Manager:             Manager,
		TrainingRuntimeSpec: &runtimeSpec{Template: &jobSet{Spec: &jobSetSpec{ReplicatedJobs: jobs}}},
	}
}

func envVars(env map[string]spec.EnvValue) []corev1.EnvVar {
	var out []corev1.EnvVar
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, generators.EnvVar(k, env[k]))
	}
	return out
}

func readOnlyRoot(sc *corev1.SecurityContext) bool {
	return sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem
}

// mountsTmp reports whether a volume of the job takes /tmp or the name of
// the scratch volume.
func mountsTmp(t *spec.TrainingJob) bool {
	if _, taken := t.Volumes[generators.TmpVolume]; taken {
		return true
	}
	for _, v := range t.Volumes {
		if v.MountPath == "/tmp" {
			return true
		}
	}
	return false
}
