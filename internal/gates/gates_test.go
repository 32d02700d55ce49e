package gates

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestExpand(t *testing.T) {
	target := Target{Namespace: "ml", Service: "mnist", Revision: "mnist-r7", Stable: "mnist-r6", Runtime: "knative", Window: 45 * time.Second}
	tests := []struct {
		name   string
		query  string
		target Target
		want   string
	}{
		{name: "every variable", query: `f{namespace="$namespace",service="$service",revision="$revision",stable="$stable"}[$window]`, target: target,
			want: `f{namespace="ml",service="mnist",revision="mnist-r7",stable="mnist-r6"}[45s]`},
		{name: "braces", query: `f{r="${revision}"}[${window}]`, target: target, want: `f{r="mnist-r7"}[45s]`},
		{name: "a longer identifier is not a variable", query: `f{a="$revisions", b="$windowed"}`, target: target, want: `f{a="$revisions", b="$windowed"}`},
		{name: "unknown variable left as is", query: `f{a="$namesapce"}`, target: target, want: `f{a="$namesapce"}`},
		{name: "a regular expression's anchor", query: `f{path=~"/predict$"}`, target: target, want: `f{path=~"/predict$"}`},
		{name: "unclosed brace", query: `f[${window]`, target: target, want: `f[${window]`},
		{name: "a value cannot end its string", query: `f{namespace="$namespace"}`, target: Target{Namespace: `ml"} or vector(1) or f{x="`},
			want: `f{namespace="ml\"} or vector(1) or f{x=\""}`},
		{name: "backslash and newline escaped", query: `f{r="$revision"}`, target: Target{Revision: "a\\b\nc"}, want: `f{r="a\\b\nc"}`},
		{name: "minutes", query: `[$window]`, target: Target{Window: 30 * time.Minute}, want: `[30m]`},
		{name: "hours", query: `[$window]`, target: Target{Window: 2 * time.Hour}, want: `[2h]`},
		{name: "seconds when not whole minutes", query: `[$window]`, target: Target{Window: 90 * time.Second}, want: `[90s]`},
		{name: "sub-second rounded up", query: `[$window]`, target: Target{Window: 2500 * time.Millisecond}, want: `[3s]`},
		{name: "zero window is 1s", query: `[$window]`, target: Target{}, want: `[1s]`},
		{name: "twice", query: `$revision/$revision`, target: target, want: `mnist-r7/mnist-r7`},
		{name: "trailing dollar", query: `x$`, target: target, want: `x$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Expand(tt.query, tt.target); got != tt.want {
				t.Errorf("Expand(%q) = %q, want %q", tt.query, got, tt.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		query   string
		wantErr string
	}{
		{name: "default error rate", query: KnativeErrorRateQuery},
		{name: "default latency", query: KnativeLatencyP99Query},
		{name: "braces", query: `f{r="${revision}"}[${window}]`},
		{name: "anchor is not a variable", query: `f{p=~"a$"}`},
		{name: "empty query", query: "  ", wantErr: "the query is empty"},
		{name: "unknown variables", query: `f{a="$revison"}[${windw}]`, wantErr: "unknown variable $revison, $windw in the query; valid: $namespace, $service, $revision, $stable, $window"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.query)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	tests := []struct {
		runtime, mode string
		want          []string // gate names
		wantWhy       string
	}{
		{runtime: "knative", want: []string{ErrorRateGate, LatencyP99Gate}},
		{runtime: "knative", mode: "Standard", want: []string{ErrorRateGate, LatencyP99Gate}}, // a mode is KServe's only
		{runtime: "kserve", want: []string{ErrorRateGate, LatencyP99Gate}},
		{runtime: "kserve", mode: "Knative", want: []string{ErrorRateGate, LatencyP99Gate}},
		{runtime: "kserve", mode: "Serverless", want: []string{ErrorRateGate, LatencyP99Gate}},
		{runtime: "kserve", mode: "Standard", wantWhy: "Standard mode has no queue-proxy"},
		{runtime: "kserve", mode: "RawDeployment", wantWhy: "RawDeployment mode has no queue-proxy"},
		{runtime: "kserve", mode: "Raw", wantWhy: "unknown KServe deployment mode Raw"},
		{runtime: "seldon", wantWhy: "unknown runtime seldon"},
	}
	for _, tt := range tests {
		t.Run(tt.runtime+"/"+tt.mode, func(t *testing.T) {
			gates := Defaults(tt.runtime, tt.mode)
			var names []string
			for _, g := range gates {
				names = append(names, g.Name)
				if err := Check(g.Query); err != nil {
					t.Errorf("default gate: %v", err)
				}
				if g.OnNoData != NoDataWait {
					t.Errorf("%s: onNoData %q, want wait", g.Name, g.OnNoData)
				}
				// filtered to the canary: its namespace and its revision,
				// over the window
				for _, v := range []string{`k8s_namespace_name="$namespace"`, `kn_revision_name="$revision"`, `[$window]`} {
					if !strings.Contains(g.Query, v) {
						t.Errorf("%s: query %s lacks %s", g.Name, g.Query, v)
					}
				}
			}
			if strings.Join(names, ",") != strings.Join(tt.want, ",") {
				t.Errorf("gates %v, want %v", names, tt.want)
			}
			why := NoDefaults(tt.runtime, tt.mode)
			if (why == "") != (tt.wantWhy == "") || !strings.Contains(why, tt.wantWhy) {
				t.Errorf("NoDefaults = %q, want %q", why, tt.wantWhy)
			}
		})
	}
	d := Defaults("knative", "")
	if d[0].Max != 0.01 || d[1].Max != 1 {
		t.Errorf("thresholds %v and %v, want 0.01 (1%% 5xx) and 1 (second)", d[0].Max, d[1].Max)
	}
}

// TestDecode covers Prometheus's answers that a running Prometheus gives
// only when overloaded, behind a proxy, or misconfigured.
func TestDecode(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		body        string
		wantValue   float64
		wantNoData  string
		wantErr     string
		wantRefused bool
	}{
		{name: "one sample", status: 200, body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"0.25"]}]}}`, wantValue: 0.25},
		{name: "+Inf", status: 200, body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"+Inf"]}]}}`, wantValue: math.Inf(1)},
		{name: "scalar", status: 200, body: `{"status":"success","data":{"resultType":"scalar","result":[1,"3"]}}`, wantValue: 3},
		{name: "empty", status: 200, body: `{"status":"success","data":{"resultType":"vector","result":[]}}`, wantNoData: "empty vector"},
		{name: "NaN", status: 200, body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}}`, wantNoData: "NaN"},
		{name: "two series", status: 200, body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"b":"2","a":"1"},"value":[1,"1"]},{"metric":{"a":"3"},"value":[1,"1"]}]}}`,
			wantErr: `returned 2 series ({a="1", b="2"}, {a="3"}...); it must return one value`, wantRefused: true},
		{name: "string", status: 200, body: `{"status":"success","data":{"resultType":"string","result":[1,"x"]}}`, wantErr: "returned a string", wantRefused: true},
		{name: "bad_data", status: 400, body: `{"status":"error","errorType":"bad_data","error":"parse error"}`, wantErr: "prometheus refused the query (bad_data): parse error", wantRefused: true},
		{name: "execution", status: 422, body: `{"status":"error","errorType":"execution","error":"many-to-many matching not allowed"}`, wantErr: "(execution): many-to-many", wantRefused: true},
		{name: "400 from a proxy", status: 400, body: `<html>bad request</html>`, wantErr: "answered HTTP 400"},
		{name: "timeout", status: 503, body: `{"status":"error","errorType":"timeout","error":"query timed out"}`, wantErr: "answered HTTP 503 (timeout): query timed out"},
		{name: "internal", status: 500, body: `{"status":"error","errorType":"internal","error":"boom"}`, wantErr: "answered HTTP 500"},
		{name: "bad gateway page", status: 502, body: `<html>bad gateway</html>`, wantErr: "answered HTTP 502"},
		{name: "unauthorized", status: 401, body: ``, wantErr: "HTTP 401: check the credentials"},
		{name: "not found", status: 404, body: `404 page not found`, wantErr: "answered HTTP 404"},
		{name: "not Prometheus", status: 200, body: `<html>hello</html>`, wantErr: "is this Prometheus's URL?"},
		{name: "too large", status: 200, body: `{"status":"success","data":{"resultType":"vector","result":[` + strings.Repeat(" ", MaxResponseBytes) + `]}}`,
			wantErr: "larger than 1048576 bytes; it must return one value", wantRefused: true},
		{name: "not a number", status: 200, body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"x"]}]}}`, wantErr: `value "x" is not a number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			if len(body) > MaxResponseBytes+1 {
				body = body[:MaxResponseBytes+1] // what the limited reader reads
			}
			v, err := decode("http://prom/api/v1/query", tt.status, body)
			if tt.wantErr != "" {
				_, refused := err.(*refusedError)
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || refused != tt.wantRefused {
					t.Fatalf("error %v (refused %v), want %q (refused %v)", err, refused, tt.wantErr, tt.wantRefused)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if v.noData != "" || tt.wantNoData != "" {
				if !strings.Contains(v.noData, tt.wantNoData) || tt.wantNoData == "" {
					t.Fatalf("no data %q, want %q", v.noData, tt.wantNoData)
				}
				return
			}
			if v.value != tt.wantValue {
				t.Errorf("value %v, want %v", v.value, tt.wantValue)
			}
		})
	}
}
