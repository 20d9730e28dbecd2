// Package inputs declares and coerces the typed inputs of a flow, with the
// types and semantics of Kestra's flow inputs.
//
// A flow declares its inputs as a list of Decl values (the flow decoder fills
// them from the YAML document). Decl.Check reports what is statically wrong
// with a declaration, so a flow with a broken input is rejected when it is
// saved rather than when it is first run. When an execution starts, Resolve
// checks the provided values against every declaration at once, applies
// defaults and converts each value to its canonical typed form with
// Decl.Coerce; the typed values are what templates see as {{ inputs.x }}.
//
// Provided values arrive in two shapes, and both are accepted everywhere:
// strings (command line, HTTP form fields, CloudEvent attributes) and
// already-typed JSON values (JSON request bodies, YAML defaults). The
// canonical forms are deliberately plain (string, int64, float64, bool, []any,
// map[string]any) so that values serialise to JSON and back unchanged, which
// is how executions are stored.
//
// The package is part of Relay's pure core: it performs no I/O and never reads
// the clock. Defaults that hold templates (for example a date computed from
// now()) are rendered by a callback the caller passes in ResolveOptions.
//
// ParseDuration, FormatDuration and Suggest are exported for reuse by other
// packages: task timeouts and retry intervals are durations in the same two
// notations, and did-you-mean hints for task types and property names use the
// same edit-distance rule as input names.
package inputs
