// Package kservev1beta1 holds KServe's InferenceService types
// (serving.kserve.io/v1beta1), generated from KServe v0.20.0's CRD by
// internal/crdgen (`make generate-types`); only the fields dmls writes,
// imports or checks. KServe's own Go API cannot be linked with dmls's
// Kubernetes modules (it needs controller-runtime 0.22 and k8s.io 0.34).
package kservev1beta1
