package expr

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrUndefined is wrapped by every EvalError caused by reading an undefined
// variable, a missing map key, an out-of-range index or an attribute of null.
// These are exactly the errors that `??`, `is defined` and `default` absorb.
var ErrUndefined = errors.New("undefined")

// ErrLimit is wrapped by every EvalError caused by exceeding Limits.
var ErrLimit = errors.New("limit exceeded")

// SyntaxError reports a template that cannot be parsed.
type SyntaxError struct {
	Src    string // the whole template source
	Offset int    // byte offset of the error in Src
	Line   int    // 1-based line of Offset
	Col    int    // 1-based column (in runes) of Offset
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("line %d col %d: %s in `%s`", e.Line, e.Col, e.Msg, snippet(e.Src, e.Offset))
}

// EvalError reports a failure while rendering a parsed template.
type EvalError struct {
	Src    string // the whole template source
	Offset int    // byte offset in Src of the expression that failed
	Msg    string // what failed, naming the expression
	Err    error  // underlying cause (ErrUndefined, ErrLimit or a builtin's error); may be nil
}

func (e *EvalError) Error() string {
	line, col := lineCol(e.Src, e.Offset)
	s := fmt.Sprintf("line %d col %d: %s", line, col, e.Msg)
	// The sentinels are already spelled out by Msg; other causes add detail.
	if e.Err != nil && e.Err != ErrUndefined && e.Err != ErrLimit {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *EvalError) Unwrap() error { return e.Err }

func newSyntaxError(src string, off int, format string, args ...any) *SyntaxError {
	line, col := lineCol(src, off)
	return &SyntaxError{Src: src, Offset: off, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

// lineCol converts a byte offset into a 1-based line and rune column.
func lineCol(src string, off int) (line, col int) {
	if off > len(src) {
		off = len(src)
	}
	if off < 0 {
		off = 0
	}
	before := src[:off]
	line = 1 + strings.Count(before, "\n")
	if i := strings.LastIndexByte(before, '\n'); i >= 0 {
		before = before[i+1:]
	}
	return line, 1 + utf8.RuneCountInString(before)
}

// snippet returns the source line around off, shortened to a readable window
// so error messages stay one line even for long templates.
func snippet(src string, off int) string {
	if off > len(src) {
		off = len(src)
	}
	if off < 0 {
		off = 0
	}
	start := strings.LastIndexByte(src[:off], '\n') + 1
	end := len(src)
	if i := strings.IndexByte(src[off:], '\n'); i >= 0 {
		end = off + i
	}
	const half = 30
	prefix, suffix := "", ""
	if off-start > half {
		start = off - half
		for start < off && !utf8.RuneStart(src[start]) {
			start++
		}
		prefix = "..."
	}
	if end-off > half {
		end = off + half
		for end > off && !utf8.RuneStart(src[end]) {
			end--
		}
		suffix = "..."
	}
	return prefix + src[start:end] + suffix
}
