package externalsecret

import (
	"bytes"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/dmls-project/dmls/internal/admission"
	"github.com/dmls-project/dmls/internal/golden"
	"github.com/dmls-project/dmls/internal/spec"
)

func app() *spec.AppSpec {
	return &spec.AppSpec{Name: "resnet", Team: "vision", Secrets: map[string]spec.ExternalSecret{
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

// TestUpstreamSchema checks what dmls generates against the operator's
// own external-secrets.io/v1 CRD (its schema, defaults and CEL rules), as
// the API server would. The operator's Go webhook cannot be linked here
// (its API module is not served), and its v1 webhook only repeats rules
// the CRD holds.
func TestUpstreamSchema(t *testing.T) {
	objs, err := Generate(app(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 {
		t.Fatalf("got %d objects, want 2", len(objs))
	}
	schemas, err := admission.Default()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetAPIVersion() != "external-secrets.io/v1" {
			t.Errorf("%s: apiVersion %s, want external-secrets.io/v1", o.GetName(), o.GetAPIVersion())
		}
		if f := schemas.Check(o.Unstructured); len(f) > 0 {
			t.Errorf("%s: the operator's CRD refuses it: %v", o.GetName(), f)
		}
		if n, _, _ := unstructured.NestedString(o.Object, "spec", "target", "name"); n != o.GetName() {
			t.Errorf("%s: target %q, want the Secret of the same name", o.GetName(), n)
		}
	}
	// And the check can fail: a policy the CRD does not know is refused.
	bad := objs[0].Unstructured.DeepCopy()
	_ = unstructured.SetNestedField(bad.Object, "Sometimes", "spec", "target", "creationPolicy")
	if f := schemas.Check(bad); len(f) == 0 {
		t.Error("the CRD accepts creationPolicy Sometimes")
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
