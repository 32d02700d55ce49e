package pipeline

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// LeaseResource is coordination.k8s.io/v1 leases.
var LeaseResource = schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}

// DefaultLeaseDuration is how long a leader holds the lease without
// renewing it; a replica that stops renewing (killed) is replaced after it.
const DefaultLeaseDuration = 30 * time.Second

// leaseTime is the format of a Lease's MicroTime fields.
const leaseTime = "2006-01-02T15:04:05.000000Z07:00"

// Lease is a Kubernetes Lease that elects one leader: Acquire takes it
// when it is free or expired, and renews it while held. Every write is a
// compare-and-swap on the object's resourceVersion, so two replicas never
// both hold it.
type Lease struct {
	Client    dynamic.Interface
	Namespace string
	Name      string
	// Identity names this replica (its pod name and a random suffix).
	Identity string
	Duration time.Duration
	Now      func() time.Time
}

func (l *Lease) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Lease) duration() time.Duration {
	if l.Duration <= 0 {
		return DefaultLeaseDuration
	}
	return l.Duration
}

// Acquire takes or renews the lease, and reports whether this replica
// holds it.
func (l *Lease) Acquire(ctx context.Context) (bool, error) {
	ri := l.Client.Resource(LeaseResource).Namespace(l.Namespace)
	now := l.now().UTC()
	obj, err := ri.Get(ctx, l.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		obj = &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
			"metadata": map[string]any{"name": l.Name, "namespace": l.Namespace},
		}}
		l.hold(obj, now, true)
		_, err = ri.Create(ctx, obj, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return false, nil // another replica was first
		}
		return err == nil, err
	}
	if err != nil {
		return false, fmt.Errorf("read lease %s/%s: %w", l.Namespace, l.Name, err)
	}
	holder, _, _ := unstructured.NestedString(obj.Object, "spec", "holderIdentity")
	renewed, _, _ := unstructured.NestedString(obj.Object, "spec", "renewTime")
	secs, _, _ := unstructured.NestedInt64(obj.Object, "spec", "leaseDurationSeconds")
	at, perr := time.Parse(leaseTime, renewed)
	expired := perr != nil || holder == "" || now.After(at.Add(time.Duration(secs)*time.Second))
	if holder != l.Identity && !expired {
		return false, nil
	}
	l.hold(obj, now, holder != l.Identity)
	if _, err := ri.Update(ctx, obj, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsConflict(err) {
			return false, nil // another replica wrote it first
		}
		return false, fmt.Errorf("update lease %s/%s: %w", l.Namespace, l.Name, err)
	}
	return true, nil
}

// hold writes this replica into the lease; taken marks a new holder.
func (l *Lease) hold(obj *unstructured.Unstructured, now time.Time, taken bool) {
	spec, _, _ := unstructured.NestedMap(obj.Object, "spec")
	if spec == nil {
		spec = map[string]any{}
	}
	spec["holderIdentity"] = l.Identity
	spec["leaseDurationSeconds"] = int64(l.duration() / time.Second)
	spec["renewTime"] = now.Format(leaseTime)
	if taken {
		spec["acquireTime"] = now.Format(leaseTime)
		n, _ := spec["leaseTransitions"].(int64)
		spec["leaseTransitions"] = n + 1
	}
	obj.Object["spec"] = spec
}

// Release gives the lease up if this replica holds it, so that another
// takes over at once rather than after the lease expires.
func (l *Lease) Release(ctx context.Context) {
	ri := l.Client.Resource(LeaseResource).Namespace(l.Namespace)
	obj, err := ri.Get(ctx, l.Name, metav1.GetOptions{})
	if err != nil {
		return
	}
	if holder, _, _ := unstructured.NestedString(obj.Object, "spec", "holderIdentity"); holder != l.Identity {
		return
	}
	_ = unstructured.SetNestedField(obj.Object, "", "spec", "holderIdentity")
	_, _ = ri.Update(ctx, obj, metav1.UpdateOptions{})
}
