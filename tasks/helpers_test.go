package tasks

import (
	"errors"
	"testing"

	"github.com/relayflow/relay/tasks/taskstest"
)

func newRecorder() *taskstest.Recorder { return taskstest.NewRecorder() }

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
