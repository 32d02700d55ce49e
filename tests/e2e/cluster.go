//go:build e2e

// Package e2e tests dmls against a real kube-apiserver and a real Argo CD,
// both started as local processes by tests/e2e/cluster.sh.
package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

// Context is the kubeconfig context that cluster.sh writes. Connect refuses
// any other, so that a KUBECONFIG left pointing at a real cluster is never used.
const Context = "dmls-e2e"

// FieldManager is the field manager of every write the tests make.
const FieldManager = "dmls-e2e"

// Cluster is a connection to the cluster started by cluster.sh.
type Cluster struct {
	Config  *rest.Config
	Dynamic dynamic.Interface
	mapper  *restmapper.DeferredDiscoveryRESTMapper
}

// Connect connects to the cluster named by $KUBECONFIG, which must be the
// one written by `cluster.sh up` (see `cluster.sh env`).
func Connect() (*Cluster, error) {
	path := os.Getenv("KUBECONFIG")
	if path == "" {
		return nil, errors.New("KUBECONFIG is not set: run `make e2e-up` and `eval \"$(tests/e2e/cluster.sh env)\"`")
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: path}, &clientcmd.ConfigOverrides{})
	raw, err := cc.RawConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", path, err)
	}
	if raw.CurrentContext != Context {
		return nil, fmt.Errorf("kubeconfig %s: current context is %q, want %q (the cluster of tests/e2e/cluster.sh)", path, raw.CurrentContext, Context)
	}
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", path, err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	return &Cluster{
		Config:  cfg,
		Dynamic: dyn,
		mapper:  restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc)),
	}, nil
}

var defaultCluster = sync.OnceValues(Connect)

// Default returns the cluster named by $KUBECONFIG, connecting once per test binary.
func Default() (*Cluster, error) { return defaultCluster() }

// Mapping resolves gvk to its resource, refreshing discovery once if the
// kind is unknown (a CRD may have been installed since the last lookup).
func (c *Cluster) Mapping(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		c.mapper.Reset()
		m, err = c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	return m, err
}

// Resource returns the dynamic client for obj's kind, scoped to obj's
// namespace when the kind is namespaced ("default" if obj has none).
func (c *Cluster) Resource(obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	m, err := c.Mapping(obj.GroupVersionKind())
	if err != nil {
		return nil, err
	}
	if m.Scope.Name() != meta.RESTScopeNameNamespace {
		return c.Dynamic.Resource(m.Resource), nil
	}
	ns := obj.GetNamespace()
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	return c.Dynamic.Resource(m.Resource).Namespace(ns), nil
}

// Rejection is one object that the API server refused.
type Rejection struct {
	Kind, Namespace, Name string
	// Reason is the API status reason, such as Invalid or NotFound; empty
	// when the request never reached a handler (for example an unknown kind).
	Reason metav1.StatusReason
	// Message is the server's explanation, with every invalid field.
	Message string
}

func (r Rejection) String() string {
	id := r.Kind + "/" + r.Name
	if r.Namespace != "" {
		id = r.Kind + "/" + r.Namespace + "/" + r.Name
	}
	if r.Reason != "" {
		return fmt.Sprintf("%s: %s: %s", id, r.Reason, r.Message)
	}
	return id + ": " + r.Message
}

// DryRunError lists every object of a DryRunAll call that the server rejected.
type DryRunError struct {
	Rejected []Rejection
}

func (e *DryRunError) Error() string {
	lines := make([]string, 0, len(e.Rejected)+1)
	lines = append(lines, fmt.Sprintf("%d object(s) rejected by the API server:", len(e.Rejected)))
	for _, r := range e.Rejected {
		lines = append(lines, "  "+r.String())
	}
	return strings.Join(lines, "\n")
}

// DryRunAll submits every object to the cluster named by $KUBECONFIG as a
// server-side dry run; see (*Cluster).DryRunAll.
func DryRunAll(ctx context.Context, objs []*unstructured.Unstructured) error {
	c, err := Default()
	if err != nil {
		return err
	}
	return c.DryRunAll(ctx, objs)
}

// DryRunAll submits every object as a server-side dry-run create, with
// strict field validation, so the API server runs its full validation (CRD
// schemas included) and admission without storing anything. An object that
// already exists is dry-run applied instead. It returns a *DryRunError naming
// each rejected object (kind/namespace/name) with the server's reason, or nil.
//
// One exception to "nothing is stored": a Namespace among objs that does not
// exist yet is created for real first, because a dry run of the objects in it
// would otherwise fail with NotFound. The cluster is a throwaway one.
func (c *Cluster) DryRunAll(ctx context.Context, objs []*unstructured.Unstructured) error {
	var rejected []Rejection
	reject := func(obj *unstructured.Unstructured, err error) {
		r := Rejection{Kind: obj.GetKind(), Namespace: obj.GetNamespace(), Name: obj.GetName(), Message: err.Error()}
		var status apierrors.APIStatus
		if errors.As(err, &status) {
			r.Reason = status.Status().Reason
		}
		rejected = append(rejected, r)
	}
	for _, obj := range objs {
		if obj.GroupVersionKind() == (schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}) {
			if err := c.ensureNamespace(ctx, obj); err != nil {
				reject(obj, err)
			}
		}
	}
	for _, obj := range objs {
		if err := c.dryRun(ctx, obj); err != nil {
			reject(obj, err)
		}
	}
	if len(rejected) > 0 {
		return &DryRunError{Rejected: rejected}
	}
	return nil
}

func (c *Cluster) dryRun(ctx context.Context, obj *unstructured.Unstructured) error {
	res, err := c.Resource(obj)
	if err != nil {
		return err
	}
	_, err = res.Create(ctx, obj, metav1.CreateOptions{
		DryRun:          []string{metav1.DryRunAll},
		FieldManager:    FieldManager,
		FieldValidation: metav1.FieldValidationStrict,
	})
	if apierrors.IsAlreadyExists(err) {
		_, err = res.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{
			DryRun:       []string{metav1.DryRunAll},
			FieldManager: FieldManager,
			Force:        true,
		})
	}
	return err
}

func (c *Cluster) ensureNamespace(ctx context.Context, obj *unstructured.Unstructured) error {
	res, err := c.Resource(obj)
	if err != nil {
		return err
	}
	if _, err := res.Get(ctx, obj.GetName(), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		return err
	}
	_, err = res.Create(ctx, obj, metav1.CreateOptions{FieldManager: FieldManager, FieldValidation: metav1.FieldValidationStrict})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}
