// Package externalsecret generates External Secrets Operator ExternalSecrets
// from the secrets that apps and the platform declare, so that the values
// stay in the external store and no Secret is ever written to git.
package externalsecret

import (
	"fmt"
	"maps"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/internal/apis/esv1"
	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/internal/spec"
)

// Component is the app.kubernetes.io/component label of ExternalSecrets.
const Component = "secrets"

// GVK is the kind and version dmls generates: external-secrets.io/v1, the
// version External Secrets Operator 0.17 and later serve (v1beta1 is no
// longer served by the 1.x CRDs).
var GVK = schema.GroupVersionKind{Group: "external-secrets.io", Version: "v1", Kind: "ExternalSecret"}

var _ generators.Func = Generate

// Generate returns one ExternalSecret per secret the app declares, in name
// order. An app without secrets gives nothing.
func Generate(app *spec.AppSpec, p *spec.Platform) ([]generators.Object, error) {
	if len(app.Secrets) == 0 {
		return nil, nil
	}
	labels := generators.Labels(app, p, Component)
	var out []generators.Object
	for _, name := range slices.Sorted(maps.Keys(app.Secrets)) {
		obj, err := New(name, app.Secrets[name], labels, "secrets."+name)
		if err != nil {
			return nil, err
		}
		out = append(out, obj)
	}
	return out, nil
}

// New builds the ExternalSecret that makes Secret name from s. from is the
// spec path of s, for provenance. The Secret is owned by the
// ExternalSecret (creationPolicy Owner), so pruning the ExternalSecret
// removes it. Fields the CRD would default are set, so that the object in
// git is the object in the cluster.
func New(name string, s spec.ExternalSecret, labels map[string]string, from string) (generators.Object, error) {
	trace := &provenance.Trace{}
	interval, err := time.ParseDuration(s.RefreshInterval)
	if err != nil {
		return generators.Object{}, fmt.Errorf("%s.refreshInterval: %w", from, err)
	}
	es := &esv1.ExternalSecret{
		Metadata: &metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: &esv1.ExternalSecretSpec{
			// metav1.Duration's form, as the operator's Go type writes it.
			RefreshInterval: new(interval.String()),
			Target: &esv1.ExternalSecretSpecTarget{
				Name:           new(name),
				CreationPolicy: new(esv1.ExternalSecretSpecTargetCreationPolicyOwner),
				DeletionPolicy: new(esv1.ExternalSecretSpecTargetDeletionPolicyRetain),
			},
		},
	}
	trace.Record("metadata.name", from)
	trace.Record("spec.target", from)
	trace.Record("spec.refreshInterval", from+".refreshInterval")
	if st := s.Store; st != nil {
		ref := &esv1.ExternalSecretSpecSecretStoreRef{Name: optional(st.Name)}
		if st.Kind != "" {
			ref.Kind = new(esv1.ExternalSecretSpecSecretStoreRefKind(st.Kind))
		}
		es.Spec.SecretStoreRef = ref
		trace.Record("spec.secretStoreRef", from+".store")
	}
	for _, key := range slices.Sorted(maps.Keys(s.Data)) {
		r := s.Data[key]
		trace.Record(fmt.Sprintf("spec.data[%d]", len(es.Spec.Data)), from+".data."+key)
		es.Spec.Data = append(es.Spec.Data, esv1.ExternalSecretSpecDataElem{SecretKey: key, RemoteRef: remoteRef(r.Key, r.Property, r.Version)})
	}
	if x := s.Extract; x != nil {
		ref := remoteRef(x.Key, "", x.Version)
		es.Spec.DataFrom = []esv1.ExternalSecretSpecDataFromElem{{Extract: &esv1.ExternalSecretSpecDataFromElemExtract{
			Key: ref.Key, Version: ref.Version,
			MetadataPolicy:     new(esv1.ExternalSecretSpecDataFromElemExtractMetadataPolicyNone),
			ConversionStrategy: new(esv1.ExternalSecretSpecDataFromElemExtractConversionStrategyDefault),
			DecodingStrategy:   new(esv1.ExternalSecretSpecDataFromElemExtractDecodingStrategyNone),
		}}}
		trace.Record("spec.dataFrom[0]", from+".extract")
	}
	return generators.New(es, GVK, trace)
}

// remoteRef is a remote reference with the policies the CRD would default
// set, so that the object in git is the object in the cluster.
func remoteRef(key, property, version string) esv1.ExternalSecretSpecDataElemRemoteRef {
	return esv1.ExternalSecretSpecDataElemRemoteRef{
		Key: key, Property: optional(property), Version: optional(version),
		MetadataPolicy:     new(esv1.ExternalSecretSpecDataElemRemoteRefMetadataPolicyNone),
		ConversionStrategy: new(esv1.ExternalSecretSpecDataElemRemoteRefConversionStrategyDefault),
		DecodingStrategy:   new(esv1.ExternalSecretSpecDataElemRemoteRefDecodingStrategyNone),
	}
}

// optional is nil for "", as the operator's Go type omits an empty string.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
