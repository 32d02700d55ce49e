// Knative Serving's webhook, emulated: its configuration read from the
// data of its ConfigMaps, and its validation of a Service on create and on
// update, run from Knative's own Go code.

package admission

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"knative.dev/pkg/apis"
	"knative.dev/serving/pkg/apis/config"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	autoscalerconfig "knative.dev/serving/pkg/autoscaler/config"

	"github.com/dmls-project/dmls/internal/spec"
)

// WithKnativeConfig returns ctx with Knative's config holding features and the
// cluster's config-autoscaler and config-defaults, the way Knative's
// webhook sees them. A value Knative cannot read is an error naming its
// ConfigMap.
func WithKnativeConfig(ctx context.Context, features map[string]string, cluster *spec.KnativeConfig) (context.Context, error) {
	cfg, err := KnativeConfig(features, cluster)
	if err != nil {
		return nil, err
	}
	return config.ToContext(ctx, cfg), nil
}

// KnativeConfig reads Knative's configuration from the data of its ConfigMaps.
func KnativeConfig(features map[string]string, cluster *spec.KnativeConfig) (*config.Config, error) {
	feats, err := config.NewFeaturesConfigFromMap(features)
	if err != nil {
		return nil, fmt.Errorf("knative config-features: %w", err)
	}
	var as, defs map[string]string
	if cluster != nil {
		as, defs = cluster.Autoscaler, cluster.Defaults
	}
	asc, err := autoscalerconfig.NewConfigFromMap(nonNilMap(as))
	if err != nil {
		return nil, fmt.Errorf("knative config-autoscaler: %w", err)
	}
	d, err := config.NewDefaultsConfigFromMap(nonNilMap(defs))
	if err != nil {
		return nil, fmt.Errorf("knative config-defaults: %w", err)
	}
	return &config.Config{Features: feats, Autoscaler: asc, Defaults: d}, nil
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// WithKnativeFeatures returns ctx with Knative's config (knative.dev/serving/pkg/apis/config)
// holding features, the way Knative's webhook sees its config-features.
func WithKnativeFeatures(ctx context.Context, features map[string]string) (context.Context, error) {
	feats, err := config.NewFeaturesConfigFromMap(features)
	if err != nil {
		return nil, fmt.Errorf("knative config-features: %w", err)
	}
	return config.ToContext(ctx, &config.Config{Features: feats}), nil
}

// KnativeFinding is one finding of Knative's validation.
type KnativeFinding struct {
	// Field is the object field path, e.g. spec.template.spec.containers[0].image.
	Field   string
	Message string
	// Warning is true for findings Knative only warns about.
	Warning bool
}

// ValidateKnativeService runs Knative's own admission validation on a
// Service (as unstructured data), as Knative's webhook would on create,
// with the config-features data features (generators/kservice.Features)
// and the cluster's Knative configuration (nil: Knative's defaults) in
// the context. Each finding names the object field; callers map it to the
// spec through the object's trace.
func ValidateKnativeService(obj map[string]any, features map[string]string, cluster *spec.KnativeConfig) []KnativeFinding {
	svc := &servingv1.Service{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, svc); err != nil {
		return []KnativeFinding{{Message: err.Error()}}
	}
	return ValidateKnativeServiceTyped(svc, features, cluster)
}

// ValidateKnativeServiceTyped is ValidateKnativeService of a Service read
// into Knative's Go type (as the unstructured converter reads it), which
// it may change.
func ValidateKnativeServiceTyped(svc *servingv1.Service, features map[string]string, cluster *spec.KnativeConfig) []KnativeFinding {
	ctx, err := WithKnativeConfig(context.Background(), features, cluster)
	if err != nil {
		return []KnativeFinding{{Message: err.Error()}}
	}
	ctx = apis.WithinCreate(ctx)
	if svc.Namespace == "" {
		svc.Namespace = "default"
	}
	return KnativeFindings(svc.Validate(ctx))
}

// KnativeFindings flattens Knative's findings, one per path, with map
// keys written as traces write them (annotations.a/b).
func KnativeFindings(fe *apis.FieldError) []KnativeFinding {
	if fe == nil {
		return nil
	}
	var out []KnativeFinding
	for _, e := range fe.WrappedErrors() {
		msg := e.Message
		if e.Details != "" {
			msg += ": " + e.Details
		}
		paths := e.Paths
		if len(paths) == 0 {
			paths = []string{""}
		}
		for _, p := range paths {
			out = append(out, KnativeFinding{Field: normalizeKnativePath(p), Message: msg, Warning: e.Level == apis.WarningLevel})
		}
	}
	return out
}

// normalizeKnativePath writes Knative's map keys (annotations[a/b]) the way
// traces do (annotations.a/b); list indexes stay.
func normalizeKnativePath(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '[' {
			j := strings.IndexByte(p[i:], ']')
			if j > 0 {
				key := p[i+1 : i+j]
				if _, err := strconv.Atoi(key); err != nil {
					b.WriteByte('.')
					b.WriteString(key)
					i += j
					continue
				}
			}
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// KnativeUpdateErrors runs Knative's own admission validation of an update of
// the Service old to obj, both defaulted first as the webhook defaults
// them, and returns the errors the update has that creating obj has not:
// chiefly a changed revision template that keeps its revision name
// (RevisionTemplateSpec.VerifyNameChange), which Knative refuses only on
// update, so that no check of one revision alone can see it.
func KnativeUpdateErrors(old, obj map[string]any) []KnativeFinding {
	decode := func(m map[string]any) (*servingv1.Service, error) {
		svc := &servingv1.Service{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, svc); err != nil {
			return nil, err
		}
		if svc.Namespace == "" {
			svc.Namespace = "default"
		}
		svc.SetDefaults(context.Background())
		return svc, nil
	}
	was, err := decode(old)
	if err != nil {
		return []KnativeFinding{{Message: err.Error()}}
	}
	svc, err := decode(obj)
	if err != nil {
		return []KnativeFinding{{Message: err.Error()}}
	}
	ctx, err := WithKnativeConfig(context.Background(), nil, nil)
	if err != nil {
		return []KnativeFinding{{Message: err.Error()}}
	}
	onCreate := map[KnativeFinding]bool{}
	for _, e := range KnativeFindings(svc.Validate(apis.WithinCreate(ctx))) {
		onCreate[e] = true
	}
	var out []KnativeFinding
	for _, e := range KnativeFindings(svc.Validate(apis.WithinUpdate(ctx, was))) {
		if !e.Warning && !onCreate[e] {
			out = append(out, e)
		}
	}
	return out
}
