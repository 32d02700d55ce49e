//go:build tools

// Package tools pins the etcd server (go.etcd.io/etcd/server/v3, whose root
// package is the etcd command) that tests/e2e runs under kube-apiserver.
// Kubernetes 1.37 supports etcd 3.5.24 and later; Debian's etcd-server is 3.4.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
)
