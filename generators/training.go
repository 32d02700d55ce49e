package generators

import (
	"fmt"
	"maps"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/internal/spec"
)

// TmpVolume is the emptyDir mounted at /tmp of training containers when
// the root filesystem is read-only.
const TmpVolume = "tmp"

// VolumeClaims returns the PersistentVolumeClaims that a training job's volumes
// ask to create, in name order.
func VolumeClaims(app *spec.AppSpec, labels map[string]string) ([]Object, error) {
	// A later volume of the same claim wins; the loader refuses two.
	claims := map[string]spec.Claim{}
	for _, c := range spec.CreatedClaims(app) {
		claims[c.Name] = c
	}
	var out []Object
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
		obj, err := New(pvc, corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaim"), trace)
		if err != nil {
			return nil, err
		}
		out = append(out, obj)
	}
	return out, nil
}

// FormatValue prints a hyperparameter as the training code reads it.
func FormatValue(v any) string {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case string:
		return x
	default:
		return fmt.Sprint(x)
	}
}

// OutputEnv is the variable that tells a run of t where it writes
// (training.output), if t has an output.
func OutputEnv(t *spec.TrainingJob) (corev1.EnvVar, bool) {
	if t.Output == nil {
		return corev1.EnvVar{}, false
	}
	return corev1.EnvVar{Name: spec.OutputEnvVar, Value: spec.RunOutput(t.Output.StorageURI, t.Run)}, true
}
