//go:build tools

// Package tools pins the Kubernetes commands that tests/e2e runs
// (kube-apiserver and kubectl) so that go.mod/go.sum track their dependencies.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
