// Package taskstest has what tests of task runners share: a slog handler
// that records what a runner logged.
package taskstest

import (
	"context"
	"log/slog"
	"sync"
)

// Record is one record a runner wrote to its logger.
type Record struct {
	Level slog.Level
	Msg   string
	Attrs map[string]any
}

// Recorder is a slog handler that keeps every record, for assertions on
// what a task logged. It is safe for concurrent writers (a script's stdout
// and stderr readers). Notify receives a value after each record, without
// blocking.
type Recorder struct {
	mu      sync.Mutex
	records []Record
	Notify  chan struct{}
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder { return &Recorder{Notify: make(chan struct{}, 1)} }

// Logger returns a logger writing to r.
func (r *Recorder) Logger() *slog.Logger { return slog.New(r) }

// Enabled is true at every level.
func (r *Recorder) Enabled(context.Context, slog.Level) bool { return true }

// WithAttrs returns r: attributes of the logger are not recorded.
func (r *Recorder) WithAttrs([]slog.Attr) slog.Handler { return r }

// WithGroup returns r.
func (r *Recorder) WithGroup(string) slog.Handler { return r }

// Handle keeps rec.
func (r *Recorder) Handle(_ context.Context, rec slog.Record) error {
	lr := Record{Level: rec.Level, Msg: rec.Message, Attrs: map[string]any{}}
	rec.Attrs(func(a slog.Attr) bool {
		lr.Attrs[a.Key] = a.Value.Any()
		return true
	})
	r.mu.Lock()
	r.records = append(r.records, lr)
	r.mu.Unlock()
	select {
	case r.Notify <- struct{}{}:
	default:
	}
	return nil
}

// All returns the records so far.
func (r *Recorder) All() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Record(nil), r.records...)
}

// WithMsg returns the records whose message is msg.
func (r *Recorder) WithMsg(msg string) []Record {
	var out []Record
	for _, rec := range r.All() {
		if rec.Msg == msg {
			out = append(out, rec)
		}
	}
	return out
}

// Lines returns the "line" attributes of the records with message msg.
func (r *Recorder) Lines(msg string) []string {
	var out []string
	for _, rec := range r.WithMsg(msg) {
		s, _ := rec.Attrs["line"].(string)
		out = append(out, s)
	}
	return out
}
