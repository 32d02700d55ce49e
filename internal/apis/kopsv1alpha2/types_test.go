package kopsv1alpha2

import (
	"reflect"
	"testing"

	upstream "k8s.io/kops/pkg/apis/kops/v1alpha2"

	"github.com/dmls-project/dmls/internal/apis/agree"
)

// TestFieldsAgreeWithKops holds the subset to kops's own types: each field
// has upstream's name, JSON tag and type, and no field that kops writes
// when it is zero is missing.
func TestFieldsAgreeWithKops(t *testing.T) {
	for _, c := range []struct{ local, upstream any }{
		{Cluster{}, upstream.Cluster{}},
		{InstanceGroup{}, upstream.InstanceGroup{}},
	} {
		for _, e := range agree.Fields(reflect.TypeOf(c.local), reflect.TypeOf(c.upstream)) {
			t.Error(e)
		}
	}
}

// TestNamesAgreeWithKops holds the group, version and values to kops's
// own.
func TestNamesAgreeWithKops(t *testing.T) {
	for _, c := range []struct{ name, here, there string }{
		{"SchemeGroupVersion", SchemeGroupVersion.String(), upstream.SchemeGroupVersion.String()},
		{"SubnetTypePublic", string(SubnetTypePublic), string(upstream.SubnetTypePublic)},
		{"SubnetTypePrivate", string(SubnetTypePrivate), string(upstream.SubnetTypePrivate)},
		{"SubnetTypeUtility", string(SubnetTypeUtility), string(upstream.SubnetTypeUtility)},
		{"DNSTypePublic", string(DNSTypePublic), string(upstream.DNSTypePublic)},
		{"LoadBalancerTypePublic", string(LoadBalancerTypePublic), string(upstream.LoadBalancerTypePublic)},
		{"LoadBalancerClassNetwork", string(LoadBalancerClassNetwork), string(upstream.LoadBalancerClassNetwork)},
	} {
		if c.here != c.there {
			t.Errorf("%s: %q here, %q in kops", c.name, c.here, c.there)
		}
	}
}
