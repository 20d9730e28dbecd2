package tasks

import "context"

// NewReturn returns the runner of debug.return: the rendered format becomes
// the output value as it is (a format that is one expression may already be
// a list or a number, and stays one).
func NewReturn() Runner {
	return RunnerFunc(func(ctx context.Context, req Request) (Result, error) {
		v, ok := req.Props["format"]
		if !ok {
			return Result{}, propError("format", "is required")
		}
		return Result{Outputs: map[string]any{"value": v}}, nil
	})
}
