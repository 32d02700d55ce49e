// Command kserve-agree runs KServe v0.20.0's own admission code on
// InferenceServices: for each YAML file named on the command line it
// prints one JSON line with the file, what ValidateCreate returns on the
// defaulted object, and the object after the mutating webhook's defaulting (DefaultInferenceService
// with KServe's shipped inferenceservice-config: defaultDeploymentMode
// Serverless, which adds no annotation; no resource defaults; no local
// model caches). A panic of KServe's code is reported as the error
// "panic: ...". dmls's TestKServeAgreement compares dmls's expression of these rules with it.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/go-logr/logr"
	"github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"
)

type result struct {
	File      string          `json:"file"`
	Error     string          `json:"error"`
	Defaulted json.RawMessage `json:"defaulted"`
}

func main() {
	logf.SetLogger(logr.Discard())
	enc := json.NewEncoder(os.Stdout)
	for _, f := range os.Args[1:] {
		data, err := os.ReadFile(f)
		if err != nil {
			fail(err)
		}
		isvc := &v1beta1.InferenceService{}
		if err := yaml.UnmarshalStrict(data, isvc); err != nil {
			fail(fmt.Errorf("%s: %w", f, err))
		}
		// As the API server admits it: the mutating webhook's defaulting,
		// then the validating webhook, on the defaulted object (on the
		// object as it came when the defaulting panics).
		r := result{File: f}
		checked := isvc.DeepCopy()
		if defaultOK(isvc) {
			if r.Defaulted, err = json.Marshal(isvc); err != nil {
				fail(err)
			}
			checked = isvc.DeepCopy()
		}
		if checked.Namespace == "" {
			checked.Namespace = "default"
		}
		r.Error = validate(checked)
		if err := enc.Encode(r); err != nil {
			fail(err)
		}
	}
}

// validate runs the validating webhook's ValidateCreate.
func validate(isvc *v1beta1.InferenceService) (msg string) {
	defer func() {
		if p := recover(); p != nil {
			msg = fmt.Sprint("panic: ", p)
		}
	}()
	if _, err := (&v1beta1.InferenceServiceValidator{}).ValidateCreate(context.Background(), isvc); err != nil {
		return err.Error()
	}
	return ""
}

// defaultOK runs the mutating webhook's defaulting; false when it panics
// (KServe's defaulting indexes the predictor's first implementation).
func defaultOK(isvc *v1beta1.InferenceService) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	isvc.DefaultInferenceService(&v1beta1.InferenceServicesConfig{}, &v1beta1.DeployConfig{DefaultDeploymentMode: "Serverless"}, &v1beta1.SecurityConfig{AutoMountServiceAccountToken: true}, nil, nil)
	return true
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "kserve-agree:", err)
	os.Exit(1)
}
