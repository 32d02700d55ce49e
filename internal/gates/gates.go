package gates

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// OnNoData values: what a gate whose query has no data for its whole
// window does. The caller applies them; Evaluate only reports nodata.
const (
	// NoDataWait waits for data (the default): the gate neither passes
	// nor fails until data comes or the caller's deadline runs out.
	NoDataWait = "wait"
	// NoDataPass passes the gate, for an environment that scales to zero
	// and may see no traffic during the canary.
	NoDataPass = "pass"
)

// Gate is one check of a canary: a PromQL query that must return a
// single value no greater than Max.
type Gate struct {
	Name  string
	Query string
	Max   float64
	// OnNoData is NoDataWait ("" means wait) or NoDataPass.
	OnNoData string
}

// Target is what a gate's query is about: the canary's revision and the
// stable revision beside it.
type Target struct {
	Namespace string
	// Service is the Knative Service's (or KServe InferenceService's
	// predictor service's) name.
	Service string
	// Revision is the canary's full revision name, such as mnist-r7.
	Revision string
	// Stable is the stable revision's full name ("" when there is none:
	// a label matcher on "$stable" then matches series without the
	// label, so a gate that compares with the stable revision needs one).
	Stable string
	// Runtime is "knative" or "kserve".
	Runtime string
	// Window is the range of the query's rates, $window.
	Window time.Duration
}

// Variables are the names a query may use, each written $name; the value
// of every one but $window is a label value, substituted as the content
// of a PromQL double-quoted string (write "$namespace", with the quotes).
var Variables = []string{"namespace", "service", "revision", "stable", "window"}

// Expand returns query with its variables replaced by t's values. Label
// values are escaped for a double-quoted PromQL string, so a value
// cannot end the string and change the query; $window becomes a PromQL
// duration (Duration). A $ that starts no known variable is left as it
// is, and Prometheus refuses the query (Check finds it first).
func Expand(query string, t Target) string {
	values := map[string]string{
		"namespace": quoteContent(t.Namespace),
		"service":   quoteContent(t.Service),
		"revision":  quoteContent(t.Revision),
		"stable":    quoteContent(t.Stable),
		"window":    Duration(t.Window),
	}
	var b strings.Builder
	for i := 0; i < len(query); {
		if query[i] == '$' {
			name, n := variableAt(query[i+1:])
			if v, ok := values[name]; ok {
				b.WriteString(v)
				i += 1 + n
				continue
			}
		}
		b.WriteByte(query[i])
		i++
	}
	return b.String()
}

// Check reports what is wrong with a gate's query as written in a spec:
// empty, or a $name or ${name} that names no variable (a $ before
// anything else, such as a regular expression's end anchor, is left
// alone). It does not parse PromQL (that is
// Prometheus's to do; a query it refuses comes back Refused).
func Check(query string) error {
	if strings.TrimSpace(query) == "" {
		return fmt.Errorf("the query is empty; write a PromQL expression that returns one value")
	}
	var unknown []string
	for i := 0; i < len(query); i++ {
		if query[i] != '$' {
			continue
		}
		name, n := variableAt(query[i+1:])
		if n > 0 && !isVariable(name) {
			unknown = append(unknown, "$"+name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("unknown variable %s in the query; valid: $%s", strings.Join(unknown, ", "), strings.Join(Variables, ", $"))
	}
	return nil
}

// variableAt returns the identifier at the start of s ($name's name) and
// its length; ${name} is accepted too.
func variableAt(s string) (string, int) {
	if strings.HasPrefix(s, "{") {
		if end := strings.IndexByte(s, '}'); end > 0 {
			return s[1:end], end + 1
		}
		return "", 0
	}
	n := 0
	for n < len(s) && (s[n] == '_' || 'a' <= s[n] && s[n] <= 'z' || 'A' <= s[n] && s[n] <= 'Z' || n > 0 && '0' <= s[n] && s[n] <= '9') {
		n++
	}
	return s[:n], n
}

func isVariable(name string) bool {
	for _, v := range Variables {
		if v == name {
			return true
		}
	}
	return false
}

// quoteContent escapes s for the inside of a double-quoted PromQL string,
// whose escapes are Go's.
func quoteContent(s string) string {
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// Duration writes d as a PromQL duration: whole hours as 2h, whole
// minutes as 30m, anything else in seconds, rounded up (45s, 90s), and
// at least 1s.
func Duration(d time.Duration) string {
	switch {
	case d <= time.Second:
		return "1s"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	default:
		return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10) + "s"
	}
}
