package engine

import (
	"reflect"
	"testing"
	"time"

	"github.com/relayflow/relay/statemachine"
)

// Every command survives the outbox: encoded at commit, decoded when it is
// carried out (possibly by another process after a crash).
func TestOutbox_commandsRoundTrip(t *testing.T) {
	at := time.Date(2024, 1, 31, 10, 0, 0, 0, time.UTC)
	cmds := []statemachine.Command{
		statemachine.ScheduleTaskRun{ExecutionID: "e", TaskRunID: "t[1]", TaskID: "t", Type: "log", Attempt: 2, Props: map[string]any{"message": "hi"}, Deadline: at},
		statemachine.StartTimer{ExecutionID: "e", TaskRunID: "t", Attempt: 1, Kind: statemachine.TimerRetry, FireAt: at},
		statemachine.KillAttempt{ExecutionID: "e", TaskRunID: "t", Attempt: 1},
		statemachine.StartSubflow{ExecutionID: "e.c", Namespace: "n", FlowID: "f", Wait: true, Parent: statemachine.ParentRef{ExecutionID: "e", TaskRunID: "c", Depth: 1}},
		statemachine.ExecutionFinished{ExecutionID: "e", Namespace: "n", FlowID: "f", State: statemachine.ExecSuccess, Outputs: map[string]any{"x": "y"}},
		statemachine.Log{ExecutionID: "e", Level: "INFO", Message: "m"},
	}
	for _, c := range cmds {
		entry, err := encodeCommand(c, "id", "e", at)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeCommand(entry)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("%s: got %#v, want %#v", entry.Kind, got, c)
		}
	}
	if _, err := decodeCommand(OutboxEntry{ID: "x", Kind: "nope"}); err == nil {
		t.Error("an unknown kind decoded")
	}
}
