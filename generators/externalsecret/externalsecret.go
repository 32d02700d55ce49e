// Package externalsecret generates External Secrets Operator ExternalSecrets
// from the secrets that apps and the platform declare, so that the values
// stay in the external store and no Secret is ever written to git.
package externalsecret

import (
	"fmt"
	"time"

	esv1beta1 "github.com/external-secrets/external-secrets/apis/externalsecrets/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/internal/spec"
)

// Component is the app.kubernetes.io/component label of ExternalSecrets.
const Component = "secrets"

// GVK is the kind and version dmls generates.
var GVK = esv1beta1.SchemeGroupVersion.WithKind(esv1beta1.ExtSecretKind)

var _ generators.Func = Generate

// Generate returns one ExternalSecret per secret the app declares, in name
// order. An app without secrets gives nothing.
func Generate(app *spec.App, p *spec.Platform) ([]generators.Object, error) {
	if len(app.Secrets) == 0 {
		return nil, nil
	}
	labels := generators.Labels(app, p, Component)
	var out []generators.Object
	for _, name := range generators.SortedKeys(app.Secrets) {
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
	es := &esv1beta1.ExternalSecret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: esv1beta1.ExternalSecretSpec{
			RefreshInterval: &metav1.Duration{Duration: interval},
			Target: esv1beta1.ExternalSecretTarget{
				Name:           name,
				CreationPolicy: esv1beta1.CreatePolicyOwner,
				DeletionPolicy: esv1beta1.DeletionPolicyRetain,
			},
		},
	}
	trace.Record("metadata.name", from)
	trace.Record("spec.target", from)
	trace.Record("spec.refreshInterval", from+".refreshInterval")
	if st := s.Store; st != nil {
		es.Spec.SecretStoreRef = esv1beta1.SecretStoreRef{Name: st.Name, Kind: st.Kind}
		trace.Record("spec.secretStoreRef", from+".store")
	}
	for _, key := range generators.SortedKeys(s.Data) {
		r := s.Data[key]
		trace.Record(fmt.Sprintf("spec.data[%d]", len(es.Spec.Data)), from+".data."+key)
		es.Spec.Data = append(es.Spec.Data, esv1beta1.ExternalSecretData{SecretKey: key, RemoteRef: remoteRef(r.Key, r.Property, r.Version)})
	}
	if x := s.Extract; x != nil {
		ref := remoteRef(x.Key, "", x.Version)
		es.Spec.DataFrom = []esv1beta1.ExternalSecretDataFromRemoteRef{{Extract: &ref}}
		trace.Record("spec.dataFrom[0]", from+".extract")
	}
	return generators.New(es, GVK, trace)
}

func remoteRef(key, property, version string) esv1beta1.ExternalSecretDataRemoteRef {
	return esv1beta1.ExternalSecretDataRemoteRef{
		Key: key, Property: property, Version: version,
		MetadataPolicy:     esv1beta1.ExternalSecretMetadataPolicyNone,
		ConversionStrategy: esv1beta1.ExternalSecretConversionDefault,
		DecodingStrategy:   esv1beta1.ExternalSecretDecodeNone,
	}
}
