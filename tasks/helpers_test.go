package tasks

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"testing"
)

// logRecord is one record a runner wrote to Request.Log.
type logRecord struct {
	Level slog.Level
	Msg   string
	Attrs map[string]any
}

// recorder is a slog handler that keeps every record, for assertions on what
// a task logged. It is safe for the concurrent writers shell.commands has.
type recorder struct {
	mu      sync.Mutex
	records []logRecord
	notify  chan struct{}
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 1)} }

func (r *recorder) logger() *slog.Logger                     { return slog.New(r) }
func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	lr := logRecord{Level: rec.Level, Msg: rec.Message, Attrs: map[string]any{}}
	rec.Attrs(func(a slog.Attr) bool {
		lr.Attrs[a.Key] = a.Value.Any()
		return true
	})
	r.mu.Lock()
	r.records = append(r.records, lr)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
	return nil
}

func (r *recorder) all() []logRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]logRecord(nil), r.records...)
}

// withMsg returns the records whose message is msg.
func (r *recorder) withMsg(msg string) []logRecord {
	var out []logRecord
	for _, rec := range r.all() {
		if rec.Msg == msg {
			out = append(out, rec)
		}
	}
	return out
}

// lines returns the "line" attributes of the records with message msg.
func (r *recorder) lines(msg string) []string {
	var out []string
	for _, rec := range r.withMsg(msg) {
		s, _ := rec.Attrs["line"].(string)
		out = append(out, s)
	}
	return out
}

// wantTaskError checks that err is an *Error of the given kind and type.
func wantTaskError(t *testing.T, err error, kind Kind, typ string) *Error {
	t.Helper()
	if err == nil {
		t.Fatalf("want a %s error of type %q, got none", kind, typ)
	}
	var te *Error
	if !errors.As(err, &te) {
		t.Fatalf("want *Error, got %T: %v", err, err)
	}
	if te.Kind != kind || te.Type != typ {
		t.Fatalf("want %s/%s, got %s/%s: %v", kind, typ, te.Kind, te.Type, te)
	}
	return te
}

func newRequest(typ string, props map[string]any) Request {
	return Request{
		ExecutionID: "exec-1", TaskRunID: "tr-1", TaskID: "task1",
		Namespace: "company.team", FlowID: "hello",
		Type: typ, Attempt: 1, Props: props, AttemptKey: "exec-1/tr-1/1",
	}
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }
