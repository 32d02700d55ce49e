package status

import (
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// FromApplication reads an Argo CD Application (argoproj.io/v1alpha1). A
// nil obj gives an Application that was not found.
func FromApplication(name, namespace string, obj map[string]any) *Application {
	a := &Application{Name: name, Namespace: namespace}
	if obj == nil {
		return a
	}
	a.Found = true
	a.Sync = str(obj, "status", "sync", "status")
	a.Revision = str(obj, "status", "sync", "revision")
	a.Health = str(obj, "status", "health", "status")
	a.HealthMessage = str(obj, "status", "health", "message")
	if op, ok, _ := unstructured.NestedMap(obj, "status", "operationState"); ok {
		a.Operation = &Operation{
			Phase:      str(op, "phase"),
			Message:    str(op, "message"),
			Revision:   str(op, "syncResult", "revision"),
			StartedAt:  str(op, "startedAt"),
			FinishedAt: str(op, "finishedAt"),
		}
		if a.Operation.Revision == "" {
			a.Operation.Revision = str(op, "operation", "sync", "revision")
		}
	}
	// An operation asked for but not yet picked up by the controller.
	if a.Operation == nil || !a.Operation.running() {
		if _, ok, _ := unstructured.NestedMap(obj, "operation"); ok {
			a.Operation = &Operation{Phase: "Running", Message: "sync requested", Revision: str(obj, "operation", "sync", "revision")}
		}
	}
	a.Conditions = conditions(obj, "status", "conditions")
	return a
}

func (o *Operation) running() bool {
	return o != nil && (o.Phase == "Running" || o.Phase == "Terminating")
}

func (o *Operation) failed() bool {
	return o != nil && (o.Phase == "Failed" || o.Phase == "Error")
}

// FromTFJob reads a Kubeflow TFJob (kubeflow.org/v1) of run run. A nil obj
// gives a TFJob that was not found.
func FromTFJob(name string, run int, obj map[string]any) *Training {
	t := &Training{Name: name, Run: run}
	if obj == nil {
		return t
	}
	t.Found = true
	t.Conditions = conditions(obj, "status", "conditions")
	if rs, ok, _ := unstructured.NestedMap(obj, "status", "replicaStatuses"); ok {
		t.Replicas = map[string]ReplicaCounts{}
		for role, v := range rs {
			m, _ := v.(map[string]any)
			t.Replicas[role] = ReplicaCounts{Active: num(m, "active"), Succeeded: num(m, "succeeded"), Failed: num(m, "failed")}
		}
	}
	t.StartTime = str(obj, "status", "startTime")
	t.CompletionTime = str(obj, "status", "completionTime")
	return t
}

// FromTrainJob reads a Kubeflow Trainer v2 TrainJob
// (trainer.kubeflow.org/v1alpha1) of run run. A nil obj gives a TrainJob
// that was not found.
func FromTrainJob(name string, run int, obj map[string]any) *Training {
	t := &Training{Kind: "TrainJob", Name: name, Run: run}
	if obj == nil {
		return t
	}
	t.Found = true
	t.Conditions = conditions(obj, "status", "conditions")
	t.Suspended, _, _ = unstructured.NestedBool(obj, "spec", "suspend")
	return t
}

// FromWorkload reads Kueue's Workload (kueue.x-k8s.io/v1beta2) of a job.
// Its state comes from its conditions: Finished, then Evicted or
// Preempted (preempted), then Admitted, else pending with QuotaReserved's
// reason.
func FromWorkload(obj map[string]any) *Workload {
	w := &Workload{Name: str(obj, "metadata", "name"), State: WorkloadPending}
	has := map[string]Condition{}
	for _, c := range conditions(obj, "status", "conditions") {
		has[c.Type] = c
	}
	set := func(state string, c Condition) {
		w.State, w.Reason, w.Message = state, c.Reason, c.Message
	}
	switch c := has["Finished"]; {
	case c.Status == "True":
		set(WorkloadFinished, c)
	case has["Evicted"].Status == "True":
		set(WorkloadPreempted, has["Evicted"])
	case has["Preempted"].Status == "True":
		set(WorkloadPreempted, has["Preempted"])
	case has["Admitted"].Status == "True":
		set(WorkloadAdmitted, has["Admitted"])
	default:
		if q, ok := has["QuotaReserved"]; ok {
			w.Reason, w.Message = q.Reason, q.Message
		}
	}
	w.ClusterQueue = str(obj, "status", "admission", "clusterQueue")
	psas, _, _ := unstructured.NestedSlice(obj, "status", "admission", "podSetAssignments")
	seen := map[string]bool{}
	for _, p := range psas {
		m, _ := p.(map[string]any)
		fl, _, _ := unstructured.NestedStringMap(m, "flavors")
		for _, res := range slices.Sorted(maps.Keys(fl)) {
			if f := res + "=" + fl[res]; !seen[f] {
				seen[f] = true
				w.Flavors = append(w.Flavors, f)
			}
		}
	}
	return w
}

// FromKnativeService reads a Knative Service (serving.knative.dev/v1). A
// nil obj gives a Service that was not found.
func FromKnativeService(name string, obj map[string]any) *Service {
	s := &Service{Kind: "Service", Name: name}
	if obj == nil {
		return s
	}
	s.Found = true
	s.ready(obj)
	s.URL = str(obj, "status", "url")
	s.LatestCreatedRevision = str(obj, "status", "latestCreatedRevisionName")
	s.LatestReadyRevision = str(obj, "status", "latestReadyRevisionName")
	s.Traffic = traffic(obj, "status", "traffic")
	return s
}

// FromInferenceService reads a KServe InferenceService
// (serving.kserve.io/v1beta1): its predictor's revisions and traffic. A
// nil obj gives one that was not found.
func FromInferenceService(name string, obj map[string]any) *Service {
	s := &Service{Kind: "InferenceService", Name: name}
	if obj == nil {
		return s
	}
	s.Found = true
	s.ready(obj)
	s.URL = str(obj, "status", "url")
	s.LatestCreatedRevision = str(obj, "status", "components", "predictor", "latestCreatedRevision")
	s.LatestReadyRevision = str(obj, "status", "components", "predictor", "latestReadyRevision")
	s.Traffic = traffic(obj, "status", "components", "predictor", "traffic")
	return s
}

func (s *Service) ready(obj map[string]any) {
	for _, c := range conditions(obj, "status", "conditions") {
		if c.Type == "Ready" {
			s.Ready, s.Reason, s.Message = c.Status, c.Reason, c.Message
		}
	}
	// Status written for an older generation says nothing of this one.
	meta, _ := obj["metadata"].(map[string]any)
	st, _ := obj["status"].(map[string]any)
	if _, ok := st["observedGeneration"]; s.Ready != "" && ok && num(meta, "generation") > num(st, "observedGeneration") {
		s.Ready, s.Reason, s.Message = "Unknown", "NotObserved", "the controller has not yet seen the latest change"
	}
}

func traffic(obj map[string]any, fields ...string) []Traffic {
	list, _, _ := unstructured.NestedSlice(obj, fields...)
	var out []Traffic
	for _, v := range list {
		m, _ := v.(map[string]any)
		lr, _ := m["latestRevision"].(bool)
		out = append(out, Traffic{Revision: str(m, "revisionName"), Tag: str(m, "tag"), Percent: num(m, "percent"), LatestRevision: lr, URL: str(m, "url")})
	}
	return out
}

func conditions(obj map[string]any, fields ...string) []Condition {
	list, _, _ := unstructured.NestedSlice(obj, fields...)
	var out []Condition
	for _, v := range list {
		m, _ := v.(map[string]any)
		c := Condition{Type: str(m, "type"), Status: str(m, "status"), Reason: str(m, "reason"), Message: str(m, "message"), LastTransitionTime: str(m, "lastTransitionTime")}
		if c.Status == "" && c.Message != "" {
			// Argo CD's Application conditions have a type and a message only.
			c.Status = "True"
		}
		out = append(out, c)
	}
	return out
}

// str returns a string field, or "".
func str(obj map[string]any, fields ...string) string {
	var cur any = obj
	for _, f := range fields {
		m, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = m[f]
	}
	s, _ := cur.(string)
	return strings.TrimSpace(s)
}

// num returns an integer field (JSON numbers decode as float64 or int64).
func num(obj map[string]any, field string) int64 {
	switch v := obj[field].(type) {
	case int64:
		return v
	case int:
		return int64(v)
	case float64:
		return int64(v)
	}
	return 0
}
