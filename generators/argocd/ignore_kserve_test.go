package argocd

import (
	"slices"
	"testing"

	"github.com/dmls-project/dmls/generators/inferenceservice"
	"github.com/dmls-project/dmls/internal/spec"
)

// TestKServeDefaults computes what KServe's webhook defaults with KServe's
// own defaulting: resource requests and limits of a custom container, the
// empty name of a model's container; and nothing dmls already set.
func TestKServeDefaults(t *testing.T) {
	image := &spec.AppSpec{Name: "resnet", Serving: &spec.ModelService{Runtime: spec.RuntimeKServe, Image: "registry.example.com/resnet:1"}}
	model := &spec.AppSpec{Name: "iris", Serving: &spec.ModelService{Runtime: spec.RuntimeKServe,
		Model:     &spec.Model{Format: "sklearn", StorageURI: "gs://models/iris"},
		Resources: &spec.Resources{CPU: "1", Memory: "2Gi", Limits: &spec.Limits{CPU: "1", Memory: "2Gi"}}}}
	for _, tt := range []struct {
		app  *spec.AppSpec
		want []string
	}{
		{image, []string{"/spec/predictor/containers/0/resources"}},
		// KServe 0.20's defaulting records the model format in an annotation.
		{model, []string{"/metadata/annotations/modelFormat", "/spec/predictor/model/name"}},
	} {
		objs, err := inferenceservice.Generate(tt.app, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := KServeDefaults(objs[0])
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: defaulted %v, want %v", tt.app.Name, got, tt.want)
		}
		ign, err := IgnoreDifferences(objs)
		if err != nil || len(ign) != 1 || ign[0].Kind != "InferenceService" || ign[0].Group != "serving.kserve.io" {
			t.Errorf("%s: ignoreDifferences %+v, %v", tt.app.Name, ign, err)
		}
	}
}
