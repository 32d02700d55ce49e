package yamlenc

// The emitter's block-context state and scalar writers, copied from
// go.yaml.in/yaml/v2 v2.4.2 emitterc.go (itself a port of libyaml; MIT
// and Apache 2.0 licensed) and cut down to what yaml.v2's Marshal uses:
// UTF-8 output with unicode, indent 2, width 80, no tags, anchors or
// canonical form. Keep the logic as upstream has it, quirks included (a
// string starting with a byte order mark escapes every character when
// double quoted): identity with upstream is the point.

const (
	bestIndent = 2
	bestWidth  = 80
)

type scalarStyle int

const (
	stylePlain scalarStyle = iota
	styleSingleQuoted
	styleDoubleQuoted
	styleLiteral
)

type emitter struct {
	buf []byte

	column     int
	indent     int
	indents    []int
	whitespace bool
	indention  bool
	flowLevel  int

	rootCtx, sequenceCtx, mappingCtx, simpleKeyCtx bool

	// yaml_emitter_analyze_scalar's result for the current scalar.
	multiline           bool
	flowPlainAllowed    bool
	blockPlainAllowed   bool
	singleQuotedAllowed bool
	blockAllowed        bool
}

func (e *emitter) increaseIndent(flow, indentless bool) {
	e.indents = append(e.indents, e.indent)
	if e.indent < 0 {
		if flow {
			e.indent = bestIndent
		} else {
			e.indent = 0
		}
	} else if !indentless {
		e.indent += bestIndent
	}
}

func (e *emitter) popIndent() {
	e.indent = e.indents[len(e.indents)-1]
	e.indents = e.indents[:len(e.indents)-1]
}

// scalar is yaml_emitter_emit_scalar for an implicit, untagged scalar of
// the requested style.
func (e *emitter) scalar(value string, style scalarStyle) {
	simple := simpleASCII(value)
	if simple {
		// What analyze finds for such a string.
		e.multiline = false
		e.flowPlainAllowed, e.blockPlainAllowed, e.singleQuotedAllowed, e.blockAllowed = true, true, true, true
	} else {
		e.analyze(value)
	}
	style = e.selectStyle(value, style)
	e.increaseIndent(true, false)
	v := value
	switch style {
	case stylePlain:
		if simple {
			// writePlain without spaces or breaks to look at.
			if !e.whitespace {
				e.put(' ')
			}
			e.buf = append(e.buf, v...)
			e.column += len(v)
			e.whitespace = false
			e.indention = false
			break
		}
		e.writePlain(v, !e.simpleKeyCtx)
	case styleSingleQuoted:
		e.writeSingleQuoted(v, !e.simpleKeyCtx)
	case styleDoubleQuoted:
		e.writeDoubleQuoted(v, !e.simpleKeyCtx)
	case styleLiteral:
		e.writeLiteral(v)
	}
	e.popIndent()
}

// simpleChar are the ASCII characters that analyze passes over anywhere
// in a scalar without a finding, save "---" and "..." at its start and a
// "-" followed by nothing (or, outside this set, a blank).
var simpleChar = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._/+=()$;~^<\\" {
		t[c] = true
	}
	return t
}()

// simpleASCII tells whether value is non-empty, made of simpleChar only
// and is not "-" and does not start with "---" or "...": analyze then allows every style
// and writePlain copies it as it is.
func simpleASCII(value string) bool {
	if len(value) == 0 {
		return false
	}
	for i := 0; i < len(value); i++ {
		if !simpleChar[value[i]] {
			return false
		}
	}
	if len(value) >= 3 && (value[:3] == "---" || value[:3] == "...") || value == "-" {
		return false
	}
	return true
}

// selectStyle is yaml_emitter_select_scalar_style.
func (e *emitter) selectStyle(value string, style scalarStyle) scalarStyle {
	if e.simpleKeyCtx && e.multiline {
		style = styleDoubleQuoted
	}
	if style == stylePlain {
		if e.flowLevel > 0 && !e.flowPlainAllowed || e.flowLevel == 0 && !e.blockPlainAllowed {
			style = styleSingleQuoted
		}
		if len(value) == 0 && (e.flowLevel > 0 || e.simpleKeyCtx) {
			style = styleSingleQuoted
		}
	}
	if style == styleSingleQuoted {
		if !e.singleQuotedAllowed {
			style = styleDoubleQuoted
		}
	}
	if style == styleLiteral {
		if !e.blockAllowed || e.flowLevel > 0 || e.simpleKeyCtx {
			style = styleDoubleQuoted
		}
	}
	return style
}

// analyze is yaml_emitter_analyze_scalar.
func (e *emitter) analyze(value string) {
	var (
		blockIndicators   = false
		flowIndicators    = false
		lineBreaks        = false
		specialCharacters = false

		leadingSpace  = false
		leadingBreak  = false
		trailingSpace = false
		trailingBreak = false
		breakSpace    = false
		spaceBreak    = false

		precededByWhitespace = false
		followedByWhitespace = false
		previousSpace        = false
		previousBreak        = false
	)

	if len(value) == 0 {
		e.multiline = false
		e.flowPlainAllowed = false
		e.blockPlainAllowed = true
		e.singleQuotedAllowed = true
		e.blockAllowed = false
		return
	}

	if len(value) >= 3 && ((value[0] == '-' && value[1] == '-' && value[2] == '-') || (value[0] == '.' && value[1] == '.' && value[2] == '.')) {
		blockIndicators = true
		flowIndicators = true
	}

	precededByWhitespace = true
	for i, w := 0, 0; i < len(value); i += w {
		w = width(value[i])
		followedByWhitespace = i+w >= len(value) || isBlank(value, i+w)

		if i == 0 {
			switch value[i] {
			case '#', ',', '[', ']', '{', '}', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`':
				flowIndicators = true
				blockIndicators = true
			case '?', ':':
				flowIndicators = true
				if followedByWhitespace {
					blockIndicators = true
				}
			case '-':
				if followedByWhitespace {
					flowIndicators = true
					blockIndicators = true
				}
			}
		} else {
			switch value[i] {
			case ',', '?', '[', ']', '{', '}':
				flowIndicators = true
			case ':':
				flowIndicators = true
				if followedByWhitespace {
					blockIndicators = true
				}
			case '#':
				if precededByWhitespace {
					flowIndicators = true
					blockIndicators = true
				}
			}
		}

		if !isPrintable(value, i) {
			specialCharacters = true
		}
		if isSpace(value, i) {
			if i == 0 {
				leadingSpace = true
			}
			if i+width(value[i]) == len(value) {
				trailingSpace = true
			}
			if previousBreak {
				breakSpace = true
			}
			previousSpace = true
			previousBreak = false
		} else if isBreak(value, i) {
			lineBreaks = true
			if i == 0 {
				leadingBreak = true
			}
			if i+width(value[i]) == len(value) {
				trailingBreak = true
			}
			if previousSpace {
				spaceBreak = true
			}
			previousSpace = false
			previousBreak = true
		} else {
			previousSpace = false
			previousBreak = false
		}

		precededByWhitespace = isBlankz(value, i)
	}

	e.multiline = lineBreaks
	e.flowPlainAllowed = true
	e.blockPlainAllowed = true
	e.singleQuotedAllowed = true
	e.blockAllowed = true

	if leadingSpace || leadingBreak || trailingSpace || trailingBreak {
		e.flowPlainAllowed = false
		e.blockPlainAllowed = false
	}
	if trailingSpace {
		e.blockAllowed = false
	}
	if breakSpace {
		e.flowPlainAllowed = false
		e.blockPlainAllowed = false
		e.singleQuotedAllowed = false
	}
	if spaceBreak || specialCharacters {
		e.flowPlainAllowed = false
		e.blockPlainAllowed = false
		e.singleQuotedAllowed = false
		e.blockAllowed = false
	}
	if lineBreaks {
		e.flowPlainAllowed = false
		e.blockPlainAllowed = false
	}
	if flowIndicators {
		e.flowPlainAllowed = false
	}
	if blockIndicators {
		e.blockPlainAllowed = false
	}
}

// put, putBreak, write and writeBreak are the emitter's output primitives;
// column counts characters, not bytes.
func (e *emitter) put(c byte) {
	e.buf = append(e.buf, c)
	e.column++
}

func (e *emitter) putBreak() {
	e.buf = append(e.buf, '\n')
	e.column = 0
}

func (e *emitter) write(s string, i *int) {
	w := width(s[*i])
	e.buf = append(e.buf, s[*i:*i+w]...)
	e.column++
	*i += w
}

func (e *emitter) writeBreak(s string, i *int) {
	if s[*i] == '\n' {
		e.putBreak()
		*i++
	} else {
		e.write(s, i)
		e.column = 0
	}
}

func (e *emitter) writeIndent() {
	indent := e.indent
	if indent < 0 {
		indent = 0
	}
	if !e.indention || e.column > indent || (e.column == indent && !e.whitespace) {
		e.putBreak()
	}
	for e.column < indent {
		e.put(' ')
	}
	e.whitespace = true
	e.indention = true
}

func (e *emitter) writeIndicator(indicator string, needWhitespace, isWhitespace, isIndention bool) {
	if needWhitespace && !e.whitespace {
		e.put(' ')
	}
	for i := 0; i < len(indicator); {
		e.write(indicator, &i)
	}
	e.whitespace = isWhitespace
	e.indention = e.indention && isIndention
}

func (e *emitter) writePlain(value string, allowBreaks bool) {
	if !e.whitespace {
		e.put(' ')
	}
	spaces := false
	breaks := false
	for i := 0; i < len(value); {
		if isSpace(value, i) {
			if allowBreaks && !spaces && e.column > bestWidth && !isSpace(value, i+1) {
				e.writeIndent()
				i += width(value[i])
			} else {
				e.write(value, &i)
			}
			spaces = true
		} else if isBreak(value, i) {
			if !breaks && value[i] == '\n' {
				e.putBreak()
			}
			e.writeBreak(value, &i)
			e.indention = true
			breaks = true
		} else {
			if breaks {
				e.writeIndent()
			}
			e.write(value, &i)
			e.indention = false
			spaces = false
			breaks = false
		}
	}
	e.whitespace = false
	e.indention = false
}

func (e *emitter) writeSingleQuoted(value string, allowBreaks bool) {
	e.writeIndicator("'", true, false, false)
	spaces := false
	breaks := false
	for i := 0; i < len(value); {
		if isSpace(value, i) {
			if allowBreaks && !spaces && e.column > bestWidth && i > 0 && i < len(value)-1 && !isSpace(value, i+1) {
				e.writeIndent()
				i += width(value[i])
			} else {
				e.write(value, &i)
			}
			spaces = true
		} else if isBreak(value, i) {
			if !breaks && value[i] == '\n' {
				e.putBreak()
			}
			e.writeBreak(value, &i)
			e.indention = true
			breaks = true
		} else {
			if breaks {
				e.writeIndent()
			}
			if value[i] == '\'' {
				e.put('\'')
			}
			e.write(value, &i)
			e.indention = false
			spaces = false
			breaks = false
		}
	}
	e.writeIndicator("'", false, false, false)
	e.whitespace = false
	e.indention = false
}

func (e *emitter) writeDoubleQuoted(value string, allowBreaks bool) {
	spaces := false
	e.writeIndicator(`"`, true, false, false)
	for i := 0; i < len(value); {
		if !isPrintable(value, i) || isBOM(value) || isBreak(value, i) || value[i] == '"' || value[i] == '\\' {
			octet := value[i]
			var w int
			var v rune
			switch {
			case octet&0x80 == 0x00:
				w, v = 1, rune(octet&0x7F)
			case octet&0xE0 == 0xC0:
				w, v = 2, rune(octet&0x1F)
			case octet&0xF0 == 0xE0:
				w, v = 3, rune(octet&0x0F)
			case octet&0xF8 == 0xF0:
				w, v = 4, rune(octet&0x07)
			}
			for k := 1; k < w; k++ {
				octet = value[i+k]
				v = (v << 6) + (rune(octet) & 0x3F)
			}
			i += w

			e.put('\\')
			switch v {
			case 0x00:
				e.put('0')
			case 0x07:
				e.put('a')
			case 0x08:
				e.put('b')
			case 0x09:
				e.put('t')
			case 0x0A:
				e.put('n')
			case 0x0b:
				e.put('v')
			case 0x0c:
				e.put('f')
			case 0x0d:
				e.put('r')
			case 0x1b:
				e.put('e')
			case 0x22:
				e.put('"')
			case 0x5c:
				e.put('\\')
			case 0x85:
				e.put('N')
			case 0xA0:
				e.put('_')
			case 0x2028:
				e.put('L')
			case 0x2029:
				e.put('P')
			default:
				if v <= 0xFF {
					e.put('x')
					w = 2
				} else if v <= 0xFFFF {
					e.put('u')
					w = 4
				} else {
					e.put('U')
					w = 8
				}
				for k := (w - 1) * 4; k >= 0; k -= 4 {
					digit := byte((v >> uint(k)) & 0x0F)
					if digit < 10 {
						e.put(digit + '0')
					} else {
						e.put(digit + 'A' - 10)
					}
				}
			}
			spaces = false
		} else if isSpace(value, i) {
			if allowBreaks && !spaces && e.column > bestWidth && i > 0 && i < len(value)-1 {
				e.writeIndent()
				if isSpace(value, i+1) {
					e.put('\\')
				}
				i += width(value[i])
			} else {
				e.write(value, &i)
			}
			spaces = true
		} else {
			e.write(value, &i)
			spaces = false
		}
	}
	e.writeIndicator(`"`, false, false, false)
	e.whitespace = false
	e.indention = false
}

func (e *emitter) writeBlockScalarHints(value string) {
	if isSpace(value, 0) || isBreak(value, 0) {
		e.writeIndicator(string(rune('0'+bestIndent)), false, false, false)
	}
	var chomp byte
	if len(value) == 0 {
		chomp = '-'
	} else {
		i := len(value) - 1
		for value[i]&0xC0 == 0x80 {
			i--
		}
		if !isBreak(value, i) {
			chomp = '-'
		} else if i == 0 {
			chomp = '+'
		} else {
			i--
			for value[i]&0xC0 == 0x80 {
				i--
			}
			if isBreak(value, i) {
				chomp = '+'
			}
		}
	}
	if chomp != 0 {
		e.writeIndicator(string(chomp), false, false, false)
	}
}

func (e *emitter) writeLiteral(value string) {
	e.writeIndicator("|", true, false, false)
	e.writeBlockScalarHints(value)
	e.putBreak()
	e.indention = true
	e.whitespace = true
	breaks := true
	for i := 0; i < len(value); {
		if isBreak(value, i) {
			e.writeBreak(value, &i)
			e.indention = true
			breaks = true
		} else {
			if breaks {
				e.writeIndent()
			}
			e.write(value, &i)
			e.indention = false
			breaks = false
		}
	}
}

// Character classes, from yamlprivateh.go. Upstream indexes past the
// character it looks at where UTF-8 guarantees more bytes; at (the
// helpers' index) keeps that safe for strings, which are valid UTF-8 here.

func isPrintable(b string, i int) bool {
	return ((b[i] == 0x0A) || // . == #x0A
		(b[i] >= 0x20 && b[i] <= 0x7E) || // #x20 <= . <= #x7E
		(b[i] == 0xC2 && b[i+1] >= 0xA0) || // #0xA0 <= . <= #xD7FF
		(b[i] > 0xC2 && b[i] < 0xED) ||
		(b[i] == 0xED && b[i+1] < 0xA0) ||
		(b[i] == 0xEE) ||
		(b[i] == 0xEF && // #xE000 <= . <= #xFFFD
			!(b[i+1] == 0xBB && b[i+2] == 0xBF) && // && . != #xFEFF
			!(b[i+1] == 0xBF && (b[i+2] == 0xBE || b[i+2] == 0xBF))))
}

// isBOM looks at the start of the value wherever the writer is, as
// upstream's is_bom does.
func isBOM(b string) bool {
	return len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF
}

func isSpace(b string, i int) bool {
	return b[i] == ' '
}

func isBlank(b string, i int) bool {
	return b[i] == ' ' || b[i] == '\t'
}

func isBreak(b string, i int) bool {
	return (b[i] == '\r' || // CR (#xD)
		b[i] == '\n' || // LF (#xA)
		b[i] == 0xC2 && b[i+1] == 0x85 || // NEL (#x85)
		b[i] == 0xE2 && b[i+1] == 0x80 && b[i+2] == 0xA8 || // LS (#x2028)
		b[i] == 0xE2 && b[i+1] == 0x80 && b[i+2] == 0xA9) // PS (#x2029)
}

func isBlankz(b string, i int) bool {
	return (b[i] == ' ' || b[i] == '\t' ||
		b[i] == '\r' || // CR (#xD)
		b[i] == '\n' || // LF (#xA)
		b[i] == 0xC2 && b[i+1] == 0x85 || // NEL (#x85)
		b[i] == 0xE2 && b[i+1] == 0x80 && b[i+2] == 0xA8 || // LS (#x2028)
		b[i] == 0xE2 && b[i+1] == 0x80 && b[i+2] == 0xA9 || // PS (#x2029)
		b[i] == 0)
}

func width(b byte) int {
	if b&0x80 == 0x00 {
		return 1
	}
	if b&0xE0 == 0xC0 {
		return 2
	}
	if b&0xF0 == 0xE0 {
		return 3
	}
	if b&0xF8 == 0xF0 {
		return 4
	}
	return 0
}
