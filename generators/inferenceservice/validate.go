package inferenceservice

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	"github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"k8s.io/apimachinery/pkg/runtime"
	oaerrors "k8s.io/kube-openapi/pkg/validation/errors"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	"github.com/dmls-project/dmls/generators"
)

// CRD is KServe's InferenceService CRD (config/crd/full of
// github.com/kserve/kserve v0.14.1, the module of the Go types), kept
// byte-equal to it by a test.
//
//go:embed crd/serving.kserve.io_inferenceservices.yaml
var CRD []byte

// FieldError is one finding about an InferenceService.
type FieldError struct {
	// Field is the object field path, e.g. spec.predictor.minReplicas; it
	// is empty when KServe does not say which field it means.
	Field   string
	Message string
}

// Validate checks an InferenceService as the API server and KServe's
// admission webhook would on create: against the CRD's schema (types,
// enums, required fields, and fields the schema does not know, which the
// API server would drop), then with KServe's own validation. Each finding
// names the object field when it can; callers map it to the spec through
// the object's Trace.
func Validate(obj generators.Object) []FieldError {
	var out []FieldError
	out = append(out, CheckSchema(obj.Object)...)
	isvc := &v1beta1.InferenceService{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, isvc); err != nil {
		return append(out, FieldError{Message: err.Error()})
	}
	if err := ValidateTyped(isvc); err != nil {
		out = append(out, FieldError{Field: fieldOf(err.Error()), Message: err.Error()})
	}
	return out
}

var quiet sync.Once

// ValidateTyped runs KServe's admission validation (ValidateCreate of its
// webhook) on isvc.
func ValidateTyped(isvc *v1beta1.InferenceService) error {
	// KServe's webhook logs through controller-runtime, which complains
	// on stderr when no logger is set.
	quiet.Do(func() { logf.SetLogger(logr.Discard()) })
	if isvc.Namespace == "" {
		isvc = isvc.DeepCopy()
		isvc.Namespace = "default"
	}
	_, err := (&v1beta1.InferenceServiceValidator{}).ValidateCreate(context.Background(), isvc)
	return err
}

// fieldOf guesses the field a KServe validation message is about: KServe
// returns plain errors without a field path.
func fieldOf(msg string) string {
	const pred = "spec.predictor"
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "minreplicas"):
		return pred + ".minReplicas"
	case strings.Contains(m, "maxreplicas"):
		return pred + ".maxReplicas"
	case strings.Contains(m, "not a supported metric"):
		return pred + ".scaleMetric"
	case strings.Contains(m, "target"):
		return pred + ".scaleTarget"
	case strings.Contains(m, "parallelism"):
		return pred + ".containerConcurrency"
	case strings.Contains(m, "storageuri") || strings.Contains(m, "storage uri"):
		return pred + ".model.storageUri"
	case strings.Contains(m, "inferenceservice name"):
		return "metadata.name"
	case strings.Contains(m, "exactly one"):
		return pred
	}
	return ""
}

type crdSchema struct {
	validator  *validate.SchemaValidator
	structural *structuralschema.Structural
}

var loadSchema = sync.OnceValues(func() (*crdSchema, error) {
	var c apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(CRD, &c); err != nil {
		return nil, fmt.Errorf("inferenceservice CRD: %w", err)
	}
	for _, v := range c.Spec.Versions {
		if v.Name != GroupVersion.Version || v.Schema == nil {
			continue
		}
		var internal apiextensions.JSONSchemaProps
		if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, &internal, nil); err != nil {
			return nil, fmt.Errorf("inferenceservice CRD: %w", err)
		}
		structural, err := structuralschema.NewStructural(&internal)
		if err != nil {
			return nil, fmt.Errorf("inferenceservice CRD: %w", err)
		}
		b, err := json.Marshal(v.Schema.OpenAPIV3Schema)
		if err != nil {
			return nil, err
		}
		var openAPI spec.Schema
		if err := json.Unmarshal(b, &openAPI); err != nil {
			return nil, fmt.Errorf("inferenceservice CRD: %w", err)
		}
		return &crdSchema{validate.NewSchemaValidator(&openAPI, nil, "", strfmt.Default), structural}, nil
	}
	return nil, fmt.Errorf("inferenceservice CRD has no %s schema", GroupVersion.Version)
})

// CheckSchema checks an InferenceService object against the CRD's schema:
// what the API server would reject, and each field it would drop because
// the schema does not know it.
func CheckSchema(obj map[string]any) []FieldError {
	s, err := loadSchema()
	if err != nil {
		return []FieldError{{Message: err.Error()}}
	}
	var out []FieldError
	for _, e := range s.validator.Validate(obj).Errors {
		field := ""
		var ve *oaerrors.Validation
		if errors.As(e, &ve) {
			field = ve.Name
		}
		out = append(out, FieldError{Field: field, Message: e.Error()})
	}
	cp := runtime.DeepCopyJSON(obj)
	dropped := pruning.PruneWithOptions(cp, s.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	sort.Strings(dropped)
	for _, d := range dropped {
		out = append(out, FieldError{Field: d, Message: "unknown field: the InferenceService CRD has no " + d + ", so the API server would drop it"})
	}
	return out
}

// Default applies KServe's admission defaulting to isvc, as KServe's
// mutating webhook does on create with the settings of KServe's shipped
// inferenceservice-config ConfigMap (defaultDeploymentMode Serverless,
// autoMountServiceAccountToken true). It needs no cluster: the webhook's
// only lookups are those settings and the local model caches, of which
// there are none.
func Default(isvc *v1beta1.InferenceService) {
	quiet.Do(func() { logf.SetLogger(logr.Discard()) })
	isvc.DefaultInferenceService(
		&v1beta1.InferenceServicesConfig{},
		&v1beta1.DeployConfig{DefaultDeploymentMode: "Serverless"},
		&v1beta1.SecurityConfig{AutoMountServiceAccountToken: true},
		nil,
	)
}
