package components

import (
	"encoding/json"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// MaxAnnotationBytes is the most the annotations of an object may hold,
// keys and values together (apimachinery's TotalAnnotationSizeLimitB).
const MaxAnnotationBytes = 256 * 1024

// LastAppliedAnnotation is where client-side apply keeps the object.
const LastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// LastAppliedBytes is the size of the annotations client-side apply
// would give obj: its own plus the last-applied annotation holding obj as
// JSON, as kubectl encodes it. Above MaxAnnotationBytes, client-side
// apply fails ("metadata.annotations: Too long") and only server-side
// apply works.
func LastAppliedBytes(obj *unstructured.Unstructured) (int, error) {
	b, err := json.Marshal(obj.Object)
	if err != nil {
		return 0, err
	}
	n := len(LastAppliedAnnotation) + len(b)
	for k, v := range obj.GetAnnotations() {
		n += len(k) + len(v)
	}
	return n, nil
}
