// Package expr is Relay's template and expression engine: Pebble syntax as
// Kestra flows use it, evaluated purely (no I/O, clock, environment or
// randomness except what Env passes in).
//
// # API
//
//	Parse(src) (*Template, error)          // compile once; errors are *SyntaxError
//	(*Template).Render(env) (any, error)   // typed value or string; errors are *EvalError
//	(*Template).RenderString(env) (string, error)
//	(*Template).Source() / IsLiteral() / IsSingleExpr() / References()
//	Truthy(v) bool, Stringify(v) string
//	Docs() []Doc, DocsEnv() *Env           // reference documentation, tested examples
//
// A Template holds the parsed tree and never parses again; it is immutable and
// safe for concurrent Render calls. A nil *Env is an empty environment.
//
// # Templates
//
// Text may contain output tags {{ expr }}, statements {% ... %} and comments
// {# ... #}. A '-' inside a delimiter ({{-, -}}, {%-, -%}, {#-, -#}) trims all
// whitespace, newlines included, on that side. Newlines after tags are kept
// (Kestra turns Pebble's newline trimming off). Inside {{ }}, `}}` closes the
// tag only when no `{` is open, so {{ {'a': {'b': 1}} }} works.
//
// Statements:
//
//	{% if c %}...{% elseif c %}...{% else %}...{% endif %}   (elif = elseif)
//	{% for x in seq %}...{% else %}(empty)...{% endfor %}
//	{% for k, v in map %}   {% for i, x in list %}
//	{% set name = expr %}
//	{% raw %}...{% endraw %}                                 (verbatim text)
//
// A for loop iterates lists, and maps in sorted key order (a single variable
// then receives {key, value} entries, as in Pebble); null iterates nothing.
// Inside, loop.index (0-based, as in Pebble), loop.revindex, loop.length,
// loop.first and loop.last are available. set binds in the current scope: a
// set inside a loop body persists across its iterations but not after the
// loop; if bodies share the enclosing scope.
//
// # Expressions
//
// Literals: 'single' or "double" quoted strings (escapes \n \t \r \b \f \\ \'
// \" \/ \uXXXX; any other backslash is kept, so '\d+' stays a regexp), ints,
// floats, true/false (also True/False), null/none, lists [a, b] and maps
// {'k': v} (keys are expressions evaluated to text). Access: a.b, a['b-c'],
// a[0], a[-1], a.0, a[expr]. Functions f(x, name=y) and filters x | f(x,
// name=y); named arguments match parameter names case-insensitively. Unknown
// functions, filters, tests and arguments, and wrong arities, are syntax errors.
//
// Operators, loosest first (all binary operators are left-associative):
//
//	c ? a : b                 ternary (right-associative)
//	or ||                     boolean, short-circuit
//	and &&
//	not !                     unary; binds tighter than and/or but looser than
//	                          comparisons: not a == b is not (a == b) (Pebble
//	                          would also swallow and/or; this follows Jinja/Python)
//	contains                  list/map/string contains (list: all elements)
//	== != < > <= >= in, not in
//	+ -                       + also concatenates strings and lists (Pebble)
//	* / // %                  int/int is an int when exact, else a float;
//	                          // floors; % keeps the dividend's sign (Java)
//	| (filter), is (test)     so a + b | f is a + (b | f)
//	~                         concatenation of text forms; 'a' ~ 'b' | upper is AB
//	?? ??? ..                 null coalescing, undefined coalescing (Kestra),
//	                          inclusive integer range
//	unary - +, then . [] ()   tightest
//
// Integer overflow yields a float; division by zero is an error; == is deep and
// numeric (1 == 1.0); ordering applies to numbers, strings and dates.
//
// # Strictness
//
// As in Kestra, reading an undefined variable or a missing map key, an index
// out of range, or an attribute of null or of a scalar is an *EvalError
// wrapping ErrUndefined that names the path ("variable `outputs.foo` is not
// defined"). The exceptions are the left side of ?? and ???, the operand of
// `is defined` / `is not defined`, and the input of the default filter: there
// such errors mean "undefined". An id with '-' parses as a subtraction; when
// outputs.transform-data.rowCount fails that way the error adds
// "use outputs['transform-data'].rowCount for ids containing '-'".
// `x is defined` is false for null values, as in Pebble.
//
// # Values
//
// The engine computes with nil, bool, int64, float64, string, []any,
// map[string]any and time.Time. Env.Vars may also hold other integer and float
// kinds, json.Number, pointers, []string, map[string]string, []map[string]any
// and any other slice, array or map (read through reflection without copying
// on access). Other types print with fmt.
//
// Render of a template that is exactly one {{ expr }} (whitespace and comments
// around allowed; see IsSingleExpr) returns the typed value, deep-converted to
// nil, bool, int64, float64, string, []any or map[string]any, with dates as RFC
// 3339 strings; the result may share structure with Env.Vars. Every other
// template renders to a string, values printed by Stringify: strings as is, nil
// as "", integers in decimal, floats in shortest form (2.0 prints 2, exponent
// form below 1e-7 and from 1e21), booleans true/false, dates RFC 3339 with
// fractional seconds only when non-zero, lists and maps as compact JSON with
// sorted keys and no HTML escaping.
//
// Truthy (if, ternary, and/or/not, and callers' conditions): nil false; bools
// themselves; numbers non-zero; strings false when empty or, ignoring case and
// surrounding spaces, "false", "0", "no", "off" or "null"; lists and maps when
// non-empty; everything else true.
//
// # Dates
//
// now() is Env.Now. The date filter accepts dates, ISO-8601 strings (with or
// without offset or seconds, a space for 'T', Java's trailing [Zone/Id]), date
// only strings (midnight), epoch seconds, or strings in existingFormat. It
// converts to timeZone (default UTC, never the host zone) and formats with a
// Java DateTimeFormatter pattern or a Kestra format name; the default is "iso"
// (yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX). Names are English. Week-based letters (w,
// W, Y, e, c) are not supported. ISO_DATE_TIME appends [zone] only for an
// explicit region time zone. dateAdd uses ChronoUnit names; months and years
// clamp to the month's end as java.time does.
//
// # Limits and purity
//
// Env.Limits bounds a render: MaxSteps (default 1,000,000) counts evaluated
// nodes, loop iterations and builtin work (elements or 64-byte chunks);
// MaxOutput (default 1 MiB) bounds the output and the strings a template
// builds (concatenation, replace, join, json...);
// MaxRange (default 100,000) bounds range() and `..`. Exceeding one is an
// *EvalError wrapping ErrLimit ("template exceeds N evaluation steps").
// Parsing bounds nesting (200 levels) and expression height (500). No input
// makes Parse or Render panic or run unbounded; value recursion is capped, so
// even cyclic Env values terminate. uuid() and secret() call Env.UUID and
// Env.Secret; time zone names are loaded with time.LoadLocation.
//
// # Errors
//
// *SyntaxError has the 1-based Line and Col (in runes) of Offset in Src and
// prints "line L col C: MSG in `snippet`", e.g. "line 1 col 12: unexpected
// `}}`, expected attribute name in `{{ inputs. }}`". *EvalError has the Offset
// of the failing expression and prints "line L col C: MSG[: cause]"; Msg names
// the expression (e.g. "filter `date` on `inputs.day`") and Err wraps the cause.
//
// # References
//
// References lists every statically visible variable path in source order: the
// root identifier followed by constant attribute and string subscript names,
// stopping at a computed or integer subscript ({{ outputs['a-b'].uri }} gives
// [outputs a-b uri]; {{ outputs[x].uri }} gives [outputs] and [x]). It includes
// paths inside filter and function arguments, tests and statements, and leaves
// out names bound by for (including loop) and set where they are in scope.
package expr
