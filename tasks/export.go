package tasks

import (
	"context"
	"log/slog"
)

// Property accessors and error constructors for runners that live in
// packages of their own (tasks/scripts, tasks/aws), so that every runner
// reads properties and reports failures alike.

// OptString returns the property as text; absent or null is "".
func OptString(props map[string]any, name string) (string, error) { return optString(props, name) }

// ReqString is OptString for a property that must not be empty.
func ReqString(props map[string]any, name string) (string, error) { return reqString(props, name) }

// OptBool returns a boolean property, def when absent.
func OptBool(props map[string]any, name string, def bool) (bool, error) {
	return optBool(props, name, def)
}

// OptStringMap returns a map of text values; scalars are printed,
// containers fail.
func OptStringMap(props map[string]any, name string) (map[string]string, error) {
	return optStringMap(props, name)
}

// ReqStringList returns a non-empty list of text values.
func ReqStringList(props map[string]any, name string) ([]string, error) {
	return reqStringList(props, name)
}

// PropError is a fatal error naming a property of the wrong type or value.
func PropError(name, format string, args ...any) *Error { return propError(name, format, args...) }

// CtxError classifies an error met while doing something under ctx: the
// attempt's deadline or a cancellation when ctx is over, nil otherwise
// (unless err is itself a deadline).
func CtxError(ctx context.Context, doing string, err error) *Error { return ctxError(ctx, doing, err) }

// Excerpt shortens s to at most n bytes on a UTF-8 boundary, marking the
// cut.
func Excerpt(s string, n int) string { return excerpt(s, n) }

// DecodeJSON decodes one JSON document into the kinds expressions compute
// with (integers as int64, other numbers as float64).
func DecodeJSON(b []byte) (any, error) { return decodeJSON(b) }

// Logger returns req.Log, or a logger that discards when it is nil.
func Logger(req Request) *slog.Logger { return logger(req) }
