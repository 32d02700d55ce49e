package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// deepHyperparameters is issue 18's body: a training job whose
// hyperparameters nest depth objects deep, about 6 bytes a level.
func deepHyperparameters(depth int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"name":"deep","training":{"image":"registry.example.com/t:1","replicas":{"worker":{"replicas":1}},"hyperparameters":`)
	b.WriteString(strings.Repeat(`{"a":`, depth))
	b.WriteString("1")
	b.WriteString(strings.Repeat("}", depth))
	b.WriteString("}}")
	return b.Bytes()
}

// wideHyperparameters is a flat body that is small but large written out,
// indented, as app.json.
func wideHyperparameters(n int) []byte {
	return []byte(`{"name":"wide","training":{"image":"registry.example.com/t:1","hyperparameters":{"l":[[[[[` +
		strings.TrimSuffix(strings.Repeat("0,", n), ",") + `]]]]]}}}`)
}

// TestDecodeBody is issue 18, sections 2 and 3: one strict decoder for
// JSON and YAML bodies, with a 400 that names the key's path and the
// limit, and 415 for other media types.
func TestDecodeBody(t *testing.T) {
	tests := []struct {
		name, ct, body string
		wantStatus     int
		wantPath       string
		wantMsg        string
	}{
		{"json ok", "application/json", `{"name":"a","training":{"image":"i"}}`, 0, "", ""},
		{"no type is json", "", `{"name":"a"}`, 0, "", ""},
		{"merge patch type", "application/merge-patch+json; charset=utf-8", `{"a":1}`, 0, "", ""},
		{"yaml ok", "application/yaml", "name: a\ntraining:\n  image: i\n", 0, "", ""},
		{"empty", "application/json", "", 0, "", ""},
		{"deep json 9000", "application/json", string(deepHyperparameters(9000)), 400, "training.hyperparameters" + strings.Repeat(".a", 62), "nested more than 64 levels deep"},
		{"json at the limit", "application/json", string(deepHyperparameters(62)), 0, "", ""},
		{"json one past the limit", "application/json", string(deepHyperparameters(63)), 400, "training.hyperparameters" + strings.Repeat(".a", 62), "more than 64 levels"},
		{"deep arrays", "application/json", `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, 400, "x" + strings.Repeat("[0]", 63), "more than 64 levels"},
		{"wide json", "application/json", string(wideHyperparameters(150000)), 400, "training.hyperparameters.l[0][0][0][0][52419]", "more than 1048576 bytes written out"},
		{"duplicate key json", "application/json", `{"training":{"image":"a","image":"b"}}`, 400, "training.image", "in its object twice"},
		{"duplicate escaped key", "application/json", `{"name":"a","\u006eame":"b"}`, 400, "name", "twice"},
		{"duplicate in array", "application/json", `{"a":[{"k":1},{"k":1,"k":2}]}`, 400, "a[1].k", "twice"},
		{"duplicate key yaml", "application/yaml", "name: a\ntraining:\n  image: a\n  image: b\n", 400, "training.image", "line 4: this key is in its mapping twice (first at line 3)"},
		{"yaml anchor and alias", "application/x-yaml", "a: &x {b: 1}\nc: *x\n", 400, "", "line 1: YAML anchors and aliases are not accepted"},
		{"yaml merge key", "text/yaml", "training:\n  <<: {image: a}\n", 400, "", "line 2: YAML merge keys (<<) are not accepted"},
		{"yaml second document", "application/yaml", "name: a\n---\nname: b\n", 400, "", "line 2: a second YAML document"},
		{"yaml deep", "application/yaml", strings.Repeat("[", 200) + strings.Repeat("]", 200), 400, strings.Repeat("[0]", 64), "more than 64 levels"},
		{"yaml duplicate in json form", "application/yaml", `{"a": 1, "a": 2}`, 400, "a", "twice"},
		{"yaml malformed", "application/yaml", "a: [\n", 400, "", "not valid YAML"},
		{"yaml many values", "application/yaml", "l: [" + strings.Repeat("0,", 20001) + "0]", 400, "", "more than 20000 values"},
		{"text/plain", "text/plain", `{"name":"a"}`, 415, "", `Content-Type "text/plain" is not accepted`},
		{"form", "application/x-www-form-urlencoded", "a=b", 415, "", "not accepted"},
		{"html", "text/html; charset=utf-8", "<p>", 415, "", "not accepted"},
		{"bad media type", "application/", "{}", 415, "", "not accepted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", nil)
			if tt.ct != "" {
				r.Header.Set("Content-Type", tt.ct)
			}
			_, e := decodeBody(r, []byte(tt.body))
			if tt.wantStatus == 0 {
				if e != nil {
					t.Fatalf("refused: %v", e)
				}
				return
			}
			if e == nil || e.Status != tt.wantStatus {
				t.Fatalf("got %v, want %d", e, tt.wantStatus)
			}
			if got := e.Errors[0]; got.Path != tt.wantPath || !strings.Contains(got.Message, tt.wantMsg) {
				t.Errorf("got path %q message %q, want path %q message with %q", got.Path, got.Message, tt.wantPath, tt.wantMsg)
			}
		})
	}
}

// TestRefusedBodiesCostLittle is issue 18, section 2: a 54 KB body nested
// 9,000 deep made the server write a 162 MB app.json and grow by 1 GB
// before it refused it, through POST, PATCH and ?dryRun=true alike. A
// refused request under the body limit now costs at most 64 MiB: counted
// as every byte the process allocates while it is served, an upper bound
// on how much the peak can rise.
func TestRefusedBodiesCostLittle(t *testing.T) {
	r := startReposWith(t, 3) // with pre-0000, a training job to PATCH
	ts := startServer(t, r)
	deep := deepHyperparameters(9000)
	if len(deep) > 60000 || len(deep) < 50000 {
		t.Fatalf("the deep body is %d bytes, want about 54 KB", len(deep))
	}
	wide := wideHyperparameters(400000)
	yamlDeep := []byte("name: deep\ntraining:\n  hyperparameters: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "\n")
	yamlWide := []byte("name: wide\ntraining:\n  hyperparameters:\n    l: [" + strings.TrimSuffix(strings.Repeat("0,", 480000), ",") + "]\n")
	yamlLines := []byte("training:\n  hyperparameters:\n" + strings.Repeat("    - 0\n", 120000))
	before := r.git.CommitCount(t, "ml-model", "")
	for _, c := range []struct {
		name, method, path, ct string
		body                   []byte
		want                   string
	}{
		{"POST deep", "POST", "/v1/teams/ml-research/trainingjobs", "", deep, "nested more than 64 levels deep"},
		{"POST dry run deep", "POST", "/v1/teams/ml-research/trainingjobs?dryRun=true", "", deep, "nested more than 64 levels deep"},
		{"PATCH deep", "PATCH", "/v1/teams/ml-research/trainingjobs/pre-0000", "application/merge-patch+json", deep, "nested more than 64 levels deep"},
		{"PATCH dry run deep", "PATCH", "/v1/teams/ml-research/trainingjobs/pre-0000?dryRun=true", "", deep, "nested more than 64 levels deep"},
		{"POST wide", "POST", "/v1/teams/ml-research/trainingjobs", "", wide, "written out"},
		{"PATCH wide", "PATCH", "/v1/teams/ml-research/trainingjobs/pre-0000", "", wide, "written out"},
		{"POST yaml deep", "POST", "/v1/teams/ml-research/trainingjobs?dryRun=true", "application/yaml", yamlDeep, "levels deep"},
		{"POST yaml wide", "POST", "/v1/teams/ml-research/trainingjobs", "application/yaml", yamlWide, "more than 20000 values"},
		{"PATCH yaml lines", "PATCH", "/v1/teams/ml-research/trainingjobs/pre-0000?dryRun=true", "application/yaml", yamlLines, "more than 20000 values"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if int64(len(c.body)) > DefaultMaxBodyBytes {
				t.Fatalf("the body is %d bytes, over the body limit", len(c.body))
			}
			runtime.GC()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			code, h, b := ts.do(t, c.method, c.path, researchToken, c.body, "Content-Type", c.ct)
			runtime.ReadMemStats(&m1)
			if code != http.StatusBadRequest || !strings.Contains(string(b), c.want) {
				t.Fatalf("%d %s, want 400 with %q", code, b, c.want)
			}
			if h.Get("X-Content-Type-Options") != "nosniff" {
				t.Error("the answer lacks X-Content-Type-Options: nosniff")
			}
			if grew := m1.TotalAlloc - m0.TotalAlloc; grew > 64<<20 {
				t.Errorf("serving the refusal allocated %d MiB, want at most 64", grew>>20)
			} else {
				t.Logf("serving the refusal allocated %.1f MiB", float64(grew)/(1<<20))
			}
		})
	}
	if after := r.git.CommitCount(t, "ml-model", ""); after != before {
		t.Errorf("ml-model went from %d to %d commits", before, after)
	}
}

// TestContentLengthOverMaxBody is issue 18, section 2: a Content-Length
// over --max-body is refused before the body is read. The request sends
// its headers and no body at all: the answer must come anyway.
func TestContentLengthOverMaxBody(t *testing.T) {
	r := startRepos(t)
	ts := startServer(t, r, func(c *Config) { c.MaxBodyBytes = 4096 })
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.http.URL, "http://"))
	noErr(t, err)
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/teams/ml-research/trainingjobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n{", researchToken)
	noErr(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer while the body is not sent: %v", err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body.String(), "the body (1000000000 bytes) is larger than 4096 bytes") {
		t.Errorf("%d %s, want 413 naming both sizes", resp.StatusCode, body.String())
	}
}

// TestRepeatedQueryParameters is issue 18, section 3: ?env=prod&env=dev
// was a silent choice.
func TestRepeatedQueryParameters(t *testing.T) {
	r := startReposWith(t, 3)
	ts := startServer(t, r)
	body, _ := json.Marshal(map[string]any{"training": map[string]any{"image": "registry.example.com/t:9"}})
	for _, c := range []struct{ method, path, param string }{
		{"PATCH", "/v1/teams/ml-research/trainingjobs/pre-0000?env=prod&env=dev", "env"},
		{"POST", "/v1/teams/ml-research/trainingjobs?dryRun=true&dryRun=false", "dryRun"},
		{"GET", "/v1/teams/ml-research/trainingjobs/pre-0000/status?env=dev&watch=false&env=dev", "env"},
		{"GET", "/v1/teams/ml-research/trainingjobs?x=1&x=2", "x"},
	} {
		code, h, b := ts.do(t, c.method, c.path, researchToken, body)
		if code != http.StatusBadRequest || !strings.Contains(string(b), "the query parameter "+c.param+" is given 2 times") {
			t.Errorf("%s %s: %d %s, want 400 naming %s", c.method, c.path, code, b, c.param)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s: no nosniff", c.method, c.path)
		}
	}
	if code, _, b := ts.do(t, "GET", "/v1/teams/ml-research/trainingjobs?x=1&y=2", researchToken, nil); code != http.StatusOK {
		t.Errorf("distinct parameters: %d %s", code, b)
	}
	// Every answer, JSON or not, tells browsers not to guess its type.
	for _, p := range []string{"/v1/whoami", "/readyz", "/healthz", "/openapi.json", "/metrics", "/nosuch"} {
		if _, h, _ := ts.do(t, "GET", p, researchToken, nil); h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no X-Content-Type-Options: nosniff", p)
		}
	}
}

// FuzzDecodeBody is issue 18's fuzz target for the API body decoder: it
// never panics, what it accepts is JSON within the bounds (no key twice,
// at most maxBodyDepth deep), and each refusal is a 400 or 415 with a
// message.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range []struct{ ct, body string }{
		{"application/json", `{"name":"a","training":{"image":"i","hyperparameters":{"lr":0.1}}}`},
		{"application/json", string(deepHyperparameters(9000))},
		{"application/json", string(deepHyperparameters(63))},
		{"application/json", `{"training":{"image":"a","image":"b"}}`},
		{"application/json", `{"name":"a","\u006eame":"b"}`},
		{"application/json", `{"a":1} {"b":2}`},
		{"application/yaml", "name: a\ntraining:\n  image: a\n  image: b\n"},
		{"application/yaml", "a: &x {b: 1}\nc: *x\n"},
		{"application/yaml", "a: &a [x,x]\nb: &b [*a,*a]\nc: [*b,*b]\n"},
		{"application/yaml", "training:\n  <<: {image: a}\n"},
		{"application/yaml", "name: a\n---\nname: b\n"},
		{"application/yaml", strings.Repeat("[", 100) + strings.Repeat("]", 100)},
		{"text/plain", "{}"},
		{"", ""},
	} {
		f.Add(s.ct, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		r := httptest.NewRequest("POST", "/", nil)
		r.Header.Set("Content-Type", ct)
		out, e := decodeBody(r, body)
		if e != nil {
			if (e.Status != http.StatusBadRequest && e.Status != http.StatusUnsupportedMediaType) || len(e.Errors) == 0 || e.Errors[0].Message == "" {
				t.Fatalf("refusal %d %+v", e.Status, e.Errors)
			}
			return
		}
		if len(bytes.TrimSpace(out)) == 0 || !json.Valid(out) {
			return // not JSON: the handler's decoder says so
		}
		// What passed is within the bounds.
		if e := checkJSON(out); e != nil {
			t.Fatalf("accepted %q, then refused it: %v", out, e)
		}
		dec := json.NewDecoder(bytes.NewReader(out))
		depth, most := 0, 0
		for {
			tok, err := dec.Token()
			if err != nil {
				break
			}
			switch tok {
			case json.Delim('{'), json.Delim('['):
				depth++
				most = max(most, depth)
			case json.Delim('}'), json.Delim(']'):
				depth--
			}
		}
		if most > maxBodyDepth {
			t.Fatalf("accepted a body %d deep", most)
		}
	})
}
