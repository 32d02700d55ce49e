package gates

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dmls-project/dmls/internal/repourl"
)

// Verdict is the outcome of one evaluation of a gate.
type Verdict string

const (
	// Pass: the query returned one value, no greater than Max.
	Pass Verdict = "pass"
	// Fail: the query returned one value greater than Max.
	Fail Verdict = "fail"
	// NoData: the query returned nothing to judge (an empty vector, or
	// NaN such as 0/0 when no requests came). The caller applies the
	// gate's OnNoData and its deadline.
	NoData Verdict = "nodata"
	// Error: no answer, or Prometheus refused the query; Refused says
	// which.
	Error Verdict = "error"
)

// Result is one evaluation of a gate, with its evidence.
type Result struct {
	Gate string
	// Query is the expanded query that was sent.
	Query string
	// Value is the query's value when HasData (0 otherwise, never NaN,
	// so that a Result encodes as JSON).
	Value   float64
	HasData bool
	Max     float64
	Verdict Verdict
	// Refused: Prometheus refused the query (bad_data, an execution
	// error) or it returned something other than one value. Asking again
	// gives the same answer: pause the rollout and report. With Verdict
	// Error and Refused false, Prometheus could not be asked (down,
	// unreachable, a 5xx, a timeout): wait and ask again.
	Refused bool
	// Err says what went wrong, or why there is no data. It never holds
	// a credential or the URL's user information.
	Err string
}

// DefaultTimeout bounds one evaluation when Client.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// MaxResponseBytes bounds the body of Prometheus's answer that Evaluate
// reads; a gate's answer is one value, a few hundred bytes.
const MaxResponseBytes = 1 << 20

// Client asks one Prometheus server. Its zero HTTP is
// http.DefaultClient. It is safe for concurrent use.
type Client struct {
	// URL is Prometheus's base URL, such as http://prometheus:9090 or
	// https://example.com/prometheus; user information in it is sent as
	// basic authentication.
	URL  string
	HTTP *http.Client
	// Timeout bounds one evaluation (DefaultTimeout when zero); it is
	// passed on to Prometheus as the query's timeout too.
	Timeout time.Duration
	// BearerToken, when set, is sent as Authorization: Bearer.
	BearerToken string
}

// Evaluate runs g's query for t as an instant query at the time at
// (Prometheus's now when at is zero), and judges its value against
// g.Max. It never returns an error: what went
// wrong is in the Result.
func (c *Client) Evaluate(ctx context.Context, g Gate, t Target, at time.Time) Result {
	r := Result{Gate: g.Name, Query: Expand(g.Query, t), Max: g.Max}
	v, err := c.query(ctx, r.Query, at)
	var refused *refusedError
	switch {
	case errors.As(err, &refused):
		r.Verdict, r.Refused, r.Err = Error, true, c.redact(err.Error())
	case err != nil:
		r.Verdict, r.Err = Error, c.redact(err.Error())
	case v.noData != "":
		r.Verdict, r.Err = NoData, v.noData
	default:
		r.Value, r.HasData = v.value, true
		if v.value > g.Max {
			r.Verdict = Fail
		} else {
			r.Verdict = Pass
		}
	}
	return r
}

// refusedError is an answer that asking again would not change.
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }

func refusedf(format string, args ...any) error {
	return &refusedError{fmt.Sprintf(format, args...)}
}

type value struct {
	value  float64
	noData string
}

// apiResponse is Prometheus's answer to /api/v1/query.
type apiResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

func (c *Client) query(ctx context.Context, query string, at time.Time) (value, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	endpoint, user, err := c.endpoint()
	if err != nil {
		return value{}, err
	}
	form := url.Values{"query": {query}, "timeout": {Duration(timeout)}}
	if !at.IsZero() {
		form.Set("time", strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return value{}, fmt.Errorf("prometheus query: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if user != nil {
		pw, _ := user.Password()
		req.SetBasicAuth(user.Username(), pw)
	}
	if c.BearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+c.BearerToken)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		// url.Error carries the URL; say what failed without it.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if ctx.Err() == context.DeadlineExceeded {
			return value{}, fmt.Errorf("prometheus at %s did not answer within %s", endpoint, timeout)
		}
		return value{}, fmt.Errorf("prometheus at %s: %v", endpoint, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return value{}, fmt.Errorf("prometheus at %s did not answer within %s", endpoint, timeout)
		}
		return value{}, fmt.Errorf("prometheus at %s: read the answer: %v", endpoint, err)
	}
	return decode(endpoint, resp.StatusCode, body)
}

// decode judges Prometheus's answer: its HTTP status, its errorType and
// its result.
func decode(endpoint string, status int, body []byte) (value, error) {
	var r apiResponse
	jsonErr := json.Unmarshal(body, &r)
	if len(body) > MaxResponseBytes {
		jsonErr = fmt.Errorf("answer larger than %d bytes", MaxResponseBytes)
	}
	switch {
	case status == http.StatusBadRequest || status == http.StatusUnprocessableEntity:
		if jsonErr == nil && (r.ErrorType == "bad_data" || r.ErrorType == "execution") {
			return value{}, refusedf("prometheus refused the query (%s): %s", r.ErrorType, r.Error)
		}
		return value{}, fmt.Errorf("prometheus at %s answered HTTP %d%s", endpoint, status, errorText(r, jsonErr))
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return value{}, fmt.Errorf("prometheus at %s answered HTTP %d: check the credentials dmls sends it", endpoint, status)
	case status != http.StatusOK:
		return value{}, fmt.Errorf("prometheus at %s answered HTTP %d%s", endpoint, status, errorText(r, jsonErr))
	case len(body) > MaxResponseBytes:
		return value{}, refusedf("the query's answer is larger than %d bytes; it must return one value", MaxResponseBytes)
	case jsonErr != nil:
		return value{}, fmt.Errorf("prometheus at %s answered HTTP 200 with no API response (is this Prometheus's URL?): %v", endpoint, jsonErr)
	case r.Status != "success":
		return value{}, fmt.Errorf("prometheus at %s answered status %q%s", endpoint, r.Status, errorText(r, nil))
	}
	return result(r.Data.ResultType, r.Data.Result)
}

func errorText(r apiResponse, jsonErr error) string {
	if jsonErr != nil || r.Error == "" {
		return ""
	}
	return fmt.Sprintf(" (%s): %s", r.ErrorType, r.Error)
}

// sample is one element of a vector result.
type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// result takes the one value out of a query's result: a vector of one
// sample or a scalar.
func result(resultType string, raw json.RawMessage) (value, error) {
	var point [2]any
	switch resultType {
	case "scalar":
		if err := json.Unmarshal(raw, &point); err != nil {
			return value{}, fmt.Errorf("decode the scalar result: %v", err)
		}
	case "vector":
		var samples []sample
		if err := json.Unmarshal(raw, &samples); err != nil {
			return value{}, fmt.Errorf("decode the vector result: %v", err)
		}
		switch len(samples) {
		case 0:
			return value{noData: "the query returned an empty vector: no series matched at this time and window"}, nil
		case 1:
			point = samples[0].Value
		default:
			return value{}, refusedf("the query returned %d series (%s, %s...); it must return one value: aggregate it, for example with sum(...)",
				len(samples), labels(samples[0].Metric), labels(samples[1].Metric))
		}
	default:
		return value{}, refusedf("the query returned a %s; it must return one value (an instant vector of one series, or a scalar)", resultType)
	}
	s, ok := point[1].(string)
	if !ok {
		return value{}, fmt.Errorf("the result's value %v is not a string", point[1])
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return value{}, fmt.Errorf("the result's value %q is not a number", s)
	}
	if math.IsNaN(f) {
		return value{noData: "the query returned NaN: no samples to compute from (0/0, such as an error rate with no requests)"}, nil
	}
	return value{value: f}, nil
}

// labels writes a series' labels for a message, {a="x", b="y"}.
func labels(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.Quote(m[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// endpoint returns the query endpoint, without user information, and the
// user information apart.
func (c *Client) endpoint() (string, *url.Userinfo, error) {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", nil, refusedf("the Prometheus URL %q is not an http(s) URL with a host", repourl.Scrub(c.URL))
	}
	user := u.User
	u.User = nil
	u.RawQuery, u.Fragment = "", ""
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api/v1/query"
	u.RawPath = ""
	return u.String(), user, nil
}

// redact removes the credentials from a message, wherever an error on the
// way may have put them: those of URLs by the project's one scrubber
// (repourl.Scrub), and the bearer token and password wherever else.
func (c *Client) redact(msg string) string {
	msg = repourl.Scrub(msg)
	if c.BearerToken != "" {
		msg = strings.ReplaceAll(msg, c.BearerToken, "REDACTED")
	}
	if u, err := url.Parse(c.URL); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "REDACTED")
		}
	}
	return msg
}
