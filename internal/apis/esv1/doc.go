// Package esv1 holds the External Secrets Operator's ExternalSecret types
// (external-secrets.io/v1), generated from the operator's v1.3.2 CRD by
// internal/crdgen (`make generate-types`); only the fields dmls writes.
package esv1
