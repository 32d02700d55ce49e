package argocd

// kueueGroup is the API group of Kueue's objects.
const kueueGroup = "kueue.x-k8s.io"
