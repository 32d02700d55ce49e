package specops

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/dmls-project/dmls/internal/apiclient"
)

// doc reads a document from JSON, as the API reads app.json.
func doc(t *testing.T, src string) *Doc {
	t.Helper()
	if src == "" {
		return &Doc{Name: "app", Managed: true}
	}
	m, err := DecodeJSON([]byte(src))
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	return &Doc{Name: "app", Data: m, Managed: true}
}

// canon re-encodes JSON so that documents compare by content.
func canon(t *testing.T, src string) string {
	t.Helper()
	m, err := DecodeJSON([]byte(src))
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func pct(n int) *int { return &n }

var envs = []string{"dev", "staging", "prod"}

const (
	knative = `{"name":"app","team":"t","serving":{"image":"r/x:1","revision":"v1"}}`
	kserve  = `{"name":"app","team":"t","serving":{"runtime":"kserve","model":{"storageUri":"pvc://m/1"},"revision":"v1"}}`
	trained = `{"name":"app","team":"t","training":{"image":"r/t:1","run":2,"replicas":{"worker":{"replicas":1}}},"overrides":{"prod":{"training":{"run":5}}}}`
)

func TestNextRevision(t *testing.T) {
	tests := []struct {
		name, cur, serving, want string
	}{
		{"first", "", "", "v1"},
		{"number", "v2", "", "v3"},
		{"number serving", "v2", "v3", "v4"},
		{"no number", "blue", "", "blue-2"},
		{"dashed number", "blue-9", "", "blue-10"},
		{"skips the serving one", "v1", "v2", "v3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nextRevision(tt.cur, tt.serving); got != tt.want {
				t.Errorf("nextRevision(%q, %q) = %q, want %q", tt.cur, tt.serving, got, tt.want)
			}
		})
	}
}

// TestOperations applies each operation to a document and checks the
// document it leaves, or the error it returns.
func TestOperations(t *testing.T) {
	tests := []struct {
		name string
		doc  string // "" is an app that does not exist
		ops  []Operation
		// want is the document after the operations, when wantErr is unset.
		want     string
		wantErr  Kind
		errField string
		isErr    bool
	}{
		{name: "submit creates with the team and revision v1", doc: "",
			ops:  []Operation{Submit("app", Serving, map[string]any{"name": "app", "serving": map[string]any{"image": "r/x:1"}})},
			want: `{"name":"app","team":"t","serving":{"image":"r/x:1","revision":"v1"}}`},
		{name: "submit a second model service", doc: knative,
			ops: []Operation{Submit("app", Serving, map[string]any{"name": "app", "serving": map[string]any{"image": "r/x:2"}})}, isErr: true, wantErr: Conflict},
		{name: "submit training to a serving app", doc: knative,
			ops:  []Operation{Submit("app", Training, map[string]any{"name": "app", "training": map[string]any{"image": "r/t:1"}, "overrides": map[string]any{"prod": map[string]any{"training": map[string]any{"image": "r/t:2"}}}})},
			want: `{"name":"app","team":"t","serving":{"image":"r/x:1","revision":"v1"},"training":{"image":"r/t:1"},"overrides":{"prod":{"training":{"image":"r/t:2"}}}}`},
		{name: "submit with other envs", doc: knative,
			ops: []Operation{Submit("app", Training, map[string]any{"name": "app", "envs": []any{"dev"}, "training": map[string]any{}})}, isErr: true, wantErr: Conflict, errField: "envs"},
		{name: "no app", doc: "", ops: []Operation{Retrain("app")}, isErr: true, wantErr: NotFound},

		{name: "rollout names the next revision and keeps the previous", doc: knative,
			ops:  []Operation{Rollout("app", apiclient.Rollout{Image: "r/x:2"})},
			want: `{"name":"app","team":"t","serving":{"image":"r/x:2","revision":"v2","traffic":{"tags":{"previous":"v1"}}}}`},
		{name: "rollout as a canary", doc: knative,
			ops:  []Operation{Rollout("app", apiclient.Rollout{Image: "r/x:2", CanaryPercent: pct(10)})},
			want: `{"name":"app","team":"t","serving":{"image":"r/x:2","revision":"v2","traffic":{"stable":"v1","canaryPercent":10,"tags":{"previous":"v1"}}}}`},
		{name: "rollout in one environment", doc: knative,
			ops:  []Operation{Rollout("app", apiclient.Rollout{Env: "staging", Image: "r/x:2"})},
			want: `{"name":"app","team":"t","serving":{"image":"r/x:1","revision":"v1"},"overrides":{"staging":{"serving":{"image":"r/x:2","revision":"v2","traffic":{"tags":{"previous":"v1"}}}}}}`},
		{name: "rollout the same version again changes nothing", doc: knative,
			ops: []Operation{Rollout("app", apiclient.Rollout{Image: "r/x:1", Revision: "v1"})}, want: knative},
		{name: "rollout a new version under the running revision", doc: knative,
			ops: []Operation{Rollout("app", apiclient.Rollout{Image: "r/x:2", Revision: "v1"})}, isErr: true, wantErr: Conflict, errField: "revision"},
		{name: "rollout both image and storage", doc: knative,
			ops: []Operation{Rollout("app", apiclient.Rollout{Image: "r/x:2", StorageURI: "pvc://m/2"})}, isErr: true, wantErr: Invalid},
		{name: "rollout in an unknown environment", doc: knative,
			ops: []Operation{Rollout("app", apiclient.Rollout{Env: "qa", Image: "r/x:2"})}, isErr: true, wantErr: Invalid, errField: "env"},
		{name: "rollout on KServe", doc: kserve,
			ops:  []Operation{Rollout("app", apiclient.Rollout{StorageURI: "pvc://m/2", CanaryPercent: pct(20)})},
			want: `{"name":"app","team":"t","serving":{"runtime":"kserve","model":{"storageUri":"pvc://m/2"},"revision":"v2","traffic":{"stable":"v1","canaryPercent":20}}}`},

		{name: "canary share", doc: knative,
			ops:  []Operation{Rollout("app", apiclient.Rollout{Image: "r/x:2", CanaryPercent: pct(10)}), SetCanary("app", apiclient.CanaryUpdate{Percent: 50})},
			want: `{"name":"app","team":"t","serving":{"image":"r/x:2","revision":"v2","traffic":{"stable":"v1","canaryPercent":50,"tags":{"previous":"v1"}}}}`},
		{name: "canary share without a canary", doc: knative,
			ops: []Operation{SetCanary("app", apiclient.CanaryUpdate{Percent: 50})}, isErr: true, wantErr: Conflict},
		{name: "promote the canary", doc: knative,
			ops:  []Operation{Rollout("app", apiclient.Rollout{Image: "r/x:2", CanaryPercent: pct(10)}), PromoteCanary("app", "")},
			want: `{"name":"app","team":"t","serving":{"image":"r/x:2","revision":"v2","traffic":{"tags":{"previous":"v1"}}}}`},
		{name: "promote without a canary", doc: knative,
			ops: []Operation{PromoteCanary("app", "")}, isErr: true, wantErr: Conflict},

		{name: "roll back a canary", doc: knative,
			ops:  []Operation{Rollout("app", apiclient.Rollout{Image: "r/x:2", CanaryPercent: pct(10)}), Rollback("app", "")},
			want: `{"name":"app","team":"t","serving":{"image":"r/x:2","revision":"v2","traffic":{"stable":"v1","canaryPercent":0,"tags":{"previous":"v1"}}}}`},
		{name: "roll back a full rollout to the previous revision", doc: knative,
			ops:  []Operation{Rollout("app", apiclient.Rollout{Image: "r/x:2"}), Rollback("app", "")},
			want: `{"name":"app","team":"t","serving":{"image":"r/x:2","revision":"v2","traffic":{"stable":"v1","canaryPercent":0,"tags":{"previous":"v1"}}}}`},
		{name: "roll back with no previous revision", doc: knative,
			ops: []Operation{Rollback("app", "")}, isErr: true, wantErr: Conflict},
		{name: "roll back on KServe", doc: kserve,
			ops:  []Operation{Rollback("app", "")},
			want: `{"name":"app","team":"t","serving":{"runtime":"kserve","model":{"storageUri":"pvc://m/1"},"revision":"v1","traffic":{"canaryPercent":0}}}`},

		{name: "promote to the next environment", doc: knative,
			ops:  []Operation{Rollout("app", apiclient.Rollout{Env: "dev", Image: "r/x:2"}), Promote("app", apiclient.Promotion{From: "dev"})},
			want: `{"name":"app","team":"t","serving":{"image":"r/x:1","revision":"v1"},"overrides":{"dev":{"serving":{"image":"r/x:2","revision":"v2","traffic":{"tags":{"previous":"v1"}}}},"staging":{"serving":{"image":"r/x:2","revision":"v2","traffic":{"tags":{"previous":"v1"}}}}}}`},
		{name: "promote skipping an environment", doc: knative,
			ops: []Operation{Promote("app", apiclient.Promotion{From: "dev", To: "prod"})}, isErr: true, wantErr: Invalid, errField: "to"},
		{name: "promote from the last environment", doc: knative,
			ops: []Operation{Promote("app", apiclient.Promotion{From: "prod"})}, isErr: true, wantErr: Invalid, errField: "from"},
		{name: "promote while a canary runs", doc: knative,
			ops: []Operation{Rollout("app", apiclient.Rollout{Env: "dev", Image: "r/x:2", CanaryPercent: pct(5)}), Promote("app", apiclient.Promotion{From: "dev"})}, isErr: true, wantErr: Conflict},
		{name: "promote a training image", doc: trained,
			ops:  []Operation{Promote("app", apiclient.Promotion{From: "staging"})},
			want: trained},
		{name: "promote a training image that differs", doc: trained,
			ops:  []Operation{PatchTraining("app", "staging", map[string]any{"image": "r/t:2"}, false), Promote("app", apiclient.Promotion{From: "staging"})},
			want: `{"name":"app","team":"t","training":{"image":"r/t:1","run":2,"replicas":{"worker":{"replicas":1}}},"overrides":{"staging":{"training":{"image":"r/t:2"}},"prod":{"training":{"run":5,"image":"r/t:2"}}}}`},

		{name: "patch and retrain from the highest run", doc: trained,
			ops:  []Operation{PatchTraining("app", "", map[string]any{"image": "r/t:3", "replicas": map[string]any{"worker": nil}}, true)},
			want: `{"name":"app","team":"t","training":{"image":"r/t:3","run":6,"replicas":{}}}`},
		{name: "patch run", doc: trained,
			ops: []Operation{PatchTraining("app", "", map[string]any{"run": 9}, false)}, isErr: true, wantErr: Invalid, errField: "run"},
		{name: "remove the last section removes the app", doc: knative,
			ops: []Operation{Remove("app", Serving)}, want: ""},
		{name: "remove what is not there", doc: knative,
			ops: []Operation{Remove("app", Training)}, isErr: true, wantErr: NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := doc(t, tt.doc)
			c := &Context{Team: "t", Envs: envs}
			var err error
			for _, op := range tt.ops {
				if err = Apply(c, op, d); err != nil {
					break
				}
			}
			if tt.isErr {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("err = %v, want an *Error of kind %d", err, tt.wantErr)
				}
				if e.Kind != tt.wantErr || e.Field != tt.errField {
					t.Errorf("err = %+v, want kind %d at %q", e, tt.wantErr, tt.errField)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" {
				if d.Exists() {
					t.Errorf("the app still exists: %s", d.Encode())
				}
				return
			}
			if got := canon(t, string(d.Encode())); got != canon(t, tt.want) {
				t.Errorf("got  %s\nwant %s", got, canon(t, tt.want))
			}
		})
	}
}

// TestApplyChecks covers the checks every operation shares.
func TestApplyChecks(t *testing.T) {
	tests := []struct {
		name    string
		doc     *Doc
		team    string
		wantErr Kind
	}{
		{"other team", &Doc{Name: "app", Data: map[string]any{"team": "u"}, Managed: true}, "t", Forbidden},
		{"hand-written", &Doc{Name: "app", Data: map[string]any{"team": "t"}}, "t", Conflict},
		{"missing", &Doc{Name: "app", Managed: true}, "t", NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Apply(&Context{Team: tt.team, Envs: envs}, Rollback("app", ""), tt.doc)
			var e *Error
			if !errors.As(err, &e) || e.Kind != tt.wantErr {
				t.Errorf("err = %v, want kind %d", err, tt.wantErr)
			}
		})
	}
}

func TestBodyPath(t *testing.T) {
	tests := []struct {
		name string
		op   Operation
		spec string
		want string
	}{
		{"rollout image", Rollout("app", apiclient.Rollout{Image: "x"}), "serving.image", "image"},
		{"rollout in env", Rollout("app", apiclient.Rollout{Env: "prod", Image: "x"}), "overrides.prod.serving.model.storageUri", "storageUri"},
		{"canary", SetCanary("app", apiclient.CanaryUpdate{Percent: 1}), "serving.traffic.canaryPercent", "percent"},
		{"patch in env", PatchTraining("app", "prod", nil, false), "overrides.prod.training.replicas.worker.replicas", "replicas.worker.replicas"},
		{"patch", PatchTraining("app", "", nil, false), "training.image", "image"},
		{"other field", Rollout("app", apiclient.Rollout{Image: "x"}), "serving.autoscaling.minScale", "serving.autoscaling.minScale"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.op.BodyPath(tt.spec); got != tt.want {
				t.Errorf("BodyPath(%q) = %q, want %q", tt.spec, got, tt.want)
			}
		})
	}
}
