package diag

import (
	"fmt"
	"strings"
)

// QuoteList quotes each of s and joins them for a message: "a", "b"; an
// empty list reads (none).
func QuoteList(s []string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = fmt.Sprintf("%q", x)
	}
	if len(q) == 0 {
		return "(none)"
	}
	return strings.Join(q, ", ")
}
