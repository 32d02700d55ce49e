// Package platform generates the guard rails of every team namespace in
// one environment: the namespace with Pod Security admission labels, its
// quota and default limits, network policies, service accounts and RBAC.
package platform

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	kubeflowv1 "github.com/kubeflow/training-operator/pkg/apis/kubeflow.org/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/generators/externalsecret"
	"github.com/dmls-project/dmls/internal/memo"
	"github.com/dmls-project/dmls/internal/provenance"
	"github.com/dmls-project/dmls/internal/spec"
)

// Names of the objects in each team namespace.
const (
	QuotaName      = "team-quota"
	LimitRangeName = "team-limits"
	RoleName       = "dmls-team-edit"

	PolicyDenyIngress    = "default-deny-ingress"
	PolicyServingIngress = "allow-serving-ingress"
	PolicyDNSEgress      = "allow-dns-egress"
)

// TFJobPolicyName names the NetworkPolicy that lets the pods of one TFJob
// talk to each other.
func TFJobPolicyName(job string) string { return "tfjob-" + job }

// TrainJobPolicyName names the NetworkPolicy that lets the pods of one
// TrainJob (of its JobSet, which Trainer names after it) talk to each
// other.
func TrainJobPolicyName(job string) string { return "trainjob-" + job }

// JobSetNameLabel is the label JobSet puts on every pod of a JobSet.
const JobSetNameLabel = "jobset.sigs.k8s.io/jobset-name"

// Pod Security admission labels (pod-security.kubernetes.io/...).
const (
	psaEnforce        = "pod-security.kubernetes.io/enforce"
	psaEnforceVersion = "pod-security.kubernetes.io/enforce-version"
	psaWarn           = "pod-security.kubernetes.io/warn"
	psaAudit          = "pod-security.kubernetes.io/audit"
	psaRestricted     = "restricted"
	psaLatest         = "latest"
)

// DefaultIngressNamespaces admit traffic to model services when the
// platform names no serving ingress component: Knative's activator and
// the Kourier gateway.
var DefaultIngressNamespaces = []string{"knative-serving", "kourier-system"}

// ManagedKind is a kind dmls manages in a team namespace and its API
// resource, for the team's Role.
type ManagedKind struct {
	metav1.GroupKind
	Resource string
}

// Input is what GuardRails needs of one environment.
type Input struct {
	Platform *spec.Platform
	Env      *spec.Environment
	// Jobs are the TFJob names of each team in Env, and TrainJobs the
	// TrainJob names, each of which gets a NetworkPolicy between its pods.
	Jobs, TrainJobs map[string][]string
	// ClusterScoped asks for the cluster-scoped objects of the
	// environment's cluster too (Kueue's ResourceFlavors and
	// WorkloadPriorityClasses): the first environment on each cluster
	// holds them.
	ClusterScoped bool
	// ServingMax is what each team's model services take here at their
	// max scale, per quota resource (cpu, memory, gpu). Under Kueue the
	// ResourceQuota holds it beside the ClusterQueue's quota.
	ServingMax map[string]map[string]resource.Quantity
	// Kinds are the kinds dmls manages in team namespaces (argocd.TeamKinds
	// with their resources); the team's group may edit them.
	Kinds []ManagedKind
	// Memo, when set, keeps each job's NetworkPolicy by everything it is
	// made of, so that a long-running process with thousands of jobs
	// makes only the new ones (dmls serve; the objects it holds are
	// shared and must not be changed). Finish, when set, is applied to
	// each object GuardRails makes, before the memo keeps it, and not to
	// those the memo gives back (argocd.Annotate: annotated once).
	Memo   *memo.Cache[generators.Object]
	Finish func(generators.Object)
}

// GuardRails returns, for one environment and every team with a
// namespace there (in team order): Namespace, ResourceQuota (when the
// team or the environment sets one), LimitRange, NetworkPolicies,
// ServiceAccounts, Role and RoleBinding.
func GuardRails(in Input) ([]generators.Object, error) {
	p, env := in.Platform, in.Env
	if p == nil || env == nil {
		return nil, fmt.Errorf("guard rails: no platform or environment")
	}
	ingress := IngressNamespaces(p)
	var out []generators.Object
	finish := func(o generators.Object) generators.Object {
		if in.Finish != nil {
			in.Finish(o)
		}
		return o
	}
	add := func(obj runtime.Object, gvk schema.GroupVersionKind, tr *provenance.Trace) error {
		o, err := generators.New(obj, gvk, tr)
		if err != nil {
			return err
		}
		out = append(out, finish(o))
		return nil
	}
	for _, team := range slices.Sorted(maps.Keys(env.Namespaces)) {
		ns := env.Namespaces[team]
		t, ok := p.Teams[team]
		if !ok {
			return nil, fmt.Errorf("environment %s namespaces.%s: unknown team", env.Name, team)
		}
		labels := map[string]string{
			generators.LabelManagedBy: generators.ManagedBy,
			generators.LabelPartOf:    p.Name,
			generators.LabelTeam:      team,
			generators.LabelEnv:       env.Name,
		}
		meta := func(name string) metav1.ObjectMeta {
			return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}
		}

		nsLabels := map[string]string{}
		for k, v := range labels {
			nsLabels[k] = v
		}
		level := env.PodSecurity
		if level == "" {
			level = "baseline"
		}
		nsLabels[psaEnforce] = level
		nsLabels[psaEnforceVersion] = psaLatest
		nsLabels[psaWarn] = psaRestricted
		nsLabels[psaAudit] = psaRestricted
		tr := &provenance.Trace{}
		tr.Record("metadata.name", "namespaces."+team)
		tr.Record("metadata.labels."+psaEnforce, "podSecurity")
		if err := add(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: nsLabels}},
			corev1.SchemeGroupVersion.WithKind("Namespace"), tr); err != nil {
			return nil, err
		}
		for _, name := range slices.Sorted(maps.Keys(p.Secrets)) {
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
			out = append(out, finish(obj))
		}

		if q := spec.TeamQuota(t, env); q != nil {
			hard, err := quotaHard(q)
			if err != nil {
				return nil, fmt.Errorf("team %s in environment %s: %w", team, env.Name, err)
			}
			qtr := &provenance.Trace{}
			qtr.Record("spec.hard", "teams."+team+".quota")
			if env.Scheduler == spec.SchedulerKueue {
				kueueHard(hard, t, in.ServingMax[team])
				qtr.Record("spec.hard", "teams."+team+".queue")
			}
			if err := add(&corev1.ResourceQuota{ObjectMeta: meta(QuotaName), Spec: corev1.ResourceQuotaSpec{Hard: hard}},
				corev1.SchemeGroupVersion.WithKind("ResourceQuota"), qtr); err != nil {
				return nil, err
			}
		}

		lr, err := limitRange(env.Limits)
		if err != nil {
			return nil, fmt.Errorf("environment %s limits: %w", env.Name, err)
		}
		ltr := &provenance.Trace{}
		ltr.Record("spec.limits", "limits")
		if err := add(&corev1.LimitRange{ObjectMeta: meta(LimitRangeName), Spec: lr},
			corev1.SchemeGroupVersion.WithKind("LimitRange"), ltr); err != nil {
			return nil, err
		}

		for _, np := range policies(ingress) {
			np.ObjectMeta = meta(np.Name)
			if err := add(np, networkingv1.SchemeGroupVersion.WithKind("NetworkPolicy"), nil); err != nil {
				return nil, err
			}
		}
		for _, j := range jobsOf(in.Jobs[team], in.TrainJobs[team]) {
			// A job's policy is made of the job, its namespace and the
			// labels: the memo's key.
			key := strings.Join([]string{ns, p.Name, team, env.Name, j.label, j.name}, "\x00")
			if o, ok := in.Memo.Get(key); ok {
				out = append(out, o)
				continue
			}
			np := jobPolicy(j)
			np.ObjectMeta = meta(np.Name)
			o, err := generators.New(np, networkingv1.SchemeGroupVersion.WithKind("NetworkPolicy"), nil)
			if err != nil {
				return nil, err
			}
			in.Memo.Put(key, finish(o))
			out = append(out, o)
		}

		for _, sa := range []string{generators.ServingServiceAccount, generators.TrainingServiceAccount} {
			if err := add(&corev1.ServiceAccount{ObjectMeta: meta(sa), AutomountServiceAccountToken: new(false)},
				corev1.SchemeGroupVersion.WithKind("ServiceAccount"), nil); err != nil {
				return nil, err
			}
		}

		if err := add(&rbacv1.Role{ObjectMeta: meta(RoleName), Rules: rules(in.Kinds)},
			rbacv1.SchemeGroupVersion.WithKind("Role"), nil); err != nil {
			return nil, err
		}
		btr := &provenance.Trace{}
		btr.Record("subjects[0].name", "teams."+team+".group")
		if err := add(&rbacv1.RoleBinding{
			ObjectMeta: meta(RoleName),
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: t.Group}},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: RoleName},
		}, rbacv1.SchemeGroupVersion.WithKind("RoleBinding"), btr); err != nil {
			return nil, err
		}
	}
	queues, err := kueueObjects(in)
	if err != nil {
		return nil, err
	}
	for _, q := range queues {
		out = append(out, finish(q))
	}
	return out, nil
}

// IngressNamespaces are the namespaces whose pods may send requests to
// model services: those of the components marked servingIngress, or
// DefaultIngressNamespaces when there are none.
func IngressNamespaces(p *spec.Platform) []string {
	seen := map[string]bool{}
	var out []string
	for _, name := range slices.Sorted(maps.Keys(p.Components)) {
		c := p.Components[name]
		if c.ServingIngress && !seen[c.Namespace] {
			seen[c.Namespace] = true
			out = append(out, c.Namespace)
		}
	}
	if len(out) == 0 {
		return DefaultIngressNamespaces
	}
	sort.Strings(out)
	return out
}

func quotaHard(q *spec.Quota) (corev1.ResourceList, error) {
	hard := corev1.ResourceList{}
	set := func(name corev1.ResourceName, v string) error {
		if v == "" {
			return nil
		}
		qty, err := resource.ParseQuantity(v)
		if err != nil {
			return fmt.Errorf("quota %s: %w", name, err)
		}
		hard[name] = qty
		return nil
	}
	itoa := func(p *int) string {
		if p == nil {
			return ""
		}
		return strconv.Itoa(*p)
	}
	for _, f := range []struct {
		name corev1.ResourceName
		v    string
	}{
		{corev1.ResourceRequestsCPU, q.CPU},
		{corev1.ResourceRequestsMemory, q.Memory},
		{corev1.ResourceName("requests." + generators.GPUResource), itoa(q.GPU)},
		{corev1.ResourcePods, itoa(q.Pods)},
		{corev1.ResourcePersistentVolumeClaims, itoa(q.PVCs)},
		{corev1.ResourceRequestsStorage, q.Storage},
	} {
		if err := set(f.name, f.v); err != nil {
			return nil, err
		}
	}
	return hard, nil
}

func limitRange(l spec.EnvLimits) (corev1.LimitRangeSpec, error) {
	list := func(c spec.CPUMemory) (corev1.ResourceList, error) {
		out := corev1.ResourceList{}
		for name, v := range map[corev1.ResourceName]string{corev1.ResourceCPU: c.CPU, corev1.ResourceMemory: c.Memory} {
			if v == "" {
				continue
			}
			q, err := resource.ParseQuantity(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			out[name] = q
		}
		return out, nil
	}
	req, err := list(l.DefaultRequest)
	if err != nil {
		return corev1.LimitRangeSpec{}, err
	}
	def, err := list(l.Default)
	if err != nil {
		return corev1.LimitRangeSpec{}, err
	}
	return corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
		Type: corev1.LimitTypeContainer, Default: def, DefaultRequest: req,
	}}}, nil
}

// policies are the NetworkPolicies of one team namespace that no job
// makes: deny all ingress, then allow requests from the serving ingress
// to model services, and DNS lookups. allow-dns-egress selects every pod,
// so egress is denied too except to DNS and a job's own pods (jobPolicy).
func policies(ingress []string) []*networkingv1.NetworkPolicy {
	ingressNS := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
		Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpIn, Values: ingress,
	}}}
	udp, tcp := corev1.ProtocolUDP, corev1.ProtocolTCP
	dns := intstr.FromInt32(53)
	out := []*networkingv1.NetworkPolicy{
		{
			ObjectMeta: metav1.ObjectMeta{Name: PolicyDenyIngress},
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Name: PolicyServingIngress},
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{generators.LabelComponent: generators.ComponentServing}},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: ingressNS}}}},
			},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Name: PolicyDNSEgress},
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
				Egress: []networkingv1.NetworkPolicyEgressRule{{
					To: []networkingv1.NetworkPolicyPeer{{
						NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: "kube-system"}},
						PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}},
					}},
					Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: &dns}, {Protocol: &tcp, Port: &dns}},
				}},
			},
		},
	}
	return out
}

// job is a TFJob or TrainJob whose pods may reach each other.
type job struct{ name, policy, label string }

// jobsOf returns the jobs of one team namespace, by policy name.
func jobsOf(jobs, trainJobs []string) []job {
	var all []job
	for _, j := range jobs {
		all = append(all, job{j, TFJobPolicyName(j), kubeflowv1.JobNameLabel})
	}
	for _, j := range trainJobs {
		all = append(all, job{j, TrainJobPolicyName(j), JobSetNameLabel})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].policy < all[j].policy })
	return all
}

// jobPolicy lets the pods of job j reach each other, and nothing else.
func jobPolicy(j job) *networkingv1.NetworkPolicy {
	sel := metav1.LabelSelector{MatchLabels: map[string]string{j.label: j.name}}
	peer := []networkingv1.NetworkPolicyPeer{{PodSelector: &sel}}
	return &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: j.policy},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: sel,
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: peer}},
			Egress:      []networkingv1.NetworkPolicyEgressRule{{To: peer}},
		},
	}
}

// editVerbs are what the team's group may do with the kinds dmls manages.
var editVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete"}

// rules give edit rights on kinds, one rule per API group, in group order.
func rules(kinds []ManagedKind) []rbacv1.PolicyRule {
	byGroup := map[string][]string{}
	for _, k := range kinds {
		byGroup[k.Group] = append(byGroup[k.Group], k.Resource)
	}
	var out []rbacv1.PolicyRule
	for _, g := range slices.Sorted(maps.Keys(byGroup)) {
		res := byGroup[g]
		sort.Strings(res)
		out = append(out, rbacv1.PolicyRule{APIGroups: []string{g}, Resources: res, Verbs: editVerbs})
	}
	return out
}

// Resource returns the API resource of a kind dmls manages: its lower-case
// plural. The kinds dmls generates all form plurals with "s".
func Resource(kind string) string { return strings.ToLower(kind) + "s" }
