package expr

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

type tokKind uint8

const (
	tEOF       tokKind = iota
	tText              // literal text between tags; val is the (trimmed) text
	tOutOpen           // {{
	tOutClose          // }}
	tStmtOpen          // {%
	tStmtClose         // %}
	tName              // identifier or keyword
	tInt               // integer literal; val is its source
	tFloat             // float literal; val is its source
	tString            // string literal; val is the unescaped value
	tOp                // operator or punctuation; val is its spelling
)

type token struct {
	kind     tokKind
	val      string
	pos, end int // byte span in the source
}

// whitespace trimmed by the `-` whitespace-control markers (Pebble trims all
// whitespace including newlines).
const spaceChars = " \t\r\n\f\v"

// Operators, longest first so that the lexer can match greedily.
var ops3 = []string{"???"}
var ops2 = []string{"??", "..", "//", "==", "!=", "<=", ">=", "&&", "||"}

const ops1 = "+-*/%~<>()[]{},.:?|!="

type lexer struct {
	src      string
	pos      int
	toks     []token
	trimNext bool // the previous tag ended with `-}}`, `-%}` or `-#}`
	hasTags  bool
}

// lex splits a template into text and tag tokens. Expression tokens are
// produced inline between the open/close tokens of each tag.
func lex(src string) ([]token, bool, error) {
	l := &lexer{src: src}
	for l.pos < len(src) {
		i := l.nextTag()
		if i < 0 {
			l.text(src[l.pos:], l.pos, false)
			l.pos = len(src)
			break
		}
		trimLeft := i+2 < len(src) && src[i+2] == '-'
		l.text(src[l.pos:i], l.pos, trimLeft)
		l.hasTags = true
		var err error
		switch src[i+1] {
		case '{':
			err = l.tag(i, tOutOpen, tOutClose)
		case '%':
			if end, ok := l.rawOpen(i); ok {
				err = l.raw(i, end)
			} else {
				err = l.tag(i, tStmtOpen, tStmtClose)
			}
		case '#':
			err = l.comment(i)
		}
		if err != nil {
			return nil, false, err
		}
	}
	l.toks = append(l.toks, token{kind: tEOF, pos: len(src), end: len(src)})
	return l.toks, l.hasTags, nil
}

// nextTag finds the next `{{`, `{%` or `{#` at or after l.pos.
func (l *lexer) nextTag() int {
	for i := l.pos; ; {
		j := strings.IndexByte(l.src[i:], '{')
		if j < 0 {
			return -1
		}
		i += j
		if i+1 < len(l.src) {
			switch l.src[i+1] {
			case '{', '%', '#':
				return i
			}
		}
		i++
	}
}

func (l *lexer) text(s string, pos int, trimRight bool) {
	if l.trimNext {
		n := len(s)
		s = strings.TrimLeft(s, spaceChars)
		pos += n - len(s)
		l.trimNext = false
	}
	if trimRight {
		s = strings.TrimRight(s, spaceChars)
	}
	if s != "" {
		l.toks = append(l.toks, token{kind: tText, val: s, pos: pos, end: pos + len(s)})
	}
}

func (l *lexer) emit(kind tokKind, val string, pos, end int) {
	l.toks = append(l.toks, token{kind: kind, val: val, pos: pos, end: end})
}

// tag lexes one `{{ ... }}` or `{% ... %}` tag starting at start.
func (l *lexer) tag(start int, open, closeKind tokKind) error {
	src := l.src
	p := start + 2
	if p < len(src) && src[p] == '-' {
		p++
	}
	l.emit(open, src[start:p], start, p)
	closer := "}}"
	if open == tStmtOpen {
		closer = "%}"
	}
	// Open brackets: `}}` closes the tag unless a `{` is open, so that maps
	// such as {'a': {'b': 1}} work while `{{ (1 }}` still reports the `)`.
	var brackets []byte
	for {
		for p < len(src) && strings.IndexByte(spaceChars, src[p]) >= 0 {
			p++
		}
		if p >= len(src) {
			return newSyntaxError(src, start, "unclosed `%s`, expected `%s`", src[start:start+2], closer)
		}
		if open == tStmtOpen || len(brackets) == 0 || brackets[len(brackets)-1] != '{' {
			if strings.HasPrefix(src[p:], "-"+closer) {
				l.emit(closeKind, "-"+closer, p, p+3)
				l.pos = p + 3
				l.trimNext = true
				return nil
			}
			if strings.HasPrefix(src[p:], closer) {
				l.emit(closeKind, closer, p, p+2)
				l.pos = p + 2
				return nil
			}
		}
		np, err := l.exprToken(p)
		if err != nil {
			return err
		}
		if last := l.toks[len(l.toks)-1]; last.kind == tOp {
			switch last.val {
			case "(", "[", "{":
				brackets = append(brackets, last.val[0])
			case ")", "]", "}":
				if len(brackets) > 0 {
					brackets = brackets[:len(brackets)-1]
				}
			}
		}
		p = np
	}
}

// exprToken lexes a single expression token at p and returns the new offset.
func (l *lexer) exprToken(p int) (int, error) {
	src := l.src
	c := src[p]
	switch {
	case c == '"' || c == '\'':
		return l.str(p)
	case c >= '0' && c <= '9':
		return l.number(p)
	case c == '_' || c < utf8.RuneSelf && unicode.IsLetter(rune(c)):
		return l.name(p), nil
	case c >= utf8.RuneSelf:
		r, _ := utf8.DecodeRuneInString(src[p:])
		if unicode.IsLetter(r) {
			return l.name(p), nil
		}
		return 0, newSyntaxError(src, p, "unexpected character %q", r)
	}
	for _, op := range ops3 {
		if strings.HasPrefix(src[p:], op) {
			l.emit(tOp, op, p, p+len(op))
			return p + len(op), nil
		}
	}
	for _, op := range ops2 {
		if strings.HasPrefix(src[p:], op) {
			l.emit(tOp, op, p, p+len(op))
			return p + len(op), nil
		}
	}
	if strings.IndexByte(ops1, c) >= 0 {
		l.emit(tOp, src[p:p+1], p, p+1)
		return p + 1, nil
	}
	return 0, newSyntaxError(src, p, "unexpected character %q", rune(c))
}

func (l *lexer) name(p int) int {
	start := p
	for p < len(l.src) {
		r, n := utf8.DecodeRuneInString(l.src[p:])
		if r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			break
		}
		p += n
	}
	l.emit(tName, l.src[start:p], start, p)
	return p
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (l *lexer) number(p int) (int, error) {
	src := l.src
	start := p
	for p < len(src) && isDigit(src[p]) {
		p++
	}
	// After a `.` (attribute access such as `list.0.name`) only an integer
	// makes sense; `0.name` must not become a float.
	afterDot := len(l.toks) > 0 && l.toks[len(l.toks)-1].kind == tOp && l.toks[len(l.toks)-1].val == "."
	isFloat := false
	if !afterDot {
		// `1..3` is a range, so a `.` only starts a fraction when a digit follows.
		if p+1 < len(src) && src[p] == '.' && isDigit(src[p+1]) {
			isFloat = true
			p++
			for p < len(src) && isDigit(src[p]) {
				p++
			}
		}
		if p < len(src) && (src[p] == 'e' || src[p] == 'E') {
			q := p + 1
			if q < len(src) && (src[q] == '+' || src[q] == '-') {
				q++
			}
			if q < len(src) && isDigit(src[q]) {
				isFloat = true
				p = q
				for p < len(src) && isDigit(src[p]) {
					p++
				}
			}
		}
	}
	text := src[start:p]
	if isFloat {
		if _, err := strconv.ParseFloat(text, 64); err != nil {
			return 0, newSyntaxError(src, start, "number `%s` is out of range", text)
		}
		l.emit(tFloat, text, start, p)
	} else {
		if _, err := strconv.ParseInt(text, 10, 64); err != nil {
			return 0, newSyntaxError(src, start, "integer `%s` is out of range", text)
		}
		l.emit(tInt, text, start, p)
	}
	return p, nil
}

// str lexes a quoted string. Unknown escapes keep their backslash so that
// regular expressions such as '\d+' survive unchanged.
func (l *lexer) str(p int) (int, error) {
	src := l.src
	start := p
	q := src[p]
	p++
	var b strings.Builder
	chunk := p
	for {
		if p >= len(src) {
			return 0, newSyntaxError(src, start, "unterminated string")
		}
		c := src[p]
		if c == q {
			break
		}
		if c != '\\' {
			p++
			continue
		}
		b.WriteString(src[chunk:p])
		if p+1 >= len(src) {
			return 0, newSyntaxError(src, start, "unterminated string")
		}
		e := src[p+1]
		p += 2
		switch e {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case '\\', '\'', '"', '/':
			b.WriteByte(e)
		case 'u':
			r, n, ok := unicodeEscape(src[p:])
			if !ok {
				return 0, newSyntaxError(src, p-2, "invalid unicode escape")
			}
			b.WriteRune(r)
			p += n
		default:
			b.WriteByte('\\')
			b.WriteByte(e)
		}
		chunk = p
	}
	var val string
	if b.Len() == 0 {
		val = src[chunk:p]
	} else {
		b.WriteString(src[chunk:p])
		val = b.String()
	}
	l.emit(tString, val, start, p+1)
	return p + 1, nil
}

// unicodeEscape decodes the XXXX of \uXXXX (with an optional following low
// surrogate escape) and reports how many bytes it consumed.
func unicodeEscape(s string) (rune, int, bool) {
	hex4 := func(s string) (rune, bool) {
		if len(s) < 4 {
			return 0, false
		}
		v, err := strconv.ParseUint(s[:4], 16, 32)
		return rune(v), err == nil
	}
	r, ok := hex4(s)
	if !ok {
		return 0, 0, false
	}
	if r >= 0xD800 && r < 0xDC00 && len(s) >= 10 && s[4] == '\\' && s[5] == 'u' {
		if lo, ok := hex4(s[6:]); ok && lo >= 0xDC00 && lo < 0xE000 {
			return (r-0xD800)<<10 + (lo - 0xDC00) + 0x10000, 10, true
		}
	}
	if r >= 0xD800 && r < 0xE000 {
		r = utf8.RuneError
	}
	return r, 4, true
}

// rawOpen reports whether the statement tag at start is `{% raw %}` and
// returns the offset just after it.
func (l *lexer) rawOpen(start int) (int, bool) {
	src := l.src
	p := start + 2
	if p < len(src) && src[p] == '-' {
		p++
	}
	for p < len(src) && strings.IndexByte(spaceChars, src[p]) >= 0 {
		p++
	}
	if !strings.HasPrefix(src[p:], "raw") {
		return 0, false
	}
	p += 3
	for p < len(src) && strings.IndexByte(spaceChars, src[p]) >= 0 {
		p++
	}
	if strings.HasPrefix(src[p:], "-%}") {
		return p + 3, true
	}
	if strings.HasPrefix(src[p:], "%}") {
		return p + 2, true
	}
	return 0, false
}

// raw emits everything up to the matching `{% endraw %}` as literal text.
func (l *lexer) raw(start, bodyStart int) error {
	src := l.src
	trimBody := src[bodyStart-3] == '-'
	for i := bodyStart; ; {
		j := strings.Index(src[i:], "{%")
		if j < 0 {
			return newSyntaxError(src, start, "unclosed `{%% raw %%}`, expected `{%% endraw %%}`")
		}
		i += j
		p := i + 2
		trimEnd := p < len(src) && src[p] == '-'
		if trimEnd {
			p++
		}
		for p < len(src) && strings.IndexByte(spaceChars, src[p]) >= 0 {
			p++
		}
		if !strings.HasPrefix(src[p:], "endraw") {
			i += 2
			continue
		}
		p += 6
		for p < len(src) && strings.IndexByte(spaceChars, src[p]) >= 0 {
			p++
		}
		trimAfter := strings.HasPrefix(src[p:], "-%}")
		if trimAfter {
			p++
		}
		if !strings.HasPrefix(src[p:], "%}") {
			i += 2
			continue
		}
		body := src[bodyStart:i]
		pos := bodyStart
		if trimBody {
			n := len(body)
			body = strings.TrimLeft(body, spaceChars)
			pos += n - len(body)
		}
		if trimEnd {
			body = strings.TrimRight(body, spaceChars)
		}
		if body != "" {
			l.emit(tText, body, pos, pos+len(body))
		}
		l.pos = p + 2
		l.trimNext = trimAfter
		return nil
	}
}

func (l *lexer) comment(start int) error {
	src := l.src
	j := strings.Index(src[start+2:], "#}")
	if j < 0 {
		return newSyntaxError(src, start, "unclosed comment, expected `#}`")
	}
	end := start + 2 + j
	l.trimNext = end > start+2 && src[end-1] == '-'
	l.pos = end + 2
	return nil
}
