package scripts

import (
	"errors"
	"testing"

	"github.com/relayflow/relay/tasks"
)

// newRunner returns the runner of typ, registered with cfg (TempDir
// defaults to a folder of the test, checked empty at its end).
func newRunner(t *testing.T, typ string, cfg Config) tasks.Runner {
	t.Helper()
	reg := tasks.NewRegistry()
	if err := Register(reg, cfg); err != nil {
		t.Fatal(err)
	}
	run, ok := reg.Lookup(typ)
	if !ok {
		t.Fatalf("no runner for %s", typ)
	}
	return run
}

func shell(t *testing.T) tasks.Runner { return newRunner(t, "shell.commands", Config{}) }

// wantTaskError checks that err is a *tasks.Error of the given kind and type.
func wantTaskError(t *testing.T, err error, kind tasks.Kind, typ string) *tasks.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("want a %s error of type %q, got none", kind, typ)
	}
	var te *tasks.Error
	if !errors.As(err, &te) {
		t.Fatalf("want *tasks.Error, got %T: %v", err, err)
	}
	if te.Kind != kind || te.Type != typ {
		t.Fatalf("want %s/%s, got %s/%s: %v", kind, typ, te.Kind, te.Type, te)
	}
	return te
}

func newRequest(typ string, props map[string]any) tasks.Request {
	return tasks.Request{
		ExecutionID: "exec-1", TaskRunID: "tr-1", TaskID: "task1",
		Namespace: "company.team", FlowID: "hello",
		Type: typ, Attempt: 1, Props: props, AttemptKey: "exec-1/tr-1/1",
	}
}
