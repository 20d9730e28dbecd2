package tasks

import (
	"context"

	"github.com/relayflow/relay/statemachine/expr"
)

// NewReturn returns the runner of debug.return: the rendered format, as
// text, becomes the output value. Kestra's Return renders a string too, so
// its flows compare the value with strings (`outputs.r.value == '4'`);
// a list or a number prints as Stringify does (JSON for lists and maps).
func NewReturn() Runner {
	return RunnerFunc(func(ctx context.Context, req Request) (Result, error) {
		v, ok := req.Props["format"]
		if !ok {
			return Result{}, propError("format", "is required")
		}
		return Result{Outputs: map[string]any{"value": expr.Stringify(v)}}, nil
	})
}
