package diff

import (
	"fmt"
	"strings"
)

// maxCells bounds the table of the exact line diff; beyond it, what is
// left between the common prefix and suffix is shown as replaced whole.
const maxCells = 4 << 20

type op struct {
	kind byte // ' ', '-', '+'
	line string
	a, b int // lines of a and of b before this one
}

// Unified returns the unified diff of a and b with context lines of
// context, headed by "--- aName" and "+++ bName", as git diff prints it.
// Equal texts give "".
func Unified(aName, bName, a, b string, context int) string {
	if a == b {
		return ""
	}
	ops := lineOps(splitLines(a), splitLines(b))
	var sb strings.Builder
	fmt.Fprintf(&sb, "--- %s\n+++ %s\n", aName, bName)
	i := 0
	for i < len(ops) {
		if ops[i].kind == ' ' {
			i++
			continue
		}
		start := max(0, i-context)
		end := i // the hunk's last change
		for j := i + 1; j < len(ops); {
			if ops[j].kind != ' ' {
				end = j
				j++
				continue
			}
			k := j
			for k < len(ops) && ops[k].kind == ' ' {
				k++
			}
			if k == len(ops) || k-j > 2*context {
				break
			}
			j = k
		}
		stop := min(len(ops), end+1+context)
		writeHunk(&sb, ops[start:stop])
		i = stop
	}
	return sb.String()
}

func writeHunk(sb *strings.Builder, h []op) {
	var na, nb int
	for _, o := range h {
		if o.kind != '+' {
			na++
		}
		if o.kind != '-' {
			nb++
		}
	}
	fmt.Fprintf(sb, "@@ -%s +%s @@\n", hunkRange(h[0].a, na), hunkRange(h[0].b, nb))
	for _, o := range h {
		sb.WriteByte(o.kind)
		sb.WriteString(o.line)
		if !strings.HasSuffix(o.line, "\n") {
			sb.WriteString("\n\\ No newline at end of file\n")
		}
	}
}

func hunkRange(before, n int) string {
	switch n {
	case 0:
		return fmt.Sprintf("%d,0", before)
	case 1:
		return fmt.Sprintf("%d", before+1)
	}
	return fmt.Sprintf("%d,%d", before+1, n)
}

// splitLines splits s after each newline; a last line without one is kept.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// lineOps is a shortest edit script from a to b: a longest common
// subsequence by dynamic programming, after the common prefix and suffix.
func lineOps(a, b []string) []op {
	var ops []op
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		ops = append(ops, op{' ', a[pre], pre, pre})
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	ma, mb := a[pre:len(a)-suf], b[pre:len(b)-suf]
	n, m := len(ma), len(mb)
	ia, ib := pre, pre
	emit := func(kind byte, line string) {
		ops = append(ops, op{kind, line, ia, ib})
		switch kind {
		case ' ':
			ia++
			ib++
		case '-':
			ia++
		case '+':
			ib++
		}
	}
	if (n+1)*(m+1) > maxCells {
		for _, l := range ma {
			emit('-', l)
		}
		for _, l := range mb {
			emit('+', l)
		}
	} else {
		// lcs[i*(m+1)+j] is the LCS length of ma[i:] and mb[j:].
		lcs := make([]int32, (n+1)*(m+1))
		for i := n - 1; i >= 0; i-- {
			for j := m - 1; j >= 0; j-- {
				if ma[i] == mb[j] {
					lcs[i*(m+1)+j] = lcs[(i+1)*(m+1)+j+1] + 1
				} else {
					lcs[i*(m+1)+j] = max(lcs[(i+1)*(m+1)+j], lcs[i*(m+1)+j+1])
				}
			}
		}
		i, j := 0, 0
		for i < n || j < m {
			switch {
			case i < n && j < m && ma[i] == mb[j]:
				emit(' ', ma[i])
				i++
				j++
			case j < m && (i == n || lcs[i*(m+1)+j+1] >= lcs[(i+1)*(m+1)+j]):
				// Deletions first within a change, as git prints them.
				if i < n && lcs[(i+1)*(m+1)+j] == lcs[i*(m+1)+j] {
					emit('-', ma[i])
					i++
					continue
				}
				emit('+', mb[j])
				j++
			default:
				emit('-', ma[i])
				i++
			}
		}
	}
	for k := len(a) - suf; k < len(a); k++ {
		emit(' ', a[k])
	}
	return ops
}
