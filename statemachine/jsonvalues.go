package statemachine

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/relayflow/relay/statemachine/expr"
)

// UnmarshalJSON decodes an execution so that values (inputs, outputs,
// variables, ForEach items) come back with the types they were stored
// with: encoding/json alone would turn every number into float64, and an
// INT output or a ForEach value of 3 must stay an integer after a store
// round trip.
func (e *Execution) UnmarshalJSON(b []byte) error {
	type plain Execution // without this method
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var p plain
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("decoding execution: %w", err)
	}
	*e = Execution(p)
	e.Inputs = normalizeMap(e.Inputs)
	e.Outputs = normalizeMap(e.Outputs)
	e.Vars = normalizeMap(e.Vars)
	e.Trigger = normalizeMap(e.Trigger)
	for _, r := range e.TaskRuns {
		r.Value = normalize(r.Value)
		r.Outputs = normalizeMap(r.Outputs)
		for i := range r.Items {
			r.Items[i] = normalize(r.Items[i])
		}
	}
	for _, fr := range e.Frames {
		for i := range fr.Ctx {
			fr.Ctx[i].Value = normalize(fr.Ctx[i].Value)
		}
	}
	return nil
}

func normalizeMap(m map[string]any) map[string]any {
	for k, v := range m {
		m[k] = normalize(v)
	}
	return m
}

func normalize(v any) any { return expr.NormalizeJSON(v) }
