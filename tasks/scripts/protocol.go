package scripts

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/relayflow/relay/secrets"
	"github.com/relayflow/relay/tasks"
)

// Kestra's output protocol: a line (of stdout or stderr) that is
// `::` + one JSON object + `::` is read, not logged:
//
//	::{"outputs": {"rows": 3}}::                                  -> vars.rows
//	::{"metrics": [{"name": "rows", "type": "counter", "value": 3, "tags": {"table": "orders"}}]}::
//	::{"logs": [{"level": "WARN", "message": "2 rows skipped"}]}::
//
// Several keys may share one line. A line of that shape whose JSON does not
// decode is logged at WARN with the reason: a script's mistake is its own
// log line, never a failure of the task.

const (
	protoPrefix = "::{"
	protoSuffix = "}::"
	// maxProtocolLine bounds one protocol line; a longer one is dropped
	// with a warning (outputs that large belong in outputFiles).
	maxProtocolLine = 1 << 20
)

// collector gathers what the protocol lines of an attempt say. It is
// safe for the two readers (stdout, stderr) at once.
type collector struct {
	log *slog.Logger
	// mask hides the attempt's secrets in every line before it is cut or
	// kept (nil: none); outputs and metrics are the caller's to mask.
	mask    *secrets.Masker
	mu      sync.Mutex
	outputs map[string]any
	metrics []tasks.Metric
}

func newCollector(log *slog.Logger, mask *secrets.Masker) *collector {
	return &collector{log: log, mask: mask, outputs: map[string]any{}}
}

// vars returns the outputs gathered so far.
func (c *collector) vars() map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]any, len(c.outputs))
	for k, v := range c.outputs {
		out[k] = v
	}
	return out
}

// isProtocol tells whether line has the protocol's shape.
func isProtocol(line string) bool {
	return len(line) >= len(protoPrefix)+len(protoSuffix)-1 && strings.HasPrefix(line, protoPrefix) && strings.HasSuffix(line, protoSuffix)
}

// handle reads one protocol line.
func (c *collector) handle(line string) {
	raw := line[2 : len(line)-2]
	v, err := tasks.DecodeJSON([]byte(raw))
	if err != nil {
		c.warn(line, err.Error())
		return
	}
	doc, ok := v.(map[string]any)
	if !ok {
		c.warn(line, "not a JSON object")
		return
	}
	if o, ok := doc["outputs"]; ok {
		m, ok := o.(map[string]any)
		if !ok {
			c.warn(line, "outputs is not an object")
		} else {
			c.mu.Lock()
			for k, v := range m {
				c.outputs[k] = v
			}
			c.mu.Unlock()
		}
	}
	if ms, ok := doc["metrics"]; ok {
		c.addMetrics(line, ms)
	}
	if ls, ok := doc["logs"]; ok {
		c.addLogs(line, ls)
	}
}

func (c *collector) warn(line, why string) {
	c.log.Warn("stdout", "line", fmt.Sprintf("invalid output line (%s): %s", why, tasks.Excerpt(c.mask.Text(line), 512)))
}

func (c *collector) addMetrics(line string, v any) {
	list, ok := v.([]any)
	if !ok {
		c.warn(line, "metrics is not a list")
		return
	}
	for i, e := range list {
		m, err := metric(e)
		if err != nil {
			c.warn(line, fmt.Sprintf("metric %d: %v", i, err))
			continue
		}
		c.mu.Lock()
		c.metrics = append(c.metrics, m)
		c.mu.Unlock()
	}
}

func metric(v any) (tasks.Metric, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return tasks.Metric{}, errors.New("not an object")
	}
	name, _ := m["name"].(string)
	typ, _ := m["type"].(string)
	if name == "" {
		return tasks.Metric{}, errors.New("no name")
	}
	if typ != tasks.MetricCounter && typ != tasks.MetricTimer {
		return tasks.Metric{}, fmt.Errorf("type %q: want counter or timer", m["type"])
	}
	var value float64
	switch x := m["value"].(type) {
	case int64:
		value = float64(x)
	case float64:
		value = x
	default:
		return tasks.Metric{}, fmt.Errorf("value %v is not a number", m["value"])
	}
	out := tasks.Metric{Name: name, Type: typ, Value: value}
	if tags, ok := m["tags"].(map[string]any); ok && len(tags) > 0 {
		out.Tags = make(map[string]string, len(tags))
		for k, t := range tags {
			out.Tags[k] = fmt.Sprint(t)
		}
	}
	return out, nil
}

// levels maps Kestra's log levels to slog's.
var levels = map[string]slog.Level{"TRACE": slog.LevelDebug - 4, "DEBUG": slog.LevelDebug, "INFO": slog.LevelInfo, "WARN": slog.LevelWarn, "WARNING": slog.LevelWarn, "ERROR": slog.LevelError}

func (c *collector) addLogs(line string, v any) {
	list, ok := v.([]any)
	if !ok {
		c.warn(line, "logs is not a list")
		return
	}
	for i, e := range list {
		m, ok := e.(map[string]any)
		msg, isText := m["message"].(string)
		if !ok || !isText {
			c.warn(line, fmt.Sprintf("log %d has no message", i))
			continue
		}
		level := slog.LevelInfo
		if l, ok := m["level"].(string); ok {
			if lv, known := levels[strings.ToUpper(l)]; known {
				level = lv
			}
		}
		c.log.Log(context.Background(), level, "log", "line", msg)
	}
}

// consume reads r to its end, line by line as they arrive: protocol lines
// go to proto; the others go to tail (all of them, even past maxLogLine)
// and to logLine (cut to maxLogLine bytes), their secrets masked with
// proto.mask first, so that no cut leaves part of one.
func consume(r io.Reader, tail *tailBuffer, proto *collector, logLine func(line string, truncated bool)) {
	mask := proto.mask
	br := bufio.NewReaderSize(r, maxLogLine)
	var pending []byte // a protocol candidate longer than the buffer
	inProto := false   // reading the rest of such a line
	skipping := false  // inside a long line whose head was logged
	finish := func(raw []byte) {
		line := lineText(raw)
		if isProtocol(line) {
			proto.handle(line)
			return
		}
		line = mask.Text(line)
		tail.write([]byte(mask.Text(string(raw))))
		if len(line) > maxLogLine {
			logLine(lineText(cutPartialRune([]byte(line[:maxLogLine]))), true)
			return
		}
		logLine(line, false)
	}
	for {
		chunk, err := br.ReadSlice('\n')
		complete := !errors.Is(err, bufio.ErrBufferFull)
		if len(chunk) > 0 {
			switch {
			case inProto:
				pending = append(pending, chunk...)
				if len(pending) > maxProtocolLine {
					proto.warn(mask.Piece(string(pending[:512]), false, true), fmt.Sprintf("longer than %d bytes; dropped", maxProtocolLine))
					inProto, skipping, pending = false, !complete, nil
				} else if complete {
					inProto = false
					finish(pending)
					pending = nil
				}
			case skipping:
				tail.write([]byte(mask.Piece(string(chunk), true, !complete)))
				skipping = !complete
			case bytes.HasPrefix(chunk, []byte(protoPrefix)) && !complete:
				inProto, pending = true, append(pending[:0], chunk...)
			case !complete:
				tail.write([]byte(mask.Piece(string(chunk), false, true)))
				logLine(mask.Piece(lineText(cutPartialRune(chunk)), false, true), true)
				skipping = true
			default:
				finish(chunk)
			}
		}
		if !complete {
			continue
		}
		if err != nil {
			if inProto { // the stream ended inside a long candidate
				finish(pending)
			}
			return
		}
	}
}
