package argocd

import (
	"encoding/json"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"github.com/argoproj/argo-cd/v3/util/argo/normalizers"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/dmls-project/dmls/internal/apis/argocdv1alpha1"
)

// ignoreNormalize removes the ignored fields from u with Argo CD's own
// normalizer, which reads ignore as Argo CD does: from the Application's
// JSON, into its own types.
func ignoreNormalize(ignore []argocdv1alpha1.ResourceIgnoreDifferences, u *unstructured.Unstructured) error {
	b, err := json.Marshal(ignore)
	if err != nil {
		return err
	}
	var theirs []v1alpha1.ResourceIgnoreDifferences
	if err := json.Unmarshal(b, &theirs); err != nil {
		return err
	}
	n, err := normalizers.NewIgnoreNormalizer(theirs, nil, normalizers.IgnoreNormalizerOpts{})
	if err != nil {
		return err
	}
	return n.Normalize(u)
}
