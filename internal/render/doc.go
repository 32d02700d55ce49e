// Package render renders what dmls generates: an app in its environments
// and the platform's files, directly from the built objects or through
// kustomize in-process (internal/kbuild), for dmls render, the preview and
// the cache alike.
package render
