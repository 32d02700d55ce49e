package yamlenc

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// canUsePlain tells whether yaml.v2's encoder may write s unquoted: s must
// resolve to a string when read back (not to a bool, null, number or
// timestamp) and not look like a base 60 float. It is stringv's check, with
// resolve (resolve.go of go.yaml.in/yaml/v2 v2.4.2) cut down to the
// untagged case.
func canUsePlain(s string) bool {
	return resolvesToStr(s) && !isBase60Float(s)
}

var resolveTable = func() []byte {
	t := make([]byte, 256)
	t['+'] = 'S' // Sign
	t['-'] = 'S'
	for _, c := range "0123456789" {
		t[c] = 'D' // Digit
	}
	for _, c := range "yYnNtTfFoO~" {
		t[c] = 'M' // In map
	}
	t['.'] = '.' // Float (potentially in map)
	return t
}()

// resolveMap holds the plain scalars yaml.v2 reads as bools, nulls,
// special floats and the merge key: none of them a string.
var resolveMap = func() map[string]bool {
	m := map[string]bool{}
	for _, s := range []string{
		"y", "Y", "yes", "Yes", "YES",
		"true", "True", "TRUE",
		"on", "On", "ON",
		"n", "N", "no", "No", "NO",
		"false", "False", "FALSE",
		"off", "Off", "OFF",
		"", "~", "null", "Null", "NULL",
		".nan", ".NaN", ".NAN",
		".inf", ".Inf", ".INF",
		"+.inf", "+.Inf", "+.INF",
		"-.inf", "-.Inf", "-.INF",
		"<<",
	} {
		m[s] = true
	}
	return m
}()

var yamlStyleFloat = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)

// resolvesToStr is resolve("", in) == yaml_STR_TAG.
func resolvesToStr(in string) bool {
	hint := byte('N')
	if in != "" {
		hint = resolveTable[in[0]]
	}
	if hint == 0 {
		return true
	}
	if resolveMap[in] {
		return false
	}
	switch hint {
	case 'M':
		// Already checked the map.
	case '.':
		if _, err := strconv.ParseFloat(in, 64); err == nil {
			return false
		}
	case 'D', 'S':
		if _, ok := parseTimestamp(in); ok {
			return false
		}
		plain := strings.ReplaceAll(in, "_", "")
		if _, err := strconv.ParseInt(plain, 0, 64); err == nil {
			return false
		}
		if _, err := strconv.ParseUint(plain, 0, 64); err == nil {
			return false
		}
		if yamlStyleFloat.MatchString(plain) {
			if _, err := strconv.ParseFloat(plain, 64); err == nil {
				return false
			}
		}
		if strings.HasPrefix(plain, "0b") {
			if _, err := strconv.ParseInt(plain[2:], 2, 64); err == nil {
				return false
			}
			if _, err := strconv.ParseUint(plain[2:], 2, 64); err == nil {
				return false
			}
		} else if strings.HasPrefix(plain, "-0b") {
			if _, err := strconv.ParseInt("-"+plain[3:], 2, 64); err == nil {
				return false
			}
		}
	}
	return true
}

// isBase60Float is encode.go's: such strings are quoted on the way out for
// compatibility with YAML 1.1 parsers.
func isBase60Float(s string) bool {
	if s == "" {
		return false
	}
	c := s[0]
	if !(c == '+' || c == '-' || c >= '0' && c <= '9') || strings.IndexByte(s, ':') < 0 {
		return false
	}
	return base60float.MatchString(s)
}

var base60float = regexp.MustCompile(`^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`)

var allowedTimestampFormats = []string{
	"2006-1-2T15:4:5.999999999Z07:00", // RCF3339Nano with short date fields.
	"2006-1-2t15:4:5.999999999Z07:00", // RFC3339Nano with short date fields and lower-case "t".
	"2006-1-2 15:4:5.999999999",       // space separated with no time zone
	"2006-1-2",                        // date only
}

// parseTimestamp is resolve.go's.
func parseTimestamp(s string) (time.Time, bool) {
	i := 0
	for ; i < len(s); i++ {
		if c := s[i]; c < '0' || c > '9' {
			break
		}
	}
	if i != 4 || i == len(s) || s[i] != '-' {
		return time.Time{}, false
	}
	for _, format := range allowedTimestampFormats {
		if t, err := time.Parse(format, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
