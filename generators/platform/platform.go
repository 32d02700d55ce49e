// Package platform generates the per-environment platform objects every
// team needs: its namespace and resource quota.
package platform

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/generators/externalsecret"
	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/internal/spec"
)

// QuotaName is the name of each team namespace's ResourceQuota.
const QuotaName = "team-quota"

// Namespaces returns, for one environment, a Namespace per team and a
// ResourceQuota for each team that has a quota, and an ExternalSecret per
// platform secret in each team namespace, in team order.
func Namespaces(p *spec.Platform, env *spec.Environment) ([]generators.Object, error) {
	var out []generators.Object
	for _, team := range generators.SortedKeys(env.Namespaces) {
		ns := env.Namespaces[team]
		labels := map[string]string{
			generators.LabelManagedBy: generators.ManagedBy,
			generators.LabelPartOf:    p.Name,
			generators.LabelTeam:      team,
			generators.LabelEnv:       env.Name,
		}
		tr := &provenance.Trace{}
		tr.Record("metadata.name", "namespaces."+team)
		obj, err := generators.New(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels}},
			corev1.SchemeGroupVersion.WithKind("Namespace"), tr)
		if err != nil {
			return nil, err
		}
		out = append(out, obj)
		for _, name := range generators.SortedKeys(p.Secrets) {
			es := p.Secrets[name]
			if es.Store == nil {
				es.Store = env.SecretStore
			}
			if es.Store == nil {
				es.Store = p.SecretStore
			}
			obj, err := externalsecret.New(name, es, labels, "secrets."+name)
			if err != nil {
				return nil, err
			}
			obj.SetNamespace(ns)
			out = append(out, obj)
		}
		q := p.Teams[team].Quota
		if q == nil {
			continue
		}
		hard := corev1.ResourceList{}
		if q.CPU != "" {
			hard[corev1.ResourceRequestsCPU] = resource.MustParse(q.CPU)
		}
		if q.Memory != "" {
			hard[corev1.ResourceRequestsMemory] = resource.MustParse(q.Memory)
		}
		if q.GPU != nil {
			hard["requests."+generators.GPUResource] = resource.MustParse(strconv.Itoa(*q.GPU))
		}
		if q.Pods != nil {
			hard[corev1.ResourcePods] = resource.MustParse(strconv.Itoa(*q.Pods))
		}
		qtr := &provenance.Trace{}
		qtr.Record("spec.hard", "teams."+team+".quota")
		qobj, err := generators.New(&corev1.ResourceQuota{
			ObjectMeta: metav1.ObjectMeta{Name: QuotaName, Namespace: ns, Labels: labels},
			Spec:       corev1.ResourceQuotaSpec{Hard: hard},
		}, corev1.SchemeGroupVersion.WithKind("ResourceQuota"), qtr)
		if err != nil {
			return nil, err
		}
		out = append(out, qobj)
	}
	return out, nil
}
