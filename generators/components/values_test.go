package components

import (
	"slices"
	"testing"

	kueueconfig "sigs.k8s.io/kueue/apis/config/v1beta2"
	"sigs.k8s.io/yaml"

	"github.com/dmls-project/dmls/internal/spec"
)

// TestKueueConfigIsKueues reads the configuration dmls writes back into
// Kueue's own type, strictly, defaults it as Kueue does on start, and
// checks the integrations and the leader election Kueue ends up with.
func TestKueueConfigIsKueues(t *testing.T) {
	for _, tfjobs := range []bool{false, true} {
		s, err := KueueConfig(tfjobs)
		if err != nil {
			t.Fatal(err)
		}
		var cfg kueueconfig.Configuration
		if err := yaml.UnmarshalStrict([]byte(s), &cfg); err != nil {
			t.Fatalf("Kueue would not read it: %v\n%s", err, s)
		}
		kueueconfig.SetDefaults_Configuration(&cfg)
		want := []string{IntegrationTrainJob}
		if tfjobs {
			want = append(want, IntegrationTFJob)
		}
		if !slices.Equal(cfg.Integrations.Frameworks, want) {
			t.Errorf("tfjobs=%v: integrations %v, want %v", tfjobs, cfg.Integrations.Frameworks, want)
		}
		if cfg.ManageJobsWithoutQueueName {
			t.Error("Kueue would manage jobs without a queue")
		}
		if cfg.LeaderElection == nil || cfg.LeaderElection.LeaseDuration.Duration == 0 || *cfg.LeaderElection.LeaderElect != true {
			t.Errorf("leader election after Kueue's defaults: %+v", cfg.LeaderElection)
		}
	}
}

// TestValuesTurnRuntimesOn checks that the Trainer chart gets exactly the
// upstream runtimes the component lists, over the user's own values.
func TestValuesTurnRuntimesOn(t *testing.T) {
	c := spec.Component{
		Trainer: &spec.TrainerComponent{Runtimes: []string{"torch-distributed", "deepspeed-distributed", "my-runtime"}},
		Helm:    &spec.HelmRepoSource{Values: map[string]any{"runtimes": map[string]any{"jaxDistributed": map[string]any{"enabled": false}}, "jobset": map[string]any{"install": true}}},
	}
	v, err := Values("trainer", c, false)
	if err != nil {
		t.Fatal(err)
	}
	rt := v["runtimes"].(map[string]any)
	for key, want := range map[string]any{"torchDistributed": true, "deepspeedDistributed": true} {
		if got := rt[key].(map[string]any)["enabled"]; got != want {
			t.Errorf("runtimes.%s.enabled = %v, want %v", key, got, want)
		}
	}
	if rt["jaxDistributed"].(map[string]any)["enabled"] != false || v["jobset"] == nil {
		t.Errorf("the user's values are lost: %v", v)
	}
	if _, ok := c.Helm.Values["runtimes"].(map[string]any)["torchDistributed"]; ok {
		t.Error("Values changed the spec's own map")
	}
}
