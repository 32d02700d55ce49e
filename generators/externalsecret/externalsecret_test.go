package externalsecret

import (
	"bytes"
	"context"
	"testing"

	esv1beta1 "github.com/external-secrets/external-secrets/apis/externalsecrets/v1beta1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/dmls-project/dmls/internal/golden"
	"github.com/dmls-project/dmls/internal/spec"
)

func app() *spec.App {
	return &spec.App{Name: "resnet", Team: "vision", Secrets: map[string]spec.ExternalSecret{
		"resnet-db": {
			Data: map[string]spec.RemoteRef{
				"username": {Key: "ml/resnet/db", Property: "username"},
				"password": {Key: "ml/resnet/db", Property: "password", Version: "3"},
			},
			RefreshInterval: "15m",
			Store:           &spec.SecretStoreRef{Name: "vault", Kind: "ClusterSecretStore"},
		},
		"resnet-all": {
			Extract:         &spec.RemoteExtract{Key: "ml/resnet/all"},
			RefreshInterval: "1h",
			Store:           &spec.SecretStoreRef{Name: "team-store", Kind: "SecretStore"},
		},
	}}
}

func TestGolden(t *testing.T) {
	objs, err := Generate(app(), &spec.Platform{Name: "ml"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, o := range objs {
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		buf.WriteString("---\n")
		buf.Write(b)
	}
	golden.Check(t, "testdata/externalsecrets.golden.yaml", buf.Bytes())
}

// TestUpstreamValidation runs the External Secrets Operator's own webhook
// validation on what dmls generates.
func TestUpstreamValidation(t *testing.T) {
	objs, err := Generate(app(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 {
		t.Fatalf("got %d objects, want 2", len(objs))
	}
	for _, o := range objs {
		var es esv1beta1.ExternalSecret
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &es); err != nil {
			t.Fatal(err)
		}
		if _, err := (&esv1beta1.ExternalSecretValidator{}).ValidateCreate(context.Background(), &es); err != nil {
			t.Errorf("%s: the operator's validation refuses it: %v", o.GetName(), err)
		}
		if es.Spec.Target.Name != o.GetName() || es.Spec.Target.CreationPolicy != esv1beta1.CreatePolicyOwner {
			t.Errorf("%s: target %+v, want the Secret of the same name, owned", o.GetName(), es.Spec.Target)
		}
	}
	// And the validator can fail: no data at all is refused.
	empty := esv1beta1.ExternalSecret{}
	if _, err := (&esv1beta1.ExternalSecretValidator{}).ValidateCreate(context.Background(), &empty); err == nil {
		t.Error("the validator accepts an ExternalSecret without data")
	}
}

func TestProvenance(t *testing.T) {
	objs, err := Generate(app(), nil)
	if err != nil {
		t.Fatal(err)
	}
	db := objs[1] // resnet-all sorts first
	for field, want := range map[string]string{
		"spec.data[0].remoteRef.key": "secrets.resnet-db.data.password",
		"spec.secretStoreRef.name":   "secrets.resnet-db.store",
		"spec.refreshInterval":       "secrets.resnet-db.refreshInterval",
		"metadata.name":              "secrets.resnet-db",
	} {
		if got, _ := db.Trace.Spec(field); got != want {
			t.Errorf("%s traces to %q, want %q", field, got, want)
		}
	}
	if got, _ := objs[0].Trace.Spec("spec.dataFrom[0].extract.key"); got != "secrets.resnet-all.extract" {
		t.Errorf("dataFrom traces to %q", got)
	}
}
