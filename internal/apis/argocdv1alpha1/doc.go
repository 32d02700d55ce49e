// Package argocdv1alpha1 holds the part of Argo CD v3.6.2's API that dmls
// writes: the Application and AppProject types (argoproj.io/v1alpha1) with
// only the fields dmls sets, and the annotation and sync-option names of
// Argo CD's common and gitops-engine's sync/common packages. Every field
// keeps upstream's Go name and JSON tag, so that an object serialises as
// Argo CD's own type would (TestFieldsAgreeWithArgoCD holds them to it).
//
// Argo CD's own API package is not linked: it imports Argo CD's git
// client, and with it the AWS, Google Cloud and Azure SDKs and a gRPC
// stack, which made up much of dmls's binary and of its cold build.
package argocdv1alpha1
