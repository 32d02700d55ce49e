// Package kopsv1alpha2 holds the part of kops v1.33.1's v1alpha2 API that
// dmls writes: the Cluster and InstanceGroup types (kops.k8s.io/v1alpha2)
// with only the fields dmls sets. Every field keeps upstream's Go name and
// JSON tag, so that an object serialises as kops's own type would
// (TestFieldsAgreeWithKops holds them to it; generators/kops's tests hold
// the manifests to kops's own decoding and validation).
//
// kops's own API package is not linked: it imports kops's virtual file
// system, and with it the AWS, Google Cloud, Azure, OpenStack, Scaleway
// and Spotinst SDKs.
package kopsv1alpha2
