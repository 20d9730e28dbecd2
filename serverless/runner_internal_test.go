package serverless

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/tasks"
	"github.com/relayflow/relay/tasks/builtin"
)

// invokeHere hands an invocation to a Runner in this process, as Lambda
// hands it to the runner function.
type invokeHere struct{ r *Runner }

func (i invokeHere) Invoke(ctx context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	out, err := i.r.Handle(ctx, in.Payload)
	if err != nil {
		return nil, err
	}
	payload, err := json.Marshal(out)
	return &lambda.InvokeOutput{Payload: payload}, err
}

// The task's logLevel goes with the attempt to the runner function, which
// drops the lines below it, as the worker does for the attempts it runs.
func TestRemoteRunner_logLevelReachesTheRunner(t *testing.T) {
	reg, err := builtin.Registry(builtin.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var kept []string
	r := &Runner{reg: reg, appendLogs: func(_ context.Context, ls []engine.LogEntry) error {
		mu.Lock()
		defer mu.Unlock()
		for _, l := range ls {
			kept = append(kept, l.Level+" "+l.Message)
		}
		return nil
	}}
	remote := RemoteRunner(invokeHere{r}, "runner")
	for _, level := range []string{"INFO", "WARN", "ERROR"} {
		req := tasks.Request{ExecutionID: "e", TaskRunID: "l", TaskID: "l", Type: "log", Attempt: 1, LogLevel: "WARN",
			Props: map[string]any{"message": "at " + level, "level": level}}
		if _, err := remote.Run(context.Background(), req); err != nil {
			t.Fatalf("%s: %v", level, err)
		}
	}
	if len(kept) != 2 || kept[0] != "WARN at WARN" || kept[1] != "ERROR at ERROR" {
		t.Errorf("the runner kept %q, want the WARN and ERROR lines only", kept)
	}
}
