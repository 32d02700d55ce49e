//go:build tools

// Package tools pins the Argo CD multi-call binary (github.com/argoproj/argo-cd/v3/cmd)
// that tests/e2e runs as argocd-repo-server, argocd-application-controller and
// argocd-server.
package tools

import (
	_ "github.com/argoproj/argo-cd/v3/cmd"
)
