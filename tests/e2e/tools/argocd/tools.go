//go:build tools

// Package tools pins the Argo CD multi-call binary (github.com/argoproj/argo-cd/v2/cmd)
// that tests/e2e runs as argocd-repo-server and argocd-application-controller.
package tools

import (
	_ "github.com/argoproj/argo-cd/v2/cmd"
)
