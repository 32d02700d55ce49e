package diff

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"sort"
	"strconv"
	"strings"
)

// CommentLimit is the most characters GitHub accepts in a comment.
const CommentLimit = 65536

// Marker starts every Markdown report, so that a bot can find and update
// its own comment.
const Marker = "<!-- dmls-preview -->"

// JSON writes r as indented JSON.
func JSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// ANSI colours of the text format.
const (
	bold   = "\x1b[1m"
	red    = "\x1b[31m"
	green  = "\x1b[32m"
	yellow = "\x1b[33m"
	cyan   = "\x1b[36m"
	reset  = "\x1b[0m"
)

// Text writes r for a terminal, in colour when color is set.
func Text(w io.Writer, r *Report, color bool) error {
	var b strings.Builder
	paint := func(c, s string) string {
		if !color {
			return s
		}
		return c + s + reset
	}
	fmt.Fprintf(&b, "%s %s → %s\n", paint(bold, "dmls diff"), r.Base, r.Head)
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "%s %s\n", paint(yellow, "warning:"), w)
	}
	if !r.Changed() {
		b.WriteString("\nNo changes.\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	b.WriteString("\n" + paint(bold, "Summary") + "\n")
	for _, l := range r.Summary {
		fmt.Fprintf(&b, "  %s\n", l)
	}
	if len(r.Risks) > 0 {
		b.WriteString("\n" + paint(bold, "Risks") + "\n")
		for _, l := range r.Risks {
			fmt.Fprintf(&b, "  %s %s\n", paint(red, "!"), l)
		}
	}
	if len(r.ArgoCD) > 0 {
		b.WriteString("\n" + paint(bold, "Argo CD") + "\n")
		for _, s := range r.ArgoCD {
			fmt.Fprintf(&b, "  %s (wave %d)%s\n", s.Application, s.Wave, appChange(s.Change))
			for _, part := range []struct {
				verb string
				ids  []string
			}{{"create", s.Create}, {"update", s.Update}, {"prune", s.Prune}, {"keep", s.Keep}} {
				for _, id := range part.ids {
					fmt.Fprintf(&b, "    %-6s %s\n", part.verb, id)
				}
			}
		}
	}
	for _, u := range r.Units {
		fmt.Fprintf(&b, "\n%s (%s)\n", paint(bold, u.Title), u.Change)
		for _, o := range u.Objects {
			fmt.Fprintf(&b, "%s %s%s\n", paint(bold, sign(o.Change)), paint(bold, o.ID), objectNote(o))
			for _, line := range splitLines(o.Diff) {
				switch {
				case strings.HasPrefix(line, "+++"), strings.HasPrefix(line, "---"):
					b.WriteString(paint(bold, strings.TrimSuffix(line, "\n")) + "\n")
				case strings.HasPrefix(line, "@@"):
					b.WriteString(paint(cyan, strings.TrimSuffix(line, "\n")) + "\n")
				case strings.HasPrefix(line, "+"):
					b.WriteString(paint(green, strings.TrimSuffix(line, "\n")) + "\n")
				case strings.HasPrefix(line, "-"):
					b.WriteString(paint(red, strings.TrimSuffix(line, "\n")) + "\n")
				default:
					b.WriteString(line)
				}
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func sign(c Change) string {
	switch c {
	case Added:
		return "+"
	case Removed:
		return "-"
	}
	return "~"
}

func appChange(c Change) string {
	switch c {
	case Added:
		return ": new Application"
	case Removed:
		return ": Application removed"
	case Changed:
		return ": Application changed"
	}
	return ""
}

func objectNote(o ObjectDiff) string {
	switch {
	case o.ReplacedBy != "":
		return " (replaced by " + o.ReplacedBy + ", diffed there)"
	case o.Replaces != "":
		return " (replaces " + o.Replaces + "; the diff is against it)"
	case o.Kept:
		return " (Argo CD keeps it in the cluster: Prune=false)"
	case o.AllIgnored:
		return " (every changed field is ignored by Argo CD: " + strings.Join(o.Ignored, ", ") + ")"
	case len(o.Ignored) > 0:
		return " (fields ignored by Argo CD: " + strings.Join(o.Ignored, ", ") + ")"
	}
	return ""
}

// Markdown writes r for a pull-request comment: the summary table, the
// risks and Argo CD's view first, then one collapsible section per
// changed unit. It stays within limit characters (CommentLimit for
// GitHub) by leaving out the largest diffs, with a note saying so.
func Markdown(w io.Writer, r *Report, limit int) error {
	m := &mdWriter{r: r, cut: map[[2]int]bool{}, units: len(r.Units)}
	out := m.render()
	if len(out) > limit {
		type size struct {
			at [2]int
			n  int
		}
		var sizes []size
		for i, u := range r.Units {
			for j, o := range u.Objects {
				sizes = append(sizes, size{[2]int{i, j}, len(o.Diff)})
			}
		}
		sort.SliceStable(sizes, func(i, j int) bool { return sizes[i].n > sizes[j].n })
		excess := len(out) - limit
		cut := 0
		for _, s := range sizes {
			if excess <= 0 {
				if out = m.render(); len(out) <= limit {
					break
				}
				excess = len(out) - limit
			}
			m.cut[s.at] = true
			cut++
			excess -= s.n - 60 // a diff gives way to a one-line note
		}
		out = m.render()
		// The estimate may have cut one diff too many: give back the
		// smallest ones that still fit.
		for i := cut - 1; i >= 0 && len(out) <= limit; i-- {
			delete(m.cut, sizes[i].at)
			if again := m.render(); len(again) <= limit {
				out = again
				continue
			}
			m.cut[sizes[i].at] = true
			break
		}
		for len(out) > limit && m.units > 0 {
			m.units--
			out = m.render()
		}
	}
	_, err := io.WriteString(w, out)
	return err
}

type mdWriter struct {
	r     *Report
	cut   map[[2]int]bool // diffs left out, by unit and object index
	units int             // how many unit sections to write
}

func (m *mdWriter) render() string {
	r := m.r
	var b strings.Builder
	b.WriteString(Marker + "\n")
	b.WriteString("### dmls preview\n\n")
	fmt.Fprintf(&b, "`%s` → `%s`\n\n", code(r.Base), code(r.Head))
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "> [!WARNING]\n> %s\n\n", text(w))
	}
	if !r.Changed() {
		b.WriteString("No changes to the rendered manifests.\n")
		return b.String()
	}
	if len(m.cut) > 0 || m.units < len(r.Units) {
		b.WriteString("> [!NOTE]\n> This preview is cut to stay under GitHub's 65,536-character comment limit: ")
		fmt.Fprintf(&b, "%d of the largest diffs", len(m.cut))
		if m.units < len(r.Units) {
			fmt.Fprintf(&b, " and the last %d sections", len(r.Units)-m.units)
		}
		b.WriteString(" are left out. Run `dmls diff --base REF` for all of it.\n\n")
	}
	b.WriteString("| where | change |\n|---|---|\n")
	for _, l := range r.Summary {
		fmt.Fprintf(&b, "| %s | %s |\n", cell(l.Where), cell(l.What))
	}
	if len(r.Risks) > 0 {
		b.WriteString("\n#### ⚠️ Risks\n\n")
		for _, l := range r.Risks {
			if l.Where != "" {
				fmt.Fprintf(&b, "- **%s**: %s\n", text(l.Where), text(l.What))
			} else {
				fmt.Fprintf(&b, "- %s\n", text(l.What))
			}
		}
	}
	if len(r.ArgoCD) > 0 {
		b.WriteString("\n#### Argo CD\n\n| Application | wave | create | update | prune |\n|---|---:|---|---|---|\n")
		for _, s := range r.ArgoCD {
			prune := ids(s.Prune)
			if len(s.Keep) > 0 {
				if prune != "" {
					prune += "<br>"
				}
				prune += "kept (Prune=false): " + ids(s.Keep)
			}
			fmt.Fprintf(&b, "| `%s`%s | %d | %s | %s | %s |\n", code(s.Application), cell(appChange(s.Change)), s.Wave, ids(s.Create), ids(s.Update), prune)
		}
	}
	b.WriteString("\n")
	for i, u := range r.Units[:m.units] {
		// The summary line is raw HTML, where Markdown escapes would show.
		fmt.Fprintf(&b, "<details>\n<summary><b>%s</b> (%s): %s</summary>\n\n", html.EscapeString(u.Title), u.Change, counts(u))
		for j, o := range u.Objects {
			fmt.Fprintf(&b, "**%s %s**%s\n\n", sign(o.Change), text(o.ID), text(objectNote(o)))
			if o.Diff == "" {
				continue
			}
			if m.cut[[2]int{i, j}] {
				fmt.Fprintf(&b, "_Diff of %d lines left out to stay under the comment limit._\n\n", strings.Count(o.Diff, "\n"))
				continue
			}
			fence := fenceFor(o.Diff)
			fmt.Fprintf(&b, "%sdiff\n%s%s\n\n", fence, o.Diff, fence)
		}
		b.WriteString("</details>\n\n")
	}
	return b.String()
}

// counts says how many objects of a unit are added, changed and removed.
func counts(u UnitDiff) string {
	n := map[Change]int{}
	for _, o := range u.Objects {
		n[o.Change]++
	}
	var parts []string
	for _, c := range []Change{Added, Changed, Removed} {
		if n[c] > 0 {
			parts = append(parts, strconv.Itoa(n[c])+" "+verb(c))
		}
	}
	return strings.Join(parts, ", ")
}

func ids(l []string) string {
	const most = 5
	var parts []string
	for i, id := range l {
		if i == most {
			parts = append(parts, fmt.Sprintf("and %d more", len(l)-most))
			break
		}
		parts = append(parts, text(id))
	}
	return strings.Join(parts, "<br>")
}

// text escapes what Markdown or HTML would read as markup.
func text(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "*", "\\*", "_", "\\_", "`", "\\`", "[", "\\[", "]", "\\]", "\n", " ").Replace(s)
}

// cell is text fit for a table cell.
func cell(s string) string { return strings.ReplaceAll(text(s), "|", "\\|") }

// code is s fit for an inline code span.
func code(s string) string { return strings.NewReplacer("`", "'", "\n", " ").Replace(s) }

// fenceFor returns a code fence longer than any run of backticks in s.
func fenceFor(s string) string {
	longest, run := 0, 0
	for _, c := range s {
		if c == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return strings.Repeat("`", max(3, longest+1))
}
