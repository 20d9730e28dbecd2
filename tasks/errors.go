package tasks

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Kind tells the state machine what a failure means for the retry policy.
type Kind string

const (
	// KindRetryable is a failure that another attempt may not repeat: a
	// network error, a 5xx, a throttled call, a non-zero exit.
	KindRetryable Kind = "retryable"
	// KindFatal is a failure that another attempt would repeat: a bad
	// property, a 4xx, a missing function. The state machine fails the task
	// without spending the retry policy on it.
	KindFatal Kind = "fatal"
	// KindTimeout is an attempt that ran past its deadline (the task's
	// timeout); the retry policy applies, as in Kestra.
	KindTimeout Kind = "timeout"
	// KindCrashed is an attempt whose process the OS killed (a signal the
	// worker did not send: out of memory, a segmentation fault): the
	// attempt CRASHED, as Prefect says, and the retry policy applies.
	KindCrashed Kind = "crashed"
)

// Short error types shared by several runners. Runners add their own
// ("HTTPStatus", "ExitCode", "FunctionError:<errorType>"...).
const (
	// typeInvalidProperty is a property of the wrong type or value.
	typeInvalidProperty = "InvalidProperty"
	// typeUnknownTaskType is a task type no runner is registered for.
	typeUnknownTaskType = "UnknownTaskType"
	// typeTimeout is an attempt that ran past its deadline.
	typeTimeout = "Timeout"
	// typeCanceled is an attempt whose context was cancelled before its
	// deadline (the execution was killed or the worker is stopping).
	typeCanceled = "Canceled"
	// typePanic is a runner that panicked; the registry turns it into an
	// error so that one bad task does not bring the worker down.
	typePanic = "Panic"
	// typeError is any other error that a runner did not classify.
	typeError = "Error"
)

// Error is how a runner fails an attempt. Kind drives the retry policy; Type
// is a short machine-readable name shown next to the task run (Kestra shows
// the exception class there); Message is for people; Err keeps the cause for
// errors.Is/As and the worker's own logs.
type Error struct {
	Kind    Kind
	Type    string
	Message string
	Err     error
}

// Error renders "Type: Message: cause", leaving out the empty parts.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Type != "" {
		b.WriteString(e.Type)
	}
	msg := e.Message
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	} else if e.Err != nil && !strings.Contains(msg, e.Err.Error()) {
		msg += ": " + e.Err.Error()
	}
	if msg != "" {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(msg)
	}
	if b.Len() == 0 {
		return string(e.Kind) + " task error"
	}
	return b.String()
}

// Unwrap gives errors.Is/As the cause.
func (e *Error) Unwrap() error { return e.Err }

// Classify turns any error into an *Error so that the state machine sees one
// shape: an *Error anywhere in the chain is kept as it is (the runner that
// made it knew best), a context deadline is a timeout, anything else is
// retryable (a failure nobody classified may well be transient). Classify
// returns nil for a nil error.
func Classify(err error) *Error {
	if err == nil {
		return nil
	}
	var te *Error
	if errors.As(err, &te) {
		return te
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Kind: KindTimeout, Type: typeTimeout, Message: "the attempt ran past its deadline", Err: err}
	case errors.Is(err, context.Canceled):
		return &Error{Kind: KindRetryable, Type: typeCanceled, Message: "the attempt was cancelled", Err: err}
	}
	return &Error{Kind: KindRetryable, Type: typeError, Message: err.Error(), Err: err}
}

// fatalf is a failure that retrying cannot fix.
func fatalf(typ, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Kind: KindFatal, Type: typ, Message: err.Error(), Err: errors.Unwrap(err)}
}

// propError is a property of the wrong type or value; the message names the
// property so that the user knows which line of the flow to fix.
func propError(name, format string, args ...any) *Error {
	return &Error{Kind: KindFatal, Type: typeInvalidProperty, Message: "property " + name + ": " + fmt.Sprintf(format, args...)}
}

// ctxError classifies an error that happened while doing something under ctx:
// when ctx is over, the attempt's deadline (or a cancellation) is the cause,
// whatever error the operation itself reported.
func ctxError(ctx context.Context, doing string, err error) *Error {
	switch cerr := ctx.Err(); {
	case errors.Is(cerr, context.DeadlineExceeded):
		return &Error{Kind: KindTimeout, Type: typeTimeout, Message: "deadline exceeded while " + doing, Err: cerr}
	case cerr != nil:
		return &Error{Kind: KindRetryable, Type: typeCanceled, Message: "cancelled while " + doing, Err: cerr}
	}
	if err == nil {
		return nil
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Kind: KindTimeout, Type: typeTimeout, Message: "deadline exceeded while " + doing, Err: err}
	}
	return nil
}

// excerpt shortens s to at most n bytes on a UTF-8 boundary for error
// messages, marking the cut.
func excerpt(s string, n int) string {
	s = strings.ToValidUTF8(strings.TrimSpace(s), "\uFFFD")
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
