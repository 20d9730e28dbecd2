package scripts

import (
	"reflect"
	"strings"
	"testing"

	"github.com/relayflow/relay/tasks/taskstest"
)

// consumeString runs consume on s and returns the logged lines, the vars
// and the tail.
func consumeString(s string) ([]string, map[string]any, string, *taskstest.Recorder) {
	rec := taskstest.NewRecorder()
	c := newCollector(rec.Logger(), nil)
	tail := &tailBuffer{max: 1 << 20}
	var lines []string
	consume(strings.NewReader(s), tail, c, func(line string, truncated bool) { lines = append(lines, line) })
	return lines, c.vars(), tail.String(), rec
}

func TestConsume_protocolLines(t *testing.T) {
	bigValue := strings.Repeat("v", 100<<10) // past the 8 KiB line buffer
	tests := []struct {
		name  string
		in    string
		lines []string
		vars  map[string]any
		tail  string
	}{
		{"plain lines", "a\nb\n", []string{"a", "b"}, map[string]any{}, "a\nb\n"},
		{"protocol line consumed, not in the tail", "a\n::{\"outputs\": {\"x\": 1}}::\nb\n", []string{"a", "b"}, map[string]any{"x": int64(1)}, "a\nb\n"},
		{"protocol line with CRLF and no final newline", "::{\"outputs\": {\"x\": \"y\"}}::\r", nil, map[string]any{"x": "y"}, ""},
		{"a long protocol line", "::{\"outputs\": {\"big\": \"" + bigValue + "\"}}::\nafter\n", []string{"after"}, map[string]any{"big": bigValue}, "after\n"},
		{"not the protocol's shape", "::{not closed\n:: {\"outputs\": {}}::\n", []string{"::{not closed", ":: {\"outputs\": {}}::"}, map[string]any{}, "::{not closed\n:: {\"outputs\": {}}::\n"},
		{"later outputs win", "::{\"outputs\": {\"x\": 1}}::\n::{\"outputs\": {\"x\": 2, \"y\": [1, {\"z\": null}]}}::\n", nil, map[string]any{"x": int64(2), "y": []any{int64(1), map[string]any{"z": nil}}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lines, vars, tail, _ := consumeString(tc.in)
			if !reflect.DeepEqual(lines, tc.lines) {
				t.Errorf("logged %q, want %q", lines, tc.lines)
			}
			if !reflect.DeepEqual(vars, tc.vars) {
				t.Errorf("vars %v, want %v", vars, tc.vars)
			}
			if tail != tc.tail {
				t.Errorf("tail %q, want %q", tail, tc.tail)
			}
		})
	}
}

func TestConsume_badProtocolLinesAreWarnings(t *testing.T) {
	for _, in := range []string{
		`::{"outputs": }::`,
		`::{"outputs": [1]}::`,
		`::{"metrics": [{"name": "m", "type": "gauge", "value": 1}]}::`,
		`::{"metrics": [{"type": "counter", "value": "x"}]}::`,
		`::{"logs": [{"level": "INFO"}]}::`,
		`::{"metrics": {}}::`,
	} {
		_, vars, _, rec := consumeString(in + "\n")
		warns := rec.WithMsg("stdout")
		if len(warns) != 1 || !strings.Contains(warns[0].Attrs["line"].(string), "invalid output line") || len(vars) != 0 {
			t.Errorf("%s: logged %+v, vars %v; want one warning", in, rec.All(), vars)
		}
	}
}

func TestConsume_tooLongProtocolLineIsDropped(t *testing.T) {
	in := "::{\"outputs\": {\"x\": \"" + strings.Repeat("v", maxProtocolLine) + "\"}}::\nnext\n"
	lines, vars, _, rec := consumeString(in)
	if len(vars) != 0 || !reflect.DeepEqual(lines, []string{"next"}) || len(rec.WithMsg("stdout")) != 1 {
		t.Errorf("lines %q, vars %d, records %d: want the line dropped with a warning", lines, len(vars), len(rec.All()))
	}
}

func FuzzConsume(f *testing.F) {
	for _, s := range []string{"a\nb", "::{\"outputs\": {\"x\": 1}}::\n", "::{\"metrics\": [{\"name\": \"m\", \"type\": \"counter\", \"value\": 1}]}::", "::{\n}::", "::{}::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		lines, _, tail, _ := consumeString(in)
		// Every line logged is a line of the input, and the tail holds the
		// input less its protocol lines: nothing is invented or lost.
		for _, l := range lines {
			if len(l) <= maxLogLine && !strings.Contains(strings.ToValidUTF8(in, "\uFFFD"), strings.TrimSuffix(l, "\r")) {
				t.Fatalf("logged %q, which is not in the input", l)
			}
		}
		if len(tail) > len(in)*3+16 { // invalid bytes may become U+FFFD
			t.Fatalf("tail of %d bytes from %d bytes of input", len(tail), len(in))
		}
	})
}
