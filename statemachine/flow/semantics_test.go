package flow_test

import (
	"strings"
	"testing"
)

// Guarded references to names the flow does not declare pass validation;
// unguarded ones stay errors (item 5 of Kestra compatibility).
func TestValidate_guardedReferencesToUnknownNamesPass(t *testing.T) {
	head := "id: f\nnamespace: n\ninputs:\n  - {id: known, type: STRING}\nvariables:\n  v: 1\ntasks:\n  - id: t\n    type: log\n    message: "
	tests := []struct {
		expr string
		err  string // "" when valid
	}{
		{`"{{ inputs.missing ?? 'none' }}"`, ""},
		{`"{{ inputs.missing ??? 'none' }}"`, ""},
		{`"{{ inputs.missing is defined }}"`, ""},
		{`"{{ inputs.missing is not defined }}"`, ""},
		{`"{{ inputs.missing | default('none') }}"`, ""},
		{`"{{ inputs.missing is defined ? inputs.missing : 'none' }}"`, ""},
		{`"{{ vars.nope ?? outputs.nothing.value ?? 1 }}"`, ""},
		{`"{{ outputs.t.nope ?? 'x' }}"`, ""},
		{`"{{ envs.region }} {{ globals.team }}"`, ""},
		{`"{{ inputs.missing }}"`, "`inputs.missing` refers to an unknown input `missing`"},
		{`"{{ inputs.missing is null }}"`, "`inputs.missing` refers to an unknown input `missing`"},
		{`"{{ inputs.known ?? inputs.other }}"`, "`inputs.other` refers to an unknown input `other`"},
		{`"{{ vars.nope }}"`, "`vars.nope` refers to an unknown variable `nope`"},
		{`"{{ tasks.t.state }}"`, "Kestra's `tasks` variable is not supported by Relay"},
		{`"{{ fileURI('a.txt') }}"`, "function `fileURI` is not supported by Relay"},
		{`"{{ 1 | toIon }}"`, "filter `toIon` is not supported by Relay"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			src := head + tt.expr + "\n"
			if tt.err == "" {
				mustParse(t, src)
				return
			}
			ds := diagnostics(t, src)
			if !strings.Contains(ds.Error(), tt.err) {
				t.Errorf("diagnostics %q, want %q", ds.Error(), tt.err)
			}
		})
	}
}
