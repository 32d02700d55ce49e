package argocd

import (
	_ "embed"
	"strings"

	synccommon "github.com/argoproj/argo-cd/gitops-engine/v3/pkg/sync/common"
	argocommon "github.com/argoproj/argo-cd/v3/common"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/internal/spec"
)

// TFJobHealth is the Lua health check of Kubeflow TFJobs: Succeeded is
// Healthy, Failed is Degraded, and anything else (no status yet, Created,
// Running, Restarting, and Suspended, which is Kueue queueing the job) is
// Progressing.
//
//go:embed health/tfjob.lua
var TFJobHealth string

// TrainJobHealth is the Lua health check of Kubeflow Trainer v2
// TrainJobs: Complete is Healthy, Failed is Degraded, and a suspended
// (queued) or running job is Progressing, with Kueue's reason.
//
//go:embed health/trainjob.lua
var TrainJobHealth string

// ApplicationHealth is the Lua health check of Argo CD Applications, which
// the roots' sync waves need.
//
//go:embed health/application.lua
var ApplicationHealth string

// ConfigMapName is Argo CD's settings ConfigMap.
const ConfigMapName = argocommon.ArgoCDConfigMapName

// argocd-cm keys: resource.customizations.health.<group>_<kind>.
const (
	KeyTFJobHealth       = "resource.customizations.health.kubeflow.org_TFJob"
	KeyTrainJobHealth    = "resource.customizations.health.trainer.kubeflow.org_TrainJob"
	KeyApplicationHealth = "resource.customizations.health.argoproj.io_Application"
)

// Settings returns the argocd-cm keys dmls needs.
func Settings() map[string]string {
	return map[string]string{
		KeyTFJobHealth:       TFJobHealth,
		KeyTrainJobHealth:    TrainJobHealth,
		KeyApplicationHealth: ApplicationHealth,
	}
}

// ConfigMap returns argocd-cm with Settings, in Argo CD's namespace. It is
// applied server-side, so the keys of the Argo CD installation stay, and
// never pruned or deleted, so that Argo CD never loses its settings.
func ConfigMap(p *spec.Platform) (generators.Object, error) {
	if err := checkPlatform(p, nil); err != nil {
		return generators.Object{}, err
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name: ConfigMapName, Namespace: p.ArgoCD.Namespace,
			// Argo CD only reads ConfigMaps labelled part-of argocd; the
			// installation sets the same values, so the labels do not
			// fight. dmls's own labels would.
			Labels: map[string]string{
				generators.LabelName:   ConfigMapName,
				generators.LabelPartOf: "argocd",
			},
			Annotations: map[string]string{
				synccommon.AnnotationSyncWave: WaveFirst,
				synccommon.AnnotationSyncOptions: strings.Join([]string{
					synccommon.SyncOptionServerSideApply,
					DisablePrune,
					DisableDeletion,
				}, ","),
			},
		},
		Data: Settings(),
	}
	return generators.New(cm, corev1.SchemeGroupVersion.WithKind("ConfigMap"), nil)
}

// DisablePrune and DisableDeletion are the sync options that keep Argo CD
// from pruning or deleting an object (gitops-engine v3 names the option
// and its value apart).
const (
	DisablePrune    = synccommon.SyncOptionPrune + "=" + synccommon.SyncValueFalse
	DisableDeletion = synccommon.SyncOptionDelete + "=" + synccommon.SyncValueFalse
)
