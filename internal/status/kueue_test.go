package status

import (
	"strings"
	"testing"
)

func wl(conds []map[string]any, admission map[string]any) map[string]any {
	var cs []any
	for _, c := range conds {
		cs = append(cs, c)
	}
	st := map[string]any{"conditions": cs}
	if admission != nil {
		st["admission"] = admission
	}
	return map[string]any{"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "Workload",
		"metadata": map[string]any{"name": "trainjob-llm-r1-3f2a1"}, "status": st}
}

func kcond(typ, status, reason, msg string) map[string]any {
	return map[string]any{"type": typ, "status": status, "reason": reason, "message": msg}
}

// TestWorkloadStates reads Workloads in the states Kueue 0.19 writes, and
// the job state and reason dmls status shows for each.
func TestWorkloadStates(t *testing.T) {
	admitted := map[string]any{"clusterQueue": "research-dev", "podSetAssignments": []any{
		map[string]any{"name": "node", "flavors": map[string]any{"nvidia.com/gpu": "ml-gpu", "cpu": "dmls-default", "memory": "dmls-default"}},
	}}
	tests := []struct {
		name      string
		obj       map[string]any
		suspended bool
		want      string
		state     State
		reason    string
	}{
		{"pending", wl([]map[string]any{kcond("QuotaReserved", "False", "Pending", "couldn't assign flavors to pod set node: insufficient unused quota for nvidia.com/gpu in flavor ml-gpu, 4 more needed")}, nil),
			true, WorkloadPending, Deploying, "is pending in Kueue at position 2 of its queue (Pending): couldn't assign flavors"},
		{"admitted", wl([]map[string]any{kcond("QuotaReserved", "True", "QuotaReserved", "Quota reserved in ClusterQueue research-dev"), kcond("Admitted", "True", "Admitted", "The workload is admitted")}, admitted),
			false, WorkloadAdmitted, Running, "is running"},
		{"preempted", wl([]map[string]any{kcond("Admitted", "False", "NoReservation", ""), kcond("Evicted", "True", "Preempted", "Preempted to accommodate a workload (UID: x) due to prioritization in the ClusterQueue")}, nil),
			true, WorkloadPreempted, Deploying, "is preempted in Kueue at position 2 of its queue (Preempted)"},
		{"finished", wl([]map[string]any{kcond("Admitted", "True", "Admitted", ""), kcond("Finished", "True", "Succeeded", "TrainJob finished successfully")}, admitted),
			false, WorkloadFinished, Running, "is running"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := FromWorkload(tt.obj)
			if w.State != tt.want || w.Name != "trainjob-llm-r1-3f2a1" {
				t.Fatalf("state %q (%+v), want %s", w.State, w, tt.want)
			}
			if tt.want == WorkloadAdmitted && (w.ClusterQueue != "research-dev" || strings.Join(w.Flavors, ",") != "cpu=dmls-default,memory=dmls-default,nvidia.com/gpu=ml-gpu") {
				t.Errorf("admitted on %q %v", w.ClusterQueue, w.Flavors)
			}
			w.Position = new(int32(2))
			job := &Training{Kind: "TrainJob", Name: "llm-r1", Found: true, Suspended: tt.suspended, Workload: w}
			state, reason := trainingState(job)
			if state != tt.state || !strings.Contains(reason, tt.reason) {
				t.Errorf("job %s: %q, want %s with %q", state, reason, tt.state, tt.reason)
			}
		})
	}
}

// TestTrainJobState reads a TrainJob's own conditions: Complete and Failed
// are final, Suspended is queued, and no condition is running.
func TestTrainJobState(t *testing.T) {
	job := func(suspend bool, conds ...map[string]any) *Training {
		var cs []any
		for _, c := range conds {
			cs = append(cs, c)
		}
		return FromTrainJob("llm-r1", 1, map[string]any{"spec": map[string]any{"suspend": suspend}, "status": map[string]any{"conditions": cs}})
	}
	for _, tt := range []struct {
		job   *Training
		state State
	}{
		{FromTrainJob("llm-r1", 1, nil), Deploying},
		{job(true), Deploying},
		{job(false, kcond("Suspended", "True", "Suspended", "")), Deploying},
		{job(false, kcond("Suspended", "False", "Resumed", "")), Running},
		{job(false, kcond("Complete", "True", "JobsCompleted", "")), Succeeded},
		{job(false, kcond("Failed", "True", "DeadlineExceeded", "")), Failed},
	} {
		if got, why := trainingState(tt.job); got != tt.state {
			t.Errorf("%+v: %s (%s), want %s", tt.job, got, why, tt.state)
		}
	}
}
