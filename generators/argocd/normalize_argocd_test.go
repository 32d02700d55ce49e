package argocd

import (
	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"github.com/argoproj/argo-cd/v3/util/argo/normalizers"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// ignoreNormalize removes the ignored fields from u with Argo CD's own
// normalizer.
func ignoreNormalize(ignore []v1alpha1.ResourceIgnoreDifferences, u *unstructured.Unstructured) error {
	n, err := normalizers.NewIgnoreNormalizer(ignore, nil, normalizers.IgnoreNormalizerOpts{})
	if err != nil {
		return err
	}
	return n.Normalize(u)
}
