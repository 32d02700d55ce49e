package rules

import (
	"testing"

	"github.com/dmls-project/dmls/internal/spec"
)

// TestGPUs pins the one GPU count that validate's quota check and the
// preview's quota warning share: training replicas at their count, a
// model service at its max scale (min scale, or 1, when unbounded), on
// Knative and on KServe alike.
func TestGPUs(t *testing.T) {
	gpus := func(n int) *spec.Resources { return &spec.Resources{GPU: new(n)} }
	tests := []struct {
		name string
		app  spec.AppSpec
		want int
	}{
		{"training", spec.AppSpec{Training: &spec.TrainingJob{Resources: gpus(2), Replicas: spec.Replicas{
			Worker: &spec.ReplicaSet{Replicas: 4}, Chief: &spec.ReplicaSet{Replicas: 1, Container: spec.Container{Resources: gpus(1)}}}}}, 4*2 + 1},
		{"knative at max scale", spec.AppSpec{Serving: &spec.ModelService{Resources: gpus(1), Autoscaling: spec.Autoscaling{MinScale: new(1), MaxScale: new(3)}}}, 3},
		{"kserve at max scale", spec.AppSpec{Serving: &spec.ModelService{Runtime: "kserve", Resources: gpus(2), Autoscaling: spec.Autoscaling{MaxScale: new(5)}}}, 10},
		{"unbounded: min scale", spec.AppSpec{Serving: &spec.ModelService{Resources: gpus(1), Autoscaling: spec.Autoscaling{MinScale: new(2)}}}, 2},
		{"unbounded, scale to zero: one pod", spec.AppSpec{Serving: &spec.ModelService{Resources: gpus(1)}}, 1},
		{"no GPUs", spec.AppSpec{Serving: &spec.ModelService{Autoscaling: spec.Autoscaling{MaxScale: new(5)}}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := GPUs(&tt.app); got != tt.want {
				t.Errorf("GPUs = %d, want %d", got, tt.want)
			}
		})
	}
}
