package flow

import (
	"fmt"
	"sort"
	"strings"
)

// Pos is a 1-based position in a flow file.
type Pos struct {
	Line int `json:"line"`
	Col  int `json:"col"`
}

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// Diagnostic is one problem found in a flow document. Path is the property
// path inside the document (for example `tasks[2].retry.maxAttempts`).
type Diagnostic struct {
	File string `json:"file,omitempty"`
	Pos  Pos    `json:"pos"`
	Path string `json:"path,omitempty"`
	Msg  string `json:"message"`
	Hint string `json:"hint,omitempty"`
}

func (d Diagnostic) Error() string {
	var b strings.Builder
	if d.File != "" {
		b.WriteString(d.File)
		b.WriteByte(':')
	}
	fmt.Fprintf(&b, "%d:%d: ", d.Pos.Line, d.Pos.Col)
	if d.Path != "" {
		b.WriteString(d.Path)
		b.WriteString(": ")
	}
	b.WriteString(d.Msg)
	if d.Hint != "" {
		b.WriteString(" (")
		b.WriteString(d.Hint)
		b.WriteByte(')')
	}
	return b.String()
}

// Diagnostics is every problem found in a document, in file order. It is the
// error Parse returns, so callers report all problems at once.
type Diagnostics []Diagnostic

func (ds Diagnostics) Error() string {
	lines := make([]string, len(ds))
	for i, d := range ds {
		lines[i] = d.Error()
	}
	return strings.Join(lines, "\n")
}

// sorted returns the diagnostics ordered by position, without exact repeats.
func (ds Diagnostics) sorted() Diagnostics {
	sort.SliceStable(ds, func(i, j int) bool {
		if ds[i].Pos.Line != ds[j].Pos.Line {
			return ds[i].Pos.Line < ds[j].Pos.Line
		}
		return ds[i].Pos.Col < ds[j].Pos.Col
	})
	out := ds[:0]
	for i, d := range ds {
		if i > 0 && d == ds[i-1] {
			continue
		}
		out = append(out, d)
	}
	return out
}

// diagSink collects diagnostics while decoding and validating.
type diagSink struct {
	file  string
	diags Diagnostics
	notes Diagnostics
}

// notef records a note: something the document says that Relay ignores
// or takes differently, which does not make the flow invalid.
func (s *diagSink) notef(pos Pos, path, format string, args ...any) {
	s.notes = append(s.notes, Diagnostic{File: s.file, Pos: pos, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (s *diagSink) add(pos Pos, path, hint, format string, args ...any) {
	s.diags = append(s.diags, Diagnostic{File: s.file, Pos: pos, Path: path, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

func (s *diagSink) errorf(pos Pos, path, format string, args ...any) {
	s.add(pos, path, "", format, args...)
}
