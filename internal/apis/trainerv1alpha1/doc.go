// Package trainerv1alpha1 holds Kubeflow Trainer v2's TrainJob types
// (trainer.kubeflow.org/v1alpha1), generated from Trainer v2.3.0's CRD by
// internal/crdgen (`make generate-types`); only the fields dmls writes,
// imports or checks. Trainer's own Go API cannot be linked with dmls's
// Kubernetes modules (its generated OpenAPI builds only on k8s.io 0.36).
package trainerv1alpha1
