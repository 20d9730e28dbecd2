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
	if (e.RunCounts == nil || e.TaskCounts == nil) && len(e.TaskRuns) > 0 {
		e.CountRuns()
	}
	if n := len(e.Seen); n > SeenLimit { // stored with a longer ring: keep its newest ids, oldest first
		next := min(e.SeenNext, n)
		ordered := append(append(make([]string, 0, n), e.Seen[next:]...), e.Seen[:next]...)
		e.Seen, e.SeenNext = ordered[n-SeenLimit:], 0
	}
	for _, fr := range e.Frames {
		for i := range fr.Ctx {
			fr.Ctx[i].Value = normalize(fr.Ctx[i].Value)
		}
	}
	return nil
}

// UnmarshalJSON decodes a task run as Execution's does: values keep their
// types.
func (r *TaskRun) UnmarshalJSON(b []byte) error {
	type plain TaskRun // without this method
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var p plain
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("decoding task run: %w", err)
	}
	*r = TaskRun(p)
	r.Value = normalize(r.Value)
	r.Outputs = normalizeMap(r.Outputs)
	for i := range r.Items {
		r.Items[i] = normalize(r.Items[i])
	}
	return nil
}

// DecodeItems decodes the JSON array of a ForEach run's Items, which
// stores keep apart from the run, as the run's own decoding would.
func DecodeItems(b []byte) ([]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var items []any
	if err := dec.Decode(&items); err != nil {
		return nil, fmt.Errorf("decoding ForEach items: %w", err)
	}
	for i := range items {
		items[i] = normalize(items[i])
	}
	return items, nil
}

func normalizeMap(m map[string]any) map[string]any {
	for k, v := range m {
		m[k] = normalize(v)
	}
	return m
}

func normalize(v any) any { return expr.NormalizeJSON(v) }
