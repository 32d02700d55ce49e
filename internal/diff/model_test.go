package diff

import (
	"fmt"
	"strings"
	"testing"
)

// knativeRun is the Knative Service of model m serving run (r<N>) from
// a volume claim, with traffic as the generator writes it.
func knativeRun(run, traffic string) string {
	return ksvcHead + fmt.Sprintf(`      name: m-%[1]s
    spec:
      containers:
      - image: tensorflow/serving:2.14.1
        volumeMounts:
        - mountPath: /models/m
          name: model
          readOnly: true
          subPath: mnist/%[1]s
      volumes:
      - name: model
        persistentVolumeClaim: {claimName: models, readOnly: true}
  traffic:
%[2]s`, run, traffic)
}

// Traffic settings of knativeRun.
const (
	allLatest = "  - {latestRevision: true, percent: 100, tag: current}\n"
	prevR6    = "  - {latestRevision: false, percent: 0, revisionName: m-r6, tag: previous}\n"
)

func canaryTraffic(stable, canary string, percent int) string {
	return fmt.Sprintf("  - {latestRevision: false, percent: %d, revisionName: m-%s, tag: stable}\n  - {latestRevision: false, percent: %d, revisionName: m-%s, tag: canary}\n",
		100-percent, stable, percent, canary)
}

// kserveRun is the InferenceService of model m serving run, with
// canaryTrafficPercent percent (-1: unset).
func kserveRun(run string, percent int) string {
	p := ""
	if percent >= 0 {
		p = fmt.Sprintf("\n    canaryTrafficPercent: %d", percent)
	}
	return fmt.Sprintf(`apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: m
  namespace: t-prod
spec:
  predictor:%s
    model:
      modelFormat: {name: tensorflow}
      storageUri: pvc://models/mnist/%s
`, p, run)
}

// TestModelFromTraining: a change of the model from training that a
// service serves is named in words, with its runs (issue 24, section 5):
// each step of the release pipeline, on Knative and on KServe, instead
// of the traffic and revision facts it would otherwise be.
func TestModelFromTraining(t *testing.T) {
	r6 := knativeRun("r6", allLatest)
	canary10 := knativeRun("r7", canaryTraffic("r6", "r7", 10)+prevR6)
	tests := []struct {
		name       string
		base, head string
		want       []string
		wantRisks  []string
	}{
		{name: "canary", base: r6, head: canary10,
			want: []string{"m/prod: serving model r6 → r7, canary 10%"}},
		{name: "canary share", base: canary10, head: knativeRun("r7", canaryTraffic("r6", "r7", 25)+prevR6),
			want: []string{"m/prod: serving model r6 → r7, canary 10%→25%"}},
		{name: "full rollout, all to the latest", base: canary10, head: knativeRun("r7", allLatest+prevR6),
			want: []string{"m/prod: serving model r6 → r7, all traffic"}},
		{name: "full rollout, canary at 100%", base: canary10, head: knativeRun("r7", canaryTraffic("r6", "r7", 100)+prevR6),
			want:      []string{"m/prod: serving model r6 → r7, all traffic"},
			wantRisks: []string{"m/prod: canary jumps 10%→100% (90 points in one step)"}},
		{name: "rollback", base: canary10, head: knativeRun("r7", canaryTraffic("r6", "r7", 0)+prevR6),
			want: []string{"m/prod: serving model rolled back to r6 (r7 had 10%)"}},
		{name: "promotion without a canary", base: r6, head: knativeRun("r8", allLatest),
			want: []string{"m/prod: serving model r6 → r8, all traffic"}},
		{name: "first run served", base: "", head: knativeRun("r7", allLatest),
			want: []string{"m/prod: new model service m, serving model r7, all traffic"}},
		{name: "same run, another scale", base: r6, head: strings.Replace(r6, "    spec:\n      containers:", "    metadata: {annotations: {autoscaling.knative.dev/max-scale: \"3\"}}\n    spec:\n      containers:", 1),
			want: []string{"m/prod: max scale unset→3"}},
		{name: "kserve canary", base: kserveRun("r6", -1), head: kserveRun("r7", 10),
			want: []string{"m/prod: serving model r6 → r7, canary 10%"}},
		{name: "kserve full rollout", base: kserveRun("r7", 10), head: kserveRun("r7", 100),
			want: []string{"m/prod: serving model r7, all traffic (was a canary at 10%)"}},
		{name: "kserve rollback", base: kserveRun("r7", 10), head: kserveRun("r7", 0),
			want: []string{"m/prod: serving model rolled back from r7 (it had 10%)"}},
		{name: "kserve model not from training", base: strings.Replace(kserveRun("r6", -1), "mnist/r6", "saved_model", 1), head: strings.Replace(kserveRun("r6", 20), "mnist/r6", "saved_model_canary", 1),
			want: []string{"m/prod: InferenceService m changed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, head := tt.base, tt.head
			if base == "" { // the app was there, without a model service
				const cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: t-prod}\n"
				base, head = cm, cm+"---\n"+head
			}
			b, h := sides(base, head)
			r, err := Compare(b, h, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := strs(r.Summary); strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("summary = %q, want %q", got, tt.want)
			}
			if got := strs(r.Risks); strings.Join(got, "\n") != strings.Join(tt.wantRisks, "\n") {
				t.Errorf("risks = %q, want %q", got, tt.wantRisks)
			}
		})
	}
}
