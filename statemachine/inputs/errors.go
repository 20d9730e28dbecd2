package inputs

import (
	"fmt"
)

// InputError is a problem with a provided value (or a missing or unknown
// one). Resolve returns one per problem, joined, so callers can list all of
// them to the person starting the flow; errors.As finds them.
type InputError struct {
	ID   string // the input's id, or the unknown name that was provided
	Type Type   // the declared type; empty for names that match no declaration
	// Value is the offending value as provided. It is nil when there is none
	// (a missing input) and always nil for SECRET inputs, so that a secret can
	// never leak into logs through an error.
	Value any
	// Msg says what is wrong, quoting the value where that helps (never for
	// SECRET inputs), e.g. `"abc" is not an integer`.
	Msg string
}

// Error reads like: input `count` (INT): "abc" is not an integer.
func (e *InputError) Error() string {
	if e.Type == "" {
		return fmt.Sprintf("input `%s`: %s", e.ID, e.Msg)
	}
	return fmt.Sprintf("input `%s` (%s): %s", e.ID, e.Type, e.Msg)
}

// DeclError is a static problem of an input declaration, found by Check.
type DeclError struct {
	ID string // the input's id as declared (may be empty when that is the problem)
	// Field is the property of the declaration at fault, named as in the
	// flow document ("type", "validator", "min", "defaults"...), so the flow
	// decoder can point at the right line. Empty when the declaration as a
	// whole is at fault.
	Field string
	Msg   string
}

// Error reads like: input `count`: min: 10 is greater than max 5.
func (e *DeclError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("input `%s`: %s", e.ID, e.Msg)
	}
	return fmt.Sprintf("input `%s`: %s: %s", e.ID, e.Field, e.Msg)
}
