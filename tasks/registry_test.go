package tasks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/tasks/taskstest"
)

func TestBuiltinValidatesConfig(t *testing.T) {
	_, err := Builtin(Config{MaxHTTPBody: -1})
	if err == nil || !strings.Contains(err.Error(), "MaxHTTPBody") {
		t.Errorf("Builtin with a negative MaxHTTPBody: %v", err)
	}
}

func TestRegistryRun(t *testing.T) {
	reg := NewRegistry()
	reg.Register("ok", RunnerFunc(func(ctx context.Context, req Request) (Result, error) {
		req.Log.Info("ran") // a nil Log must have been replaced
		return Result{Outputs: map[string]any{"attempt": int64(req.Attempt)}}, nil
	}))
	reg.Register("plain-error", RunnerFunc(func(ctx context.Context, req Request) (Result, error) {
		return Result{Outputs: map[string]any{"partial": true}}, errors.New("connection reset")
	}))
	reg.Register("panics", RunnerFunc(func(ctx context.Context, req Request) (Result, error) {
		panic("boom")
	}))

	t.Run("known type", func(t *testing.T) {
		res, err := reg.Run(context.Background(), Request{Type: "ok", Attempt: 2})
		if err != nil || res.Outputs["attempt"] != int64(2) {
			t.Fatalf("got %v, %v", res, err)
		}
	})
	t.Run("unknown type is fatal", func(t *testing.T) {
		_, err := reg.Run(context.Background(), Request{Type: "nope"})
		te := wantTaskError(t, err, KindFatal, typeUnknownTaskType)
		if !strings.Contains(te.Message, `"nope"`) {
			t.Errorf("message %q does not name the type", te.Message)
		}
	})
	t.Run("errors are classified and outputs kept", func(t *testing.T) {
		res, err := reg.Run(context.Background(), Request{Type: "plain-error"})
		wantTaskError(t, err, KindRetryable, typeError)
		if res.Outputs["partial"] != true {
			t.Errorf("outputs lost: %v", res.Outputs)
		}
	})
	t.Run("panic becomes a fatal error", func(t *testing.T) {
		rec := newRecorder()
		_, err := reg.Run(context.Background(), Request{Type: "panics", Log: rec.Logger()})
		wantTaskError(t, err, KindFatal, typePanic)
		if len(rec.WithMsg("task runner panicked")) != 1 {
			t.Errorf("panic not logged: %v", rec.All())
		}
	})
	t.Run("register replaces", func(t *testing.T) {
		r := NewRegistry()
		r.Register("x", RunnerFunc(func(context.Context, Request) (Result, error) { return Result{Warning: false}, nil }))
		r.Register("x", RunnerFunc(func(context.Context, Request) (Result, error) { return Result{Warning: true}, nil }))
		res, _ := r.Run(context.Background(), Request{Type: "x"})
		if !res.Warning {
			t.Error("second registration did not replace the first")
		}
	})
	t.Run("concurrent lookups and registrations", func(t *testing.T) {
		r := NewRegistry()
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(2)
			go func() { defer wg.Done(); r.Register(fmt.Sprint(i), RunnerFunc(nil)) }()
			go func() { defer wg.Done(); r.Lookup(fmt.Sprint(i)) }()
		}
		wg.Wait()
	})
}

func TestClassify(t *testing.T) {
	typed := &Error{Kind: KindFatal, Type: "HTTPStatus", Message: "status 404"}
	tests := []struct {
		name     string
		err      error
		kind     Kind
		typ      string
		sameAsIn bool
	}{
		{"typed error kept", typed, KindFatal, "HTTPStatus", true},
		{"wrapped typed error kept", fmt.Errorf("running: %w", typed), KindFatal, "HTTPStatus", true},
		{"deadline is a timeout", context.DeadlineExceeded, KindTimeout, typeTimeout, false},
		{"wrapped deadline is a timeout", fmt.Errorf("reading: %w", context.DeadlineExceeded), KindTimeout, typeTimeout, false},
		{"cancellation is retryable", context.Canceled, KindRetryable, typeCanceled, false},
		{"anything else is retryable", io.ErrUnexpectedEOF, KindRetryable, typeError, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Classify(tt.err)
			if got.Kind != tt.kind || got.Type != tt.typ {
				t.Fatalf("Classify(%v) = %s/%s, want %s/%s", tt.err, got.Kind, got.Type, tt.kind, tt.typ)
			}
			if tt.sameAsIn && got != typed {
				t.Error("typed error not kept as it is")
			}
			if !tt.sameAsIn && !errors.Is(got, tt.err) {
				t.Error("cause not reachable with errors.Is")
			}
		})
	}
	if Classify(nil) != nil {
		t.Error("Classify(nil) is not nil")
	}
}

func TestErrorText(t *testing.T) {
	cause := errors.New("dial tcp: refused")
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Type: "HTTPStatus", Message: "status 500"}, "HTTPStatus: status 500"},
		{&Error{Type: "HTTPTransport", Message: "sending GET", Err: cause}, "HTTPTransport: sending GET: dial tcp: refused"},
		{&Error{Type: "X", Err: cause}, "X: dial tcp: refused"},
		{&Error{Kind: KindFatal}, "fatal task error"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestLog(t *testing.T) {
	tests := []struct {
		name    string
		props   map[string]any
		want    []taskstest.Record
		errType string
	}{
		{"string at default level", map[string]any{"message": "hello"}, []taskstest.Record{{Level: slog.LevelInfo, Msg: "hello"}}, ""},
		{"list of messages", map[string]any{"message": []any{"one", "two"}, "level": "WARN"}, []taskstest.Record{{Level: slog.LevelWarn, Msg: "one"}, {Level: slog.LevelWarn, Msg: "two"}}, ""},
		{"TRACE is DEBUG", map[string]any{"message": "t", "level": "TRACE"}, []taskstest.Record{{Level: slog.LevelDebug, Msg: "t"}}, ""},
		{"DEBUG", map[string]any{"message": "d", "level": "DEBUG"}, []taskstest.Record{{Level: slog.LevelDebug, Msg: "d"}}, ""},
		{"INFO", map[string]any{"message": "i", "level": "INFO"}, []taskstest.Record{{Level: slog.LevelInfo, Msg: "i"}}, ""},
		{"ERROR", map[string]any{"message": "e", "level": "ERROR"}, []taskstest.Record{{Level: slog.LevelError, Msg: "e"}}, ""},
		{"typed values are printed", map[string]any{"message": []any{int64(42), map[string]any{"a": true}}}, []taskstest.Record{{Level: slog.LevelInfo, Msg: "42"}, {Level: slog.LevelInfo, Msg: `{"a":true}`}}, ""},
		{"bad level", map[string]any{"message": "x", "level": "LOUD"}, nil, typeInvalidProperty},
		{"missing message", map[string]any{"level": "INFO"}, nil, typeInvalidProperty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder()
			req := newRequest(flow.TypeLog, tt.props)
			req.Log = rec.Logger()
			res, err := NewLog().Run(context.Background(), req)
			if tt.errType != "" {
				wantTaskError(t, err, KindFatal, tt.errType)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Outputs) != 0 {
				t.Errorf("log has outputs: %v", res.Outputs)
			}
			var got []taskstest.Record
			for _, r := range rec.All() {
				got = append(got, taskstest.Record{Level: r.Level, Msg: r.Msg})
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("logged %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReturnAndOutputValues(t *testing.T) {
	tests := []struct {
		name    string
		run     Runner
		props   map[string]any
		want    map[string]any
		errText string
	}{
		{"return text", NewReturn(), map[string]any{"format": "hi"}, map[string]any{"value": "hi"}, ""},
		{"return a typed value as text, as Kestra", NewReturn(), map[string]any{"format": []any{int64(1), 2.5}}, map[string]any{"value": "[1,2.5]"}, ""},
		{"return a number as text", NewReturn(), map[string]any{"format": int64(4)}, map[string]any{"value": "4"}, ""},
		{"return null as empty text", NewReturn(), map[string]any{"format": nil}, map[string]any{"value": ""}, ""},
		{"return without format", NewReturn(), map[string]any{}, nil, "property format"},
		{"values", NewOutputValues(), map[string]any{"values": map[string]any{"a": int64(1), "b": "x"}}, map[string]any{"values": map[string]any{"a": int64(1), "b": "x"}}, ""},
		{"values not a map", NewOutputValues(), map[string]any{"values": []any{"a"}}, nil, "property values: want a map, got a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := tt.run.Run(context.Background(), newRequest("", tt.props))
			if tt.errText != "" {
				te := wantTaskError(t, err, KindFatal, typeInvalidProperty)
				if !strings.Contains(te.Error(), tt.errText) {
					t.Errorf("error %q does not contain %q", te, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.Outputs, tt.want) {
				t.Errorf("outputs %v, want %v", res.Outputs, tt.want)
			}
		})
	}
}

// busStub is a small in-memory bus: it keeps the events and numbers them.
type busStub struct {
	mu     sync.Mutex
	events []Event
	err    error
}

func (b *busStub) Emit(ctx context.Context, ev Event) (string, error) {
	if b.err != nil {
		return "", b.err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.events = append(b.events, ev)
	return fmt.Sprintf("evt-%d", len(b.events)), nil
}

func TestEmit(t *testing.T) {
	tests := []struct {
		name    string
		props   map[string]any
		want    Event
		errType string
		errText string
	}{
		{
			name:  "defaults",
			props: map[string]any{"eventType": "com.acme.order.created"},
			want:  Event{Type: "com.acme.order.created", Source: "relay/company.team/hello", Extensions: map[string]string{ExtensionExecution: "exec-1"}},
		},
		{
			name: "every attribute",
			props: map[string]any{
				"eventType": "com.acme.order.created", "source": "shop", "subject": "order/42",
				"data":       map[string]any{"id": int64(42)},
				"extensions": map[string]any{"tenant": "acme", "priority": int64(3)},
			},
			want: Event{Type: "com.acme.order.created", Source: "shop", Subject: "order/42", Data: map[string]any{"id": int64(42)}, Extensions: map[string]string{"tenant": "acme", "priority": "3", ExtensionExecution: "exec-1"}},
		},
		{name: "missing eventType", props: map[string]any{}, errType: typeInvalidProperty, errText: "property eventType"},
		{name: "bad extension name", props: map[string]any{"eventType": "x", "extensions": map[string]any{"Tenant-ID": "a"}}, errType: typeInvalidProperty, errText: "property extensions"},
		{name: "reserved extension", props: map[string]any{"eventType": "x", "extensions": map[string]any{"time": "a"}}, errType: typeInvalidProperty, errText: "context attribute"},
		{name: "extensions not a map", props: map[string]any{"eventType": "x", "extensions": "a=b"}, errType: typeInvalidProperty, errText: "property extensions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bus := &busStub{}
			res, err := NewEmit(bus).Run(context.Background(), newRequest(flow.TypeEmit, tt.props))
			if tt.errType != "" {
				te := wantTaskError(t, err, KindFatal, tt.errType)
				if !strings.Contains(te.Error(), tt.errText) {
					t.Errorf("error %q does not contain %q", te, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Outputs["id"] != "evt-1" {
				t.Errorf("outputs %v", res.Outputs)
			}
			if len(bus.events) != 1 || !reflect.DeepEqual(bus.events[0], tt.want) {
				t.Errorf("published %+v, want %+v", bus.events, tt.want)
			}
		})
	}

	t.Run("no bus is fatal", func(t *testing.T) {
		_, err := NewEmit(nil).Run(context.Background(), newRequest(flow.TypeEmit, map[string]any{"eventType": "x"}))
		te := wantTaskError(t, err, KindFatal, typeNoBus)
		if !strings.Contains(te.Message, "no event bus is configured") {
			t.Errorf("message %q", te.Message)
		}
	})
	t.Run("bus failure is retryable", func(t *testing.T) {
		_, err := NewEmit(&busStub{err: errors.New("broker unavailable")}).Run(context.Background(), newRequest(flow.TypeEmit, map[string]any{"eventType": "x"}))
		te := wantTaskError(t, err, KindRetryable, typeEmit)
		if !strings.Contains(te.Error(), "broker unavailable") {
			t.Errorf("error %q lost the cause", te)
		}
	})
	t.Run("typed bus error kept", func(t *testing.T) {
		bus := &busStub{err: &Error{Kind: KindFatal, Type: "EventTooLarge", Message: "too large"}}
		_, err := NewEmit(bus).Run(context.Background(), newRequest(flow.TypeEmit, map[string]any{"eventType": "x"}))
		wantTaskError(t, err, KindFatal, "EventTooLarge")
	})
	t.Run("through Builtin", func(t *testing.T) {
		bus := &busStub{}
		reg, err := Builtin(Config{Emitter: bus})
		if err != nil {
			t.Fatal(err)
		}
		res, err := reg.Run(context.Background(), newRequest(flow.TypeEmit, map[string]any{"eventType": "x"}))
		if err != nil || res.Outputs["id"] != "evt-1" {
			t.Fatalf("got %v, %v", res, err)
		}
	})
}
