package tasks

import "context"

// NewOutputValues returns the runner of output.values: the rendered map
// becomes the output values.
func NewOutputValues() Runner {
	return RunnerFunc(func(ctx context.Context, req Request) (Result, error) {
		v := req.Props["values"]
		m, ok := v.(map[string]any)
		if !ok {
			if v == nil {
				return Result{}, propError("values", "is required")
			}
			return Result{}, propError("values", "want a map, got %s", kindOf(v))
		}
		return Result{Outputs: map[string]any{"values": m}}, nil
	})
}
