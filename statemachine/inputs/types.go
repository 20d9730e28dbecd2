package inputs

import (
	"slices"
	"strings"
)

// Type is the declared type of an input, spelled as in the flow document
// (upper case, as in Kestra). Type names are case-sensitive: "string" is not
// a type, and Check suggests STRING for it.
type Type string

// The input types. They are Kestra's, so that flows written for Kestra keep
// their meaning.
const (
	TypeString      Type = "STRING"
	TypeSecret      Type = "SECRET"
	TypeInt         Type = "INT"
	TypeFloat       Type = "FLOAT"
	TypeBoolean     Type = "BOOLEAN"
	TypeDateTime    Type = "DATETIME"
	TypeDate        Type = "DATE"
	TypeTime        Type = "TIME"
	TypeDuration    Type = "DURATION"
	TypeSelect      Type = "SELECT"
	TypeEnum        Type = "ENUM" // older name of SELECT, kept for existing flows
	TypeMultiSelect Type = "MULTISELECT"
	TypeArray       Type = "ARRAY"
	TypeJSON        Type = "JSON"
	TypeURI         Type = "URI"
	TypeEmail       Type = "EMAIL"
	TypeFile        Type = "FILE" // a file in internal storage, by its URI
)

// TypeInfo describes one input type, for generated documentation and the
// JSON Schema of flow documents.
type TypeInfo struct {
	Name        Type
	Description string
	// Properties are the type-specific properties the type accepts, in
	// addition to CommonProperties.
	Properties []PropInfo
	// Supported is false for types that are recognised but cannot be used
	// yet; Check rejects declarations of such types.
	Supported bool
}

// PropInfo describes a property of an input declaration, named as in the
// flow document.
type PropInfo struct {
	Name        string
	Description string
}

// Property names as written in a flow document. They are also the Field of
// DeclError and the keys Check expects in its present argument.
const (
	propID               = "id"
	propType             = "type"
	propDescription      = "description"
	propRequired         = "required"
	propDefaults         = "defaults"
	propValidator        = "validator"
	propMin              = "min"
	propMax              = "max"
	propAfter            = "after"
	propBefore           = "before"
	propValues           = "values"
	propAllowCustomValue = "allowCustomValue"
	propItemType         = "itemType"
)

var commonProps = []PropInfo{
	{propID, "Identifier of the input, referenced as {{ inputs.<id> }}. Letters, digits, '.', '_' and '-', starting with a letter or digit."},
	{propType, "Type of the input, one of the input types."},
	{propDescription, "Free text shown to the people starting the flow."},
	{propRequired, "Whether a value must be provided. Defaults to true unless defaults is set."},
	{propDefaults, "Value used when none is provided. May be a template, rendered when the execution starts."},
}

var (
	validatorProp = PropInfo{propValidator, "Regular expression (RE2 syntax) the whole value must match."}
	minNumProp    = PropInfo{propMin, "Smallest accepted value (inclusive)."}
	maxNumProp    = PropInfo{propMax, "Largest accepted value (inclusive)."}
	minDurProp    = PropInfo{propMin, "Shortest accepted duration (inclusive), e.g. PT5M."}
	maxDurProp    = PropInfo{propMax, "Longest accepted duration (inclusive), e.g. PT2H."}
	afterProp     = PropInfo{propAfter, "Earliest accepted value (inclusive), in the format of the type."}
	beforeProp    = PropInfo{propBefore, "Latest accepted value (inclusive), in the format of the type."}
	valuesProp    = PropInfo{propValues, "The allowed values."}
	customProp    = PropInfo{propAllowCustomValue, "Accept values that are not listed in values."}
	itemTypeProp  = PropInfo{propItemType, "Type of each element: STRING (default), INT, FLOAT, BOOLEAN, DATETIME, DATE, TIME, DURATION, JSON, URI or EMAIL."}
)

// typeTable is the single source of truth about types: documentation, the
// properties each accepts (which Check enforces) and support.
var typeTable = []TypeInfo{
	{TypeString, "Any text.", []PropInfo{validatorProp}, true},
	{TypeSecret, "Text never stored or shown in clear, e.g. a password or a token: sealed when given, `******` wherever shown; the task gets the value (see Secrets).", []PropInfo{validatorProp}, true},
	{TypeInt, "A 64-bit integer.", []PropInfo{minNumProp, maxNumProp}, true},
	{TypeFloat, "A 64-bit floating-point number.", []PropInfo{minNumProp, maxNumProp}, true},
	{TypeBoolean, "true or false; yes/no and 1/0 are accepted too.", nil, true},
	{TypeDateTime, "A date and time, normalised to RFC 3339 in UTC, e.g. 2024-01-31T09:30:00Z. A value without zone is taken as UTC.", []PropInfo{afterProp, beforeProp}, true},
	{TypeDate, "A calendar date, YYYY-MM-DD.", []PropInfo{afterProp, beforeProp}, true},
	{TypeTime, "A time of day, HH:MM:SS (HH:MM accepted).", []PropInfo{afterProp, beforeProp}, true},
	{TypeDuration, "A duration, ISO-8601 (PT1H30M, P1D) or Go style (1h30m), normalised to ISO-8601 in hours, minutes and seconds.", []PropInfo{minDurProp, maxDurProp}, true},
	{TypeSelect, "One value among values.", []PropInfo{valuesProp, customProp}, true},
	{TypeEnum, "Older name of SELECT, with the same behaviour.", []PropInfo{valuesProp, customProp}, true},
	{TypeMultiSelect, "Any number of values among values, given as a list, a JSON array or a comma-separated string.", []PropInfo{valuesProp, customProp}, true},
	{TypeArray, "A list whose elements all have the type itemType, given as a list or a JSON array.", []PropInfo{itemTypeProp}, true},
	{TypeJSON, "Any JSON value, given as JSON text or as a structured value.", nil, true},
	{TypeURI, "An absolute URI with a scheme, e.g. https://example.com/data.csv.", []PropInfo{validatorProp}, true},
	{TypeEmail, "A plain email address, e.g. ops@example.com.", []PropInfo{validatorProp}, true},
	{TypeFile, "A file uploaded when the execution starts (`relay run --input name=@path`, multipart/form-data on the API), stored in internal storage; its value is the file's relay:/// URI, for `inputFiles` of a script task or `read()`.", nil, true},
}

// Types returns every input type, supported or not, in a stable order. The
// result is a copy: callers may modify it.
func Types() []TypeInfo {
	out := make([]TypeInfo, len(typeTable))
	for i, t := range typeTable {
		t.Properties = slices.Clone(t.Properties)
		out[i] = t
	}
	return out
}

// CommonProperties returns the properties every input declaration accepts,
// whatever its type.
func CommonProperties() []PropInfo { return slices.Clone(commonProps) }

// Known reports whether t is one of the input types, supported or not.
func (t Type) Known() bool {
	_, ok := lookupType(t)
	return ok
}

func lookupType(t Type) (*TypeInfo, bool) {
	for i := range typeTable {
		if typeTable[i].Name == t {
			return &typeTable[i], true
		}
	}
	return nil, false
}

// accepts reports whether type t accepts the type-specific property prop.
func (t Type) accepts(prop string) bool {
	info, ok := lookupType(t)
	if !ok {
		return false
	}
	for _, p := range info.Properties {
		if p.Name == prop {
			return true
		}
	}
	return false
}

// typeNames returns the names of the types, supported ones only when
// supportedOnly is set.
func typeNames(supportedOnly bool) []string {
	var out []string
	for _, t := range typeTable {
		if t.Supported || !supportedOnly {
			out = append(out, string(t.Name))
		}
	}
	return out
}

// typesAccepting lists the types that accept prop, for "applies to" hints.
func typesAccepting(prop string) []string {
	var out []string
	for _, t := range typeTable {
		if t.Name.accepts(prop) {
			out = append(out, string(t.Name))
		}
	}
	return out
}

// allPropNames lists every property name any declaration may carry, common
// ones first, without repeats.
func allPropNames() []string {
	var out []string
	for _, p := range commonProps {
		out = append(out, p.Name)
	}
	for _, t := range typeTable {
		for _, p := range t.Properties {
			if !slices.Contains(out, p.Name) {
				out = append(out, p.Name)
			}
		}
	}
	return out
}

// isSelect reports the types constrained by values/allowCustomValue.
func (t Type) isSelect() bool {
	return t == TypeSelect || t == TypeEnum || t == TypeMultiSelect
}

// arrayItemTypes are the types an ARRAY's elements may have: scalar and JSON
// types that need no further declaration. Selections need values, nesting
// arrays is what JSON is for, and secrets inside lists could not be masked
// reliably.
var arrayItemTypes = []Type{
	TypeString, TypeInt, TypeFloat, TypeBoolean, TypeDateTime, TypeDate,
	TypeTime, TypeDuration, TypeJSON, TypeURI, TypeEmail,
}

func joinTypes(ts []Type) string {
	return strings.Join(typeStrings(ts), ", ")
}

func typeStrings(ts []Type) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = string(t)
	}
	return out
}
