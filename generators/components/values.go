package components

import (
	"fmt"
	"maps"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kueueconfig "sigs.k8s.io/kueue/apis/config/v1beta2"
	"sigs.k8s.io/yaml"

	"github.com/dmls-project/dmls/internal/spec"
)

// Kueue job integrations (config.kueue.x-k8s.io integrations.frameworks).
const (
	IntegrationTrainJob = "trainer.kubeflow.org/trainjob"
	IntegrationTFJob    = "kubeflow.org/tfjob"
)

// Values returns the chart values of component c: its own, with what dmls
// writes over them. For Trainer, the upstream runtimes the component
// installs are turned on (runtimes.<key>.enabled); for Kueue, its
// configuration (managerConfig.controllerManagerConfigYaml) with the job
// integrations the workspace uses: TrainJob always, TFJob when a TFJob
// queues through Kueue (tfjobs). The same values reach a chart that Argo CD
// renders and a workspace chart that dmls renders.
func Values(name string, c spec.Component, tfjobs bool) (map[string]any, error) {
	var given map[string]any
	switch {
	case c.Helm != nil:
		given = c.Helm.Values
	case c.Chart != nil:
		given = c.Chart.Values
	}
	if c.Trainer == nil && c.Kueue == nil {
		return given, nil
	}
	out := maps.Clone(given)
	if out == nil {
		out = map[string]any{}
	}
	sub := func(m map[string]any, key string) map[string]any {
		if v, ok := m[key].(map[string]any); ok {
			v = maps.Clone(v)
			m[key] = v
			return v
		}
		v := map[string]any{}
		m[key] = v
		return v
	}
	if t := c.Trainer; t != nil {
		runtimes := sub(out, "runtimes")
		for _, rt := range t.Runtimes {
			if key := spec.RuntimeChartKey(rt); key != "" {
				sub(runtimes, key)["enabled"] = true
			}
		}
	}
	if c.Kueue != nil {
		cfg, err := KueueConfig(tfjobs)
		if err != nil {
			return nil, fmt.Errorf("components.%s: %w", name, err)
		}
		sub(out, "managerConfig")["controllerManagerConfigYaml"] = cfg
	}
	return out, nil
}

// KueueConfig is the Kueue configuration dmls writes: jobs without a queue
// left alone, and the integrations of the workspace. Kueue defaults the
// rest (health, metrics, the webhook and leader election) as its chart
// does.
func KueueConfig(tfjobs bool) (string, error) {
	frameworks := []string{IntegrationTrainJob}
	if tfjobs {
		frameworks = append(frameworks, IntegrationTFJob)
	}
	cfg := kueueconfig.Configuration{
		TypeMeta:                   metav1.TypeMeta{APIVersion: kueueconfig.SchemeGroupVersion.String(), Kind: "Configuration"},
		ManageJobsWithoutQueueName: false,
		Integrations:               &kueueconfig.Integrations{Frameworks: frameworks},
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return "", err
	}
	return string(b), nil
}
