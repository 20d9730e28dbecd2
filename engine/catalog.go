package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"

	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/flow"
)

// This file is the catalog of the events Relay produces and consumes.
// docs/events.md and the JSON Schemas in docs/events/ are generated from
// it (EventsDoc, EventSchemas), and a test fails when they differ from the
// committed files: run `go test ./engine -run Catalog -update` after
// changing an event.

// RecordKey says what an event's record is keyed by on its topic.
type RecordKey string

// Record keys.
const (
	// KeyExecution: the execution id, which is also the event's subject.
	KeyExecution RecordKey = "execution id"
	// KeyTaskRun: the execution id and the task-run id, as <execution>/<taskrun>.
	KeyTaskRun RecordKey = "<execution id>/<task-run id>"
	// KeyEventID: the event id.
	KeyEventID RecordKey = "event id"
	// KeyOriginal: the key of the record that was dead-lettered.
	KeyOriginal RecordKey = "key of the original record"
)

// EventSpec describes one kind of event: where it travels, how it is
// identified, who produces and consumes it, and what its data holds.
type EventSpec struct {
	// Type is the CloudEvent type; empty for user events and dead letters,
	// which have no fixed type.
	Type string
	// Title heads the event's section: the type, or a name when there is no
	// fixed type.
	Title string
	// Summary is one line for the overview table and the schema.
	Summary string
	// Topic is the topic the event travels on; empty when it is never
	// published.
	Topic string
	// Key is what the record is keyed by.
	Key RecordKey
	// Source and Subject are the CloudEvent attributes' conventions.
	Source, Subject string
	// IDs are the forms the event id takes. <execution>, <taskrun>,
	// <attempt>, <timer> and <child> stand for the data members
	// executionId, taskRunId, attempt (0 when absent), timer and
	// childExecutionId; <random> for a new id (NewID).
	IDs []string
	// Dedup says how a redelivered or repeated event is recognised.
	Dedup string
	// Producers and Consumers name the parts that publish and read it.
	Producers, Consumers string
	// Meaning is what the event says and what its consumer does with it.
	Meaning string
	// Data is the Go type of the data; nil for any JSON value.
	Data reflect.Type
	// Fields document the data's members by path: "parent.depth" for a
	// member of an object, "labels[].key" for a member of array items.
	// When Data is statemachine.Event, which every state machine input
	// shares, only the top-level members listed belong to this type.
	Fields []EventField
	// Notes are further paragraphs of the section.
	Notes []string
	// Example builds a sample record.
	Example func() ExampleRecord
}

// EventField documents one member of an event's data.
type EventField struct {
	Path string
	Doc  string
	// Required marks a member the consumer needs although the Go field is
	// omitempty (members of statemachine.Event all are).
	Required bool
	// Enum lists the only values allowed, when they are fixed.
	Enum []string
}

// ExampleRecord is a sample event as a record on its topic.
type ExampleRecord struct {
	Key   string
	Event cloudevents.Event
	// Headers are Kafka headers the bus adds after the binding's.
	Headers [][2]string
}

// SchemaFile names the JSON Schema of an event type's data in docs/events/.
func SchemaFile(eventType string) string { return eventType + ".schema.json" }

// machineType is the CloudEvent type of a state machine input event.
func machineType(t statemachine.EventType) string { return TypePrefix + string(t) }

// Catalog returns every event Relay produces or consumes, in the order of
// an execution's life, followed by user events and dead letters.
func Catalog() []EventSpec {
	eventType := reflect.TypeFor[statemachine.Event]()
	return []EventSpec{
		{
			Type:      machineType(statemachine.EvExecutionRequested),
			Summary:   "Start a new execution of a flow.",
			Topic:     TopicExecutions,
			Key:       KeyExecution,
			Source:    "relay/engine",
			Subject:   "the new execution's id",
			IDs:       []string{"<execution>/requested"},
			Dedup:     "The execution id: a request for an execution that already exists is ignored, whatever its event id.",
			Producers: "`Engine.Submit` (`relay run`); the executor, for a `flow.subflow` task; the router, the scheduler and webhooks, for triggers",
			Consumers: "executor",
			Meaning: "Asks for a new execution of a revision of a flow (the latest unless `revision` names one). The executor creates the execution (CREATED), checks the inputs against the flow's declarations and starts it; when the flow's concurrency limit is reached, the flow's behavior applies (QUEUE, CANCEL or FAIL). " +
				"The executor publishes it itself for a `flow.subflow` task, with `parent` set and the child's id `<parent execution>.<task run>`. A request for a flow that cannot be loaded is dropped, except a subflow's: its parent then receives io.relayflow.subflow.finished in FAILED.",
			Data: eventType,
			Fields: machineFields(statemachine.EvExecutionRequested,
				EventField{Path: "namespace", Doc: "Namespace of the flow.", Required: true},
				EventField{Path: "flowId", Doc: "Id of the flow.", Required: true},
				EventField{Path: "revision", Doc: "The revision to run; left out, the latest. Triggers set their flow's revision, subflows the one they pin."},
				EventField{Path: "inputs", Doc: "Values of the flow's inputs, by input id; defaults apply to those left out."},
				EventField{Path: "labels", Doc: "Labels of the execution, added to the flow's."},
				EventField{Path: "labels[].key", Doc: "Label name."},
				EventField{Path: "labels[].value", Doc: "Label value."},
				EventField{Path: "trigger", Doc: "What started the execution, read by expressions as `trigger`."},
				EventField{Path: "parent", Doc: "Set for a subflow's execution: the execution and task run waiting for it."},
				EventField{Path: "parent.executionId", Doc: "Id of the parent execution."},
				EventField{Path: "parent.taskRunId", Doc: "Id of the parent's `flow.subflow` task run."},
				EventField{Path: "parent.namespace", Doc: "Namespace of the parent's flow."},
				EventField{Path: "parent.flowId", Doc: "Id of the parent's flow."},
				EventField{Path: "parent.depth", Doc: "Nesting depth: 1 for the child of a top-level execution. Deeper than the limit (10), the execution fails."},
				EventField{Path: "parent.outputs", Doc: "The `outputs` of the parent's `flow.subflow` task (Kestra's legacy Subflow outputs): templates this execution renders when it ends, for its parent."},
				EventField{Path: "origin", Doc: "Set when a trigger of the flow started the execution (the router, the scheduler, a webhook)."},
				EventField{Path: "origin.triggerId", Doc: "Id of the trigger in the flow."},
				EventField{Path: "origin.type", Doc: "Type of the trigger.", Enum: []string{"schedule", "flow", "cloudevents.trigger", "webhook"}},
				EventField{Path: "depth", Doc: "Place of a triggered execution in its chain: its upstream execution's depth plus one. The router starts nothing past the limit (10)."},
				EventField{Path: "replay", Doc: "Set by `relay executions replay`: the new execution replays an earlier one of the same revision from a task run, reusing the outputs of the task runs before it. Its inputs, labels and trigger are the earlier execution's."},
				EventField{Path: "replay.executionId", Doc: "Id of the execution replayed."},
				EventField{Path: "replay.from", Doc: "The task run to run again from (a task id: its first run)."},
			),
			Notes: []string{"`overLimit`, a member of `statemachine.Event`, is not part of this event: the executor sets it in memory when it finds the concurrency limit reached."},
			Example: func() ExampleRecord {
				return machineRecord(statemachine.Event{
					ID: exampleExec + "/requested", Type: statemachine.EvExecutionRequested, ExecutionID: exampleExec,
					Namespace: exampleNamespace, FlowID: exampleFlow, Inputs: map[string]any{"day": "2026-03-01"},
					Labels: []flow.Label{{Key: "team", Value: "data"}},
				}, exampleTime)
			},
		},
		{
			Type:      machineType(statemachine.EvDequeued),
			Summary:   "Start a queued execution now that a slot of its flow is free.",
			Subject:   "the execution id",
			IDs:       []string{"<execution>/dequeued"},
			Dedup:     "The event id, as for every state machine input; the execution is no longer QUEUED the second time.",
			Producers: "executor (in process)",
			Consumers: "executor (in process)",
			Meaning: "Starts an execution that waits in QUEUED because its flow's concurrency limit was reached. The executor applies it itself, without the bus, when an execution of the flow ends, and when the engine starts (for slots freed while no engine ran), oldest queued execution first, while slots are free. " +
				"It is never published: the executor would accept it on relay.executions, but then the execution would start whatever the limit.",
			Data:   eventType,
			Fields: machineFields(statemachine.EvDequeued),
			Example: func() ExampleRecord {
				return ExampleRecord{Event: mustEvent(MachineEvent(statemachine.Event{
					ID: exampleExec + "/dequeued", Type: statemachine.EvDequeued, ExecutionID: exampleExec,
				}, "relay/engine", exampleTime))}
			},
		},
		{
			Type:      machineType(statemachine.EvContinue),
			Summary:   "Go on starting the task runs an event left for later.",
			Subject:   "the execution id",
			IDs:       []string{"<execution>/continue/<version>"},
			Dedup:     "The event id, as for every state machine input; work already started is not started again.",
			Producers: "executor",
			Consumers: "executor",
			Meaning:   "One event starts at most 24 task runs (and a ForEach without a concurrency limit runs at most 256 iterations at once), so that what an event does and what its commit writes stay bounded: a Parallel of 100 branches, or a ForEach over thousands of values without a limit, starts the rest in these events, which the executor publishes to itself, one at a time.",
			Data:      eventType,
			Fields:    machineFields(statemachine.EvContinue),
			Example: func() ExampleRecord {
				return machineRecord(statemachine.Event{ID: exampleExec + "/continue/7", Type: statemachine.EvContinue, ExecutionID: exampleExec}, exampleTime)
			},
		},
		{
			Type:      TypeTaskRunScheduled,
			Summary:   "Run one attempt of a task on a worker.",
			Topic:     TopicTaskRuns,
			Key:       KeyTaskRun,
			Source:    "relay/executor",
			Subject:   "the execution id",
			IDs:       []string{"<execution>/<taskrun>/<attempt>/scheduled"},
			Dedup:     "The worker leases the attempt (`attempt/<execution>/<taskrun>/<attempt>`) before running it: a second delivery finds the lease, waits until the attempt ended (then drops it) or the lease lapsed (its worker died, or stopped the attempt when an outage kept it from renewing the lease: it reports the attempt CRASHED instead of running it again, and the retry policy decides whether a new attempt runs). A delivery after the first publishes the attempt's end instead when its worker kept it in the table (Kafka was down when it ended). Events about one attempt carry the same ids whichever worker publishes them, so the executor applies only the first of each.",
			Producers: "executor",
			Consumers: "worker",
			Meaning: "One attempt of a runnable task, with its properties already rendered. The worker publishes io.relayflow.taskrun.started, runs the task until it ends or its deadline passes, and publishes io.relayflow.taskrun.finished. " +
				"The worker ignores events of other types on relay.taskruns.",
			Data: reflect.TypeFor[statemachine.ScheduleTaskRun](),
			Fields: []EventField{
				{Path: "executionId", Doc: "Id of the execution."},
				{Path: "namespace", Doc: "Namespace of the execution's flow: the worker opens the secret markers of `props` for this namespace only, and files the attempt's output files under it in internal storage; the default namespace of the kv.* tasks."},
				{Path: "flowId", Doc: "Id of the execution's flow."},
				{Path: "taskRunId", Doc: "Id of the task run: the task id, followed by `[i]` for each enclosing `flow.foreach` value and `@i` for each enclosing `flow.waitfor` iteration."},
				{Path: "taskId", Doc: "Id of the task in the flow."},
				{Path: "type", Doc: "Task type, by its Relay name (`http.request`, `shell.commands`...)."},
				{Path: "attempt", Doc: "Attempt number, from 1."},
				{Path: "props", Doc: "The task's properties, rendered. A secret (`secret('NAME')`, a SECRET input) is never in clear here: it is a marker `[[relay-secret:...]]`, sealed with the deployment's key, that the worker opens just before the task runs (docs/architecture.md, Secrets)."},
				{Path: "deadline", Doc: "When the attempt must have ended: now plus the task's `timeout`. Absent without a timeout."},
				{Path: "position", Doc: "The task run's position in its execution, from 0 in creation order: its key in the state table, so that a worker checking an attempt reads that run alone."},
				{Path: "cache", Doc: "For a task with `taskCache` enabled: its entry in the task cache. The executor looks it up before publishing the attempt; on a hit it publishes io.relayflow.taskrun.finished with the cached outputs instead, and no worker runs the attempt. A worker fills the entry when the attempt succeeds."},
				{Path: "cache.key", Doc: "SHA-256 of the flow's namespace, id and revision, the task id and the rendered properties."},
				{Path: "cache.ttl", Doc: "How long the outputs of a successful attempt are reused, in nanoseconds."},
				{Path: "logLevel", Doc: "The task's `logLevel`, when it has one: the worker drops the attempt's log lines below it (TRACE, DEBUG, INFO, WARN, ERROR)."},
			},
			Notes: []string{"Task-run ids repeat across the executions of a flow, so the record key names the execution too: records with one key are handled one at a time, and the attempts of different executions never wait behind one another."},
			Example: func() ExampleRecord {
				c := statemachine.ScheduleTaskRun{ExecutionID: exampleExec, Namespace: "shop", FlowID: "orders", TaskRunID: "extract", TaskID: "extract", Type: flow.TypeHTTPRequest, Attempt: 1,
					Props: map[string]any{"method": "GET", "uri": "https://api.example.com/orders?day=2026-03-01"}, Deadline: exampleTime.Add(5*time.Minute + time.Second), Position: 0}
				return ExampleRecord{Key: c.ExecutionID + "/" + c.TaskRunID, Event: mustEvent(NewEvent(fmt.Sprintf("%s/%s/%d/scheduled", c.ExecutionID, c.TaskRunID, c.Attempt), TypeTaskRunScheduled, "relay/executor", c.ExecutionID, exampleTime.Add(time.Second), c))}
			},
		},
		{
			Type:      machineType(statemachine.EvTaskRunStarted),
			Summary:   "An attempt began on a worker.",
			Topic:     TopicExecutions,
			Key:       KeyExecution,
			Source:    "relay/engine",
			Subject:   "the execution id",
			IDs:       []string{"<execution>/<taskrun>/<attempt>/started"},
			Dedup:     "The event id; an event about an attempt that is no longer current is ignored too.",
			Producers: "worker",
			Consumers: "executor",
			Meaning: "The attempt is running on a worker: the task run and the attempt go from SUBMITTED to RUNNING. " +
				"Workers with a reporting delay (`relay dev` and Lambda: `RELAY_STARTED_AFTER`, 1 second by default) publish it only for attempts still running after that delay; a shorter attempt reports its start date with io.relayflow.taskrun.finished, and goes from SUBMITTED to its end in one state change.",
			Data: eventType,
			Fields: machineFields(statemachine.EvTaskRunStarted,
				EventField{Path: "taskRunId", Doc: "Id of the task run.", Required: true},
				EventField{Path: "attempt", Doc: "Attempt number, from 1.", Required: true},
				EventField{Path: "startDate", Doc: "When the attempt started on its worker (RFC 3339), the attempt's start date. The executor's clock is used when it is absent or later than the event's application."},
			),
			Example: func() ExampleRecord {
				return machineRecord(statemachine.Event{
					ID: exampleExec + "/extract/1/started", Type: statemachine.EvTaskRunStarted, ExecutionID: exampleExec, TaskRunID: "extract", Attempt: 1, StartDate: exampleTime.Add(2 * time.Second),
				}, exampleTime.Add(2*time.Second))
			},
		},
		{
			Type:      machineType(statemachine.EvTaskRunFinished),
			Summary:   "An attempt ended, with its outputs or its error.",
			Topic:     TopicExecutions,
			Key:       KeyExecution,
			Source:    "relay/engine",
			Subject:   "the execution id",
			IDs:       []string{"<execution>/<taskrun>/<attempt>/finished"},
			Dedup:     "The event id; an event about an attempt that is no longer current is ignored too.",
			Producers: "worker; the executor for a task-cache hit",
			Consumers: "executor",
			Meaning: "The attempt ended. SUCCESS and WARNING end the task run with the outputs. FAILED and CRASHED apply the task's retry policy: a retry timer (io.relayflow.timer.fired), or the end of the task run in FAILED or CRASHED (WARNING with `allowFailure`). " +
				"KILLED is reported for an attempt stopped by a kill.",
			Data: eventType,
			Fields: machineFields(statemachine.EvTaskRunFinished,
				EventField{Path: "taskRunId", Doc: "Id of the task run.", Required: true},
				EventField{Path: "attempt", Doc: "Attempt number, from 1.", Required: true},
				EventField{Path: "state", Doc: "How the attempt ended. CRASHED: its worker died (the worker that took the delivery over found its lease expired) or the OS killed its process.", Required: true, Enum: values(statemachine.RunSuccess, statemachine.RunWarning, statemachine.RunFailed, statemachine.RunCrashed, statemachine.RunKilled)},
				EventField{Path: "outputs", Doc: "Outputs of the task, by name. A failed attempt may carry some (an HTTP call's response)."},
				EventField{Path: "error", Doc: "Why the attempt failed; absent when it did not."},
				EventField{Path: "error.kind", Doc: "`retryable` errors are retried by the retry policy, `fatal` ones are not; `timeout` is a missed deadline; `crashed` an attempt whose worker or process died.", Enum: []string{statemachine.KindRetryable, statemachine.KindFatal, statemachine.KindTimeout, statemachine.KindCrashed}},
				EventField{Path: "error.type", Doc: "Error type named by the task (`ExitCode`, `HTTPStatus`, `Timeout`...)."},
				EventField{Path: "error.message", Doc: "Error message."},
				EventField{Path: "startDate", Doc: "When the attempt started on its worker (RFC 3339). The executor's clock is used when it is absent or later than the event's application."},
				EventField{Path: "metrics", Doc: "What the attempt measured (a script's `::{\"metrics\": [...]}::` lines), kept on the task run whatever its end."},
				EventField{Path: "metrics[].name", Doc: "Name of the metric."},
				EventField{Path: "metrics[].type", Doc: "`counter` (a number) or `timer` (seconds).", Enum: []string{"counter", "timer"}},
				EventField{Path: "metrics[].value", Doc: "The value."},
				EventField{Path: "metrics[].tags", Doc: "Tags of the metric, by name."},
				EventField{Path: "errorLogs", Doc: "The ERROR lines the attempt logged (at most 20, each cut at 2 KB), kept by the execution for `errorLogs()`."},
				EventField{Path: "errorLogs[].time", Doc: "When the line was logged."},
				EventField{Path: "errorLogs[].message", Doc: "The line."},
				EventField{Path: "cachedFrom", Doc: "Set when the outputs come from the task cache (the executor published the event; no worker ran the attempt): the execution whose run produced them."},
			),
			Example: func() ExampleRecord {
				return machineRecord(statemachine.Event{
					ID: exampleExec + "/extract/1/finished", Type: statemachine.EvTaskRunFinished, ExecutionID: exampleExec, TaskRunID: "extract", Attempt: 1,
					State: statemachine.RunSuccess, Outputs: map[string]any{"code": 200, "body": map[string]any{"orders": 42}}, StartDate: exampleTime.Add(2 * time.Second),
				}, exampleTime.Add(3*time.Second))
			},
		},
		{
			Type:      machineType(statemachine.EvTimerFired),
			Summary:   "A durable timer is due.",
			Topic:     TopicExecutions,
			Key:       KeyExecution,
			Source:    "relay/engine",
			Subject:   "the execution id",
			IDs:       []string{"<execution>/<taskrun>/<attempt>/<timer>"},
			Dedup:     "The event id, which is the timer's id: a timer published again (the process stopped before deleting it) is ignored, and so is a timer that no longer applies (the attempt ended, the pause was resumed).",
			Producers: "timer loop",
			Consumers: "executor",
			Meaning: "The state machine asks for timers with StartTimer commands; the store keeps them with the execution's commit, and the timer loop publishes this event once a timer is due, then deletes the timer. " +
				"In the id, the task run is empty for `kill.grace` and `restart`, and is the SLA id for `sla.maxDuration`; the attempt is 0 for timers not tied to an attempt (`sleep`, `pause.delay`, `pause.timeout`), the iteration for `waitfor`, and the execution's run (restarts plus one) for `restart` and `sla.maxDuration`.",
			Data: eventType,
			Fields: machineFields(statemachine.EvTimerFired,
				EventField{Path: "taskRunId", Doc: "Id of the task run the timer is for; the SLA id for `sla.maxDuration`; absent for `kill.grace` and `restart`."},
				EventField{Path: "attempt", Doc: "Attempt number (`retry`, `timeout`), iteration (`waitfor`), or the execution's run (`restart`, `sla.maxDuration`); absent otherwise."},
				EventField{Path: "timer", Required: true, Enum: values(statemachine.TimerRetry, statemachine.TimerTimeout, statemachine.TimerSleep, statemachine.TimerPauseDelay, statemachine.TimerPauseTimeout, statemachine.TimerWaitFor, statemachine.TimerKillGrace, statemachine.TimerRestart, statemachine.TimerSLA),
					Doc: "What the timer is for: `retry` starts the next attempt, `timeout` fails an attempt still running, `sleep` ends a `flow.sleep`, `pause.delay` ends the delay of a `flow.pause` (per its behavior), `pause.timeout` fails a pause not resumed in time, `waitfor` starts the next `flow.waitfor` iteration, `kill.grace` ends a kill whose attempts did not stop, `restart` runs a RETRYING execution again (retry behavior CREATE_NEW_EXECUTION), `sla.maxDuration` applies a MAX_DURATION SLA to an execution still running."},
			),
			Example: func() ExampleRecord {
				return machineRecord(statemachine.Event{
					ID: exampleExec + "/extract/1/retry", Type: statemachine.EvTimerFired, ExecutionID: exampleExec, TaskRunID: "extract", Attempt: 1, Timer: statemachine.TimerRetry,
				}, exampleTime.Add(13*time.Second))
			},
		},
		{
			Type:      machineType(statemachine.EvResume),
			Summary:   "Resume a PAUSED execution.",
			Topic:     TopicExecutions,
			Key:       KeyExecution,
			Source:    "relay/engine",
			Subject:   "the execution id",
			IDs:       []string{"<execution>/resume/<random>"},
			Dedup:     "The event id, new for each request: a redelivery is ignored, a second request is applied (and rejected if the execution is no longer PAUSED).",
			Producers: "`relay executions resume`",
			Consumers: "executor",
			Meaning: "Ends the paused `flow.pause` task runs of a PAUSED execution (or only the one named) in SUCCESS, with the `onResume` inputs given as their outputs, and the execution goes on. " +
				"The executor rejects (logs and drops) a resume of an execution that is not PAUSED, or with inputs that do not match the `onResume` declarations.",
			Data: eventType,
			Fields: machineFields(statemachine.EvResume,
				EventField{Path: "taskRunId", Doc: "Id of the paused task run to resume; absent: every paused task run."},
				EventField{Path: "inputs", Doc: "Values of the `onResume` inputs, by input id; defaults apply to those left out."},
			),
			Example: func() ExampleRecord {
				return machineRecord(statemachine.Event{
					ID: exampleExec + "/resume/" + formatBase36(exampleTime.Add(2*time.Hour).UnixMilli()) + "a41f0b39", Type: statemachine.EvResume, ExecutionID: exampleExec,
					Inputs: map[string]any{"approved": true},
				}, exampleTime.Add(2*time.Hour))
			},
		},
		{
			Type:      machineType(statemachine.EvRestart),
			Summary:   "Restart a FAILED or KILLED execution in place.",
			Topic:     TopicExecutions,
			Key:       KeyExecution,
			Source:    "relay/engine",
			Subject:   "the execution id",
			IDs:       []string{"<execution>/restart/<random>", "<execution>/restart/<parent execution>/<restart>"},
			Dedup:     "The event id, new for each request: a redelivery is ignored, a second request is applied (and rejected unless the execution is FAILED or KILLED again).",
			Producers: "`relay executions restart`, `POST /executions/{id}/restart`; the executor, for a failed child of a restarted parent (a `flow.subflow` with restartBehavior RETRY_FAILED)",
			Consumers: "executor",
			Meaning: "Runs a FAILED or KILLED execution again with the flow revision it ran: its blocks start from the top, task runs that ended well keep their state and outputs, the others (and those of `errors` and `finally` blocks) run again with their attempts going on. The execution gets the label `system.restarted: true`. " +
				"When the flow's concurrency limit is reached, the execution waits in QUEUED. The executor rejects (logs and drops) a restart of an execution in any other state.",
			Data:   eventType,
			Fields: machineFields(statemachine.EvRestart),
			Notes:  []string{"`overLimit`, a member of `statemachine.Event`, is not part of this event: the executor sets it in memory when it finds the concurrency limit reached."},
			Example: func() ExampleRecord {
				return machineRecord(statemachine.Event{
					ID: exampleExec + "/restart/" + formatBase36(exampleTime.Add(3*time.Hour).UnixMilli()) + "c7d21e04", Type: statemachine.EvRestart, ExecutionID: exampleExec,
				}, exampleTime.Add(3*time.Hour))
			},
		},
		{
			Type:      machineType(statemachine.EvKill),
			Summary:   "Kill an execution.",
			Topic:     TopicExecutions,
			Key:       KeyExecution,
			Source:    "relay/engine",
			Subject:   "the execution id",
			IDs:       []string{"<execution>/kill"},
			Dedup:     "The event id, the same for every kill request of an execution: a second request is ignored.",
			Producers: "`relay executions kill`; Ctrl-C in `relay run`",
			Consumers: "executor",
			Meaning: "Stops an execution. Task runs not running end KILLED at once. When attempts are running, the execution goes to KILLING, the workers are asked to stop them (they report io.relayflow.taskrun.finished in KILLED) and a `kill.grace` timer ends the kill if they do not stop in time (30 seconds by default). " +
				"A QUEUED execution ends CANCELLED.",
			Data:   eventType,
			Fields: machineFields(statemachine.EvKill),
			Example: func() ExampleRecord {
				return machineRecord(statemachine.Event{ID: exampleExec + "/kill", Type: statemachine.EvKill, ExecutionID: exampleExec}, exampleTime.Add(time.Hour))
			},
		},
		{
			Type:      machineType(statemachine.EvSubflowFinished),
			Summary:   "A subflow's execution ended; tells its parent.",
			Topic:     TopicExecutions,
			Key:       KeyExecution,
			Source:    "relay/engine",
			Subject:   "the parent execution's id",
			IDs:       []string{"<child>/finished"},
			Dedup:     "The event id; the parent also ignores it when the task run is not waiting for that child.",
			Producers: "executor (the child ended, or its flow does not exist)",
			Consumers: "executor (the parent)",
			Meaning: "Ends the parent's `flow.subflow` task run with the child's outputs: SUCCESS or WARNING as the child ended, FAILED otherwise. " +
				"The executor publishes it when an execution with a parent ends, and in FAILED when the child's flow cannot be found. It is published for subflows started with `wait: false` too; their task run has already ended, and the parent ignores it.",
			Data: eventType,
			Fields: machineFields(statemachine.EvSubflowFinished,
				EventField{Path: "taskRunId", Doc: "Id of the parent's `flow.subflow` task run.", Required: true},
				EventField{Path: "childExecutionId", Doc: "Id of the child execution.", Required: true},
				EventField{Path: "childState", Doc: "Final state of the child execution.", Required: true, Enum: values(statemachine.ExecSuccess, statemachine.ExecWarning, statemachine.ExecFailed, statemachine.ExecKilled, statemachine.ExecCancelled)},
				EventField{Path: "childOutputs", Doc: "Outputs of the child's flow, by output id."},
			),
			Example: func() ExampleRecord {
				child := exampleExec + ".publish"
				return machineRecord(statemachine.Event{
					ID: child + "/finished", Type: statemachine.EvSubflowFinished, ExecutionID: exampleExec, TaskRunID: "publish",
					ChildExecutionID: child, ChildState: statemachine.ExecSuccess, ChildOutputs: map[string]any{"report": "s3://reports/sales/2026-03-01.csv"},
				}, exampleTime.Add(40*time.Second))
			},
		},
		{
			Type:      TypeExecutionFinished,
			Summary:   "An execution ended.",
			Topic:     TopicEvents,
			Key:       KeyExecution,
			Source:    "relay/executor",
			Subject:   "the execution id",
			IDs:       []string{"<execution>/finished", "<execution>/finished/<restarts>"},
			Dedup:     "The event id: an execution ends once (once more after each restart, under a new id), so a second event with the id is a redelivery.",
			Producers: "executor",
			Consumers: "router (flow triggers; see docs/reference.md#triggers)",
			Meaning: "Announces the end of an execution, with its final state and outputs, for flow triggers and other listeners. " +
				"A waiting parent is not told through this event: it receives io.relayflow.subflow.finished on relay.executions.",
			Data: reflect.TypeFor[statemachine.ExecutionFinished](),
			Fields: []EventField{
				{Path: "executionId", Doc: "Id of the execution."},
				{Path: "namespace", Doc: "Namespace of the flow."},
				{Path: "flowId", Doc: "Id of the flow."},
				{Path: "state", Doc: "Final state of the execution.", Enum: values(statemachine.ExecSuccess, statemachine.ExecWarning, statemachine.ExecFailed, statemachine.ExecKilled, statemachine.ExecCancelled)},
				{Path: "outputs", Doc: "Flow outputs, by output id; absent when the flow has none."},
				{Path: "parent", Doc: "Set when the execution is a subflow's."},
				{Path: "parent.executionId", Doc: "Id of the parent execution."},
				{Path: "parent.taskRunId", Doc: "Id of the parent's `flow.subflow` task run."},
				{Path: "parent.namespace", Doc: "Namespace of the parent's flow."},
				{Path: "parent.flowId", Doc: "Id of the parent's flow."},
				{Path: "parent.depth", Doc: "Nesting depth: 1 for the child of a top-level execution."},
				{Path: "parent.outputs", Doc: "The `outputs` of the parent's `flow.subflow` task, as templates."},
				{Path: "origin", Doc: "Set when a trigger started the execution: the router stops a trigger with `stopAfter` when its execution ends in one of those states."},
				{Path: "origin.triggerId", Doc: "Id of the trigger in the flow."},
				{Path: "origin.type", Doc: "Type of the trigger.", Enum: []string{"schedule", "flow", "cloudevents.trigger", "webhook"}},
				{Path: "depth", Doc: "Place of the execution in its chain of subflows and triggered executions (0 for one started by hand or by a schedule, event or webhook); a flow trigger starts its downstream execution at depth+1."},
				{Path: "labels", Doc: "Labels of the execution."},
				{Path: "labels[].key", Doc: "Label name."},
				{Path: "labels[].value", Doc: "Label value."},
				{Path: "startDate", Doc: "When the execution was created."},
				{Path: "endDate", Doc: "When it ended; preconditions place it in their time window."},
				{Path: "restarts", Doc: "How many times the execution was restarted before this end."},
				{Path: "parentOutputs", Doc: "For a subflow's execution whose `flow.subflow` task has `outputs`: those rendered in this execution, which its parent's task sees instead of `outputs`."},
			},
			Example: func() ExampleRecord {
				c := statemachine.ExecutionFinished{ExecutionID: exampleExec, Namespace: exampleNamespace, FlowID: exampleFlow, State: statemachine.ExecSuccess, Outputs: map[string]any{"orders": 42}}
				return ExampleRecord{Key: c.ExecutionID, Event: mustEvent(NewEvent(c.ExecutionID+"/finished", TypeExecutionFinished, "relay/executor", c.ExecutionID, exampleTime.Add(41*time.Second), c))}
			},
		},
		{
			Title:     "User events",
			Summary:   "CloudEvents of `cloudevents.emit` tasks and of other producers.",
			Topic:     TopicEvents,
			Key:       KeyEventID,
			Source:    "the task's `source`; by default `relay/<namespace>/<flowId>`",
			Subject:   "the task's `subject`; absent by default",
			IDs:       []string{"<random>"},
			Dedup:     "`source` and `id`, as CloudEvents prescribes. The id is new for every publication: an attempt of `cloudevents.emit` that runs again (a retry, a redelivered attempt) publishes a new event.",
			Producers: "`cloudevents.emit` tasks; other producers",
			Consumers: "none in Relay yet (event triggers are to match them)",
			Meaning: "Events of any type other than `io.relayflow.*`, with any JSON data. A `cloudevents.emit` task publishes one per attempt with the `eventType`, `source`, `subject`, `data` and `extensions` it is given, and returns its id as the output `id`. " +
				"Other systems may publish on relay.events too, in binary or structured mode.",
			Example: func() ExampleRecord {
				ev := cloudevents.New()
				ev.SetID(formatBase36(exampleTime.Add(30*time.Second).UnixMilli()) + "0c7d5e18")
				ev.SetType("com.example.orders.loaded")
				ev.SetSource("relay/" + exampleNamespace + "/" + exampleFlow)
				ev.SetSubject("2026-03-01")
				ev.SetTime(exampleTime.Add(30 * time.Second))
				ev.SetExtension("team", "data")
				must(ev.SetData("application/json", map[string]any{"day": "2026-03-01", "orders": 42}))
				return ExampleRecord{Key: ev.ID(), Event: ev}
			},
		},
		{
			Title:     "Dead letters",
			Summary:   "Records that could not be handled, with the error.",
			Topic:     TopicDLQ,
			Key:       KeyOriginal,
			Source:    "the original event's",
			Subject:   "the original event's",
			IDs:       []string{"the original event's id"},
			Dedup:     "The original event's `source` and `id`.",
			Producers: "the bus",
			Consumers: "none in Relay (operators)",
			Meaning: fmt.Sprintf("An event that decodes but cannot apply (its data is meaningless, its execution or flow does not exist, the execution's state does not allow it) is published on relay.dlq at once, and one whose handler failed %d times (MaxAttempts) for another reason after those, so that the events after it with the same key go on. ", MaxAttempts) +
				"An outage (Kafka, DynamoDB or S3 down or throttling) never sends an event there: it is retried until the outage ends. " +
				"The record is the original event, data unchanged, with two extensions: `relayerror`, the last error, and `relaytopic`, the topic it failed on. Republishing it on that topic with the same key replays it; a state machine input already applied is ignored.",
			Notes: []string{
				"On Kafka the bus also adds the headers `relay_error` (the error), `relay_topic`, `relay_partition` and `relay_offset` (where the record was) and `relay_group` (the consumer group that gave up). A record that is not a valid CloudEvent is dead-lettered at once, its key, headers and value unchanged, with these headers.",
				"Each dead letter is logged (`record sent to the dead-letter topic`, with `reason` cannot_apply, failed or undecodable) and counted in the Prometheus counter `relay_dead_letters_total{topic, reason}` (`relay dev` serves /metrics). Events failing on relay.dlq itself are logged and dropped.",
			},
			Example: func() ExampleRecord {
				rec := machineRecord(statemachine.Event{
					ID: exampleExec + "/extract/1/finished", Type: statemachine.EvTaskRunFinished, ExecutionID: exampleExec, TaskRunID: "extract", Attempt: 1,
					State: statemachine.RunFailed, Error: &statemachine.TaskError{Kind: statemachine.KindRetryable, Type: "HTTPStatus", Message: "GET https://api.example.com/orders?day=2026-03-01: status 503 Service Unavailable"},
				}, exampleTime.Add(3*time.Second))
				cause := fmt.Sprintf("io.relayflow.taskrun.finished %s/extract/1/finished: execution %s does not exist", exampleExec, exampleExec)
				rec.Event.SetExtension("relayerror", cause)
				rec.Event.SetExtension("relaytopic", TopicExecutions)
				rec.Headers = [][2]string{{"relay_error", cause}, {"relay_topic", TopicExecutions}, {"relay_partition", "3"}, {"relay_offset", "18231"}, {"relay_group", "executor"}}
				return rec
			},
		},
	}
}

// machineFields documents the members every state machine input has, then
// those of its type.
func machineFields(t statemachine.EventType, fields ...EventField) []EventField {
	return append([]EventField{
		{Path: "id", Doc: "Event id, the same as the CloudEvent `id`.", Required: true},
		{Path: "type", Doc: "Event type: the CloudEvent `type` without `" + TypePrefix + "`.", Required: true, Enum: []string{string(t)}},
		{Path: "executionId", Doc: "Id of the execution the event is for.", Required: true},
	}, fields...)
}

func values[S ~string](s ...S) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = string(v)
	}
	return out
}

// Example values, fixed so that the generated files do not change.
var (
	exampleTime      = time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC)
	exampleExec      = formatBase36(exampleTime.UnixMilli()) + "5e0c91d2"
	exampleNamespace = "sales"
	exampleFlow      = "daily_orders"
)

func machineRecord(ev statemachine.Event, at time.Time) ExampleRecord {
	return ExampleRecord{Key: ev.ExecutionID, Event: mustEvent(MachineEvent(ev, "relay/engine", at))}
}

func mustEvent(ev cloudevents.Event, err error) cloudevents.Event {
	must(err)
	return ev
}

func must(err error) {
	if err != nil {
		panic(err) // the examples are fixed values
	}
}

// EventSchemas returns the JSON Schema (2020-12) of the data of every event
// type with a fixed type and data, by file name (SchemaFile).
func EventSchemas() map[string][]byte {
	out := map[string][]byte{}
	for _, s := range Catalog() {
		if s.Type == "" || s.Data == nil {
			continue
		}
		doc := dataNode(s).schema()
		doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
		doc["$id"] = "https://relayflow.io/schemas/events/" + SchemaFile(s.Type)
		doc["title"] = "Data of " + s.Type
		doc["description"] = s.Summary
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		must(enc.Encode(doc)) // maps are written with sorted keys
		out[SchemaFile(s.Type)] = b.Bytes()
	}
	return out
}

// node is the JSON shape of a Go type, members in declaration order.
type node struct {
	typ    string // JSON type; empty for any value
	format string
	items  *node // array items
	values *node // values of an object with arbitrary keys; nil for any
	props  []prop
	doc    string
	enum   []string
}

type prop struct {
	name, path string
	required   bool
	node       *node
}

var timeType = reflect.TypeFor[time.Time]()

// dataNode describes the data of s, restricted to the members of its type
// when the data is statemachine.Event.
func dataNode(s EventSpec) *node {
	docs := map[string]EventField{}
	for _, f := range s.Fields {
		docs[f.Path] = f
	}
	n := describe(s.Data, "", docs)
	if s.Data == reflect.TypeFor[statemachine.Event]() {
		n.props = slices.DeleteFunc(n.props, func(p prop) bool { _, ok := docs[p.path]; return !ok })
	}
	return n
}

// describe reflects over t as encoding/json writes it: pointers as their
// element, time.Time as a date-time string, maps as objects, slices as
// arrays, struct fields by their json names, `omitempty` and `omitzero`
// fields optional.
func describe(t reflect.Type, path string, docs map[string]EventField) *node {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	n := &node{doc: docs[path].Doc, enum: docs[path].Enum}
	switch t.Kind() {
	case reflect.String:
		n.typ = "string"
	case reflect.Bool:
		n.typ = "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n.typ = "integer"
	case reflect.Float32, reflect.Float64:
		n.typ = "number"
	case reflect.Map:
		n.typ = "object"
		if t.Elem().Kind() != reflect.Interface {
			n.values = describe(t.Elem(), path+".*", docs)
		}
	case reflect.Slice, reflect.Array:
		n.typ = "array"
		n.items = describe(t.Elem(), path+"[]", docs)
	case reflect.Struct:
		if t == timeType {
			n.typ, n.format = "string", "date-time"
			break
		}
		n.typ = "object"
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if !f.IsExported() || tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if name == "" {
				name = f.Name
			}
			p := prop{name: name, path: strings.TrimPrefix(path+"."+name, ".")}
			omit := slices.Contains(strings.Split(opts, ","), "omitempty") || slices.Contains(strings.Split(opts, ","), "omitzero")
			p.required = !omit || docs[p.path].Required
			p.node = describe(f.Type, p.path, docs)
			n.props = append(n.props, p)
		}
	}
	return n
}

// schema returns n as a JSON Schema.
func (n *node) schema() map[string]any {
	s := map[string]any{}
	if n.doc != "" {
		s["description"] = n.doc
	}
	if n.typ != "" {
		s["type"] = n.typ
	}
	if n.format != "" {
		s["format"] = n.format
	}
	switch len(n.enum) {
	case 0:
	case 1:
		s["const"] = n.enum[0]
	default:
		s["enum"] = n.enum
	}
	if n.items != nil {
		s["items"] = n.items.schema()
	}
	if n.values != nil {
		s["additionalProperties"] = n.values.schema()
	}
	if n.typ == "object" && n.values == nil && n.props != nil {
		props := map[string]any{}
		var required []string
		for _, p := range n.props {
			props[p.name] = p.node.schema()
			if p.required {
				required = append(required, p.name)
			}
		}
		s["properties"] = props
		if len(required) > 0 {
			slices.Sort(required)
			s["required"] = required
		}
	}
	return s
}

// typeName is the type of n as the docs write it.
func (n *node) typeName() string {
	var t string
	switch {
	case n.typ == "":
		t = "any"
	case n.format != "":
		t = n.typ + " (" + n.format + ")"
	case n.items != nil:
		t = "array of " + n.items.typeName()
	case n.values != nil:
		t = "object of " + n.values.typeName()
	default:
		t = n.typ
	}
	switch len(n.enum) {
	case 0:
		return t
	case 1:
		return "`" + n.enum[0] + "`"
	}
	return "one of " + code(n.enum)
}

// rows returns the members of n and of its objects, depth first.
func (n *node) rows() []prop {
	var out []prop
	for _, p := range n.props {
		out = append(out, p)
		inner := p.node
		if inner.items != nil {
			inner = inner.items
		}
		out = append(out, inner.rows()...)
	}
	return out
}

func code(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = "`" + v + "`"
	}
	return strings.Join(q, ", ")
}

// KafkaHeaders returns the headers of ev's record in the CloudEvents Kafka
// binding's binary mode, in the order infra/kafka writes them:
// ce_specversion, ce_id, ce_source, ce_type, ce_subject, ce_time, the
// extensions by name, then content-type.
func KafkaHeaders(ev cloudevents.Event) [][2]string {
	h := [][2]string{{"ce_specversion", cloudevents.CloudEventsVersionV1}, {"ce_id", ev.ID()}, {"ce_source", ev.Source()}, {"ce_type", ev.Type()}}
	if s := ev.Subject(); s != "" {
		h = append(h, [2]string{"ce_subject", s})
	}
	if t := ev.Time(); !t.IsZero() {
		h = append(h, [2]string{"ce_time", types.FormatTime(t)})
	}
	if s := ev.DataSchema(); s != "" {
		h = append(h, [2]string{"ce_dataschema", s})
	}
	exts := ev.Extensions()
	names := make([]string, 0, len(exts))
	for name := range exts {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		v, err := types.Format(exts[name])
		must(err)
		h = append(h, [2]string{"ce_" + name, v})
	}
	if ct := ev.DataContentType(); ct != "" {
		h = append(h, [2]string{"content-type", ct})
	}
	return h
}

// EventsDoc returns docs/events.md: the topics, every event type and its
// data, with an example record of each.
func EventsDoc() string {
	specs := Catalog()
	var b strings.Builder
	b.WriteString("# Events\n\n<!-- Generated by engine.EventsDoc from engine/catalog.go. Do not edit: a test fails when this file and the code differ (`go test ./engine -run Catalog -update` rewrites it). -->\n\n")
	b.WriteString("Relay's parts talk to each other only through events: CloudEvents 1.0 with JSON data, on four topics. The executor applies events to executions and carries out the commands the state machine returns; the worker runs task attempts; the timer loop publishes durable timers when they are due. `relay run` and the `relay executions` commands carry the same events on an in-process bus; in production they travel on Kafka.\n\n")

	b.WriteString("## On Kafka\n\n")
	b.WriteString("Relay writes records in the binary mode of the CloudEvents Kafka protocol binding: each attribute in a header `ce_<name>` (`ce_specversion`, `ce_id`, `ce_source`, `ce_type`, `ce_subject`, `ce_time`, then one header per extension), the data content type in `content-type` (`application/json`), and the data, as JSON, in the record value; an event without data has neither. ")
	b.WriteString("It reads binary mode and structured mode: a record with `content-type: application/cloudevents+json` holding the whole event as JSON in its value. Other producers may write either; a record that is neither goes to relay.dlq.\n\n")
	b.WriteString("Every Relay event follows the same conventions:\n\n")
	b.WriteString("- `id` is deterministic, built from the execution, task run and attempt it is about (see each type), so that an event published twice, after a crash or a retry, has the same id and its consumer recognises it.\n")
	b.WriteString("- `source` is `relay/engine` or `relay/executor`; `subject` is the id of the execution the event is for.\n")
	b.WriteString("- `time` is when the event was published (RFC 3339, UTC, in `ce_time`).\n")
	fmt.Fprintf(&b, "- Data larger than the blob threshold (%d KB unless configured: `RELAY_BLOB_THRESHOLD`) is not in the record, so that no message grows with what a flow produces: it is stored as a blob (`RELAY_BUCKET` on S3, or `RELAY_BLOB_DIR`, a local folder) and the event has no data, only the extension `%s` holding the blob's reference (`s3://<bucket>/<key>` or `file:///<path>`). Relay's consumers read the data back before handling the event; other consumers read the referenced object. A scheduled attempt with large rendered properties, a task's large outputs and an execution's large outputs travel this way.\n", DefaultBlobThreshold>>10, ExtensionDataRef)
	fmt.Fprintf(&b, "- Delivery is at least once, in order per record key. A consumer that fails on an event gets it again after a backoff, and after %d failures it goes to relay.dlq; an event that cannot apply goes there at once, and one that met an outage is retried until the outage ends.\n", MaxAttempts)
	fmt.Fprintf(&b, "- The executor applies a state machine input once: each execution keeps the ids of the last %d events applied and ignores an event whose id is among them, and the state machine ignores events about an attempt, a timer or a subflow that is no longer current. Consumers of state machine inputs de-duplicate on the execution id and the event id.\n\n", statemachine.SeenLimit)

	b.WriteString("| Topic | Record key | Carries | Consumer group |\n|---|---|---|---|\n")
	fmt.Fprintf(&b, "| `%s` | execution id | state machine inputs: every execution's events, in order | `executor` |\n", TopicExecutions)
	fmt.Fprintf(&b, "| `%s` | `<execution id>/<task-run id>` | attempts to run | `worker` |\n", TopicTaskRuns)
	fmt.Fprintf(&b, "| `%s` | execution id, or event id | ends of executions and user events, for triggers | none yet |\n", TopicEvents)
	fmt.Fprintf(&b, "| `%s` | key of the original record | events and records that could not be handled | none |\n\n", TopicDLQ)
	b.WriteString("The Kafka bus can put a prefix before every topic name, so that several deployments share a cluster.\n\n")

	b.WriteString("## Event types\n\n| Type | Topic | Produced by | Consumed by | Meaning |\n|---|---|---|---|---|\n")
	for _, s := range specs {
		topic := "none (in process)"
		if s.Topic != "" {
			topic = "`" + s.Topic + "`"
		}
		fmt.Fprintf(&b, "| [%s](#%s) | %s | %s | %s | %s |\n", title(s), anchor(title(s)), topic, s.Producers, s.Consumers, s.Summary)
	}
	inputs := 0
	for _, s := range specs {
		if s.Data == reflect.TypeFor[statemachine.Event]() {
			inputs++
		}
	}
	fmt.Fprintf(&b, "\nThe data of each `io.relayflow.*` type has a JSON Schema (2020-12) in [events/](events/), generated with this page. The %d state machine inputs share one Go type, `statemachine.Event`: each uses the members listed in its section.", inputs)
	b.WriteString(" Relay's decoders ignore members they do not know, and the schemas do not forbid them. When the data of a state machine input leaves out `id` or `type`, the executor takes them from the CloudEvent; `executionId` must be in the data (the subject is not read).\n\n")
	b.WriteString("In the fields tables, a nested member marked required is required when the member that holds it is present.\n\n")

	for _, s := range specs {
		writeSection(&b, s)
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}

func title(s EventSpec) string {
	if s.Title != "" {
		return s.Title
	}
	return s.Type
}

// anchor is the heading id GitHub gives a title.
func anchor(t string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(t) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}

func writeSection(b *strings.Builder, s EventSpec) {
	fmt.Fprintf(b, "## %s\n\n%s\n\n", title(s), s.Meaning)
	for _, n := range s.Notes {
		fmt.Fprintf(b, "%s\n\n", n)
	}
	row := func(k, v string) { fmt.Fprintf(b, "| %s | %s |\n", k, v) }
	b.WriteString("| | |\n|---|---|\n")
	switch {
	case s.Type != "":
		row("Type", "`"+s.Type+"`")
	case s.Key == KeyOriginal:
		row("Type", "the original event's")
	default:
		row("Type", "any")
	}
	if s.Topic != "" {
		row("Topic", "`"+s.Topic+"`")
		row("Record key", string(s.Key))
	} else {
		row("Topic", "none: applied in process, never published")
	}
	if s.Source != "" {
		source := s.Source
		if !strings.Contains(source, " ") {
			source = "`" + source + "`"
		}
		row("Source", source)
	}
	row("Subject", s.Subject)
	ids := code(s.IDs)
	if strings.Contains(s.IDs[0], " ") {
		ids = s.IDs[0]
	}
	row("Id", ids)
	row("Duplicates", s.Dedup)
	row("Produced by", s.Producers)
	row("Consumed by", s.Consumers)
	switch {
	case s.Key == KeyOriginal:
		row("Data", "the original event's, unchanged")
	case s.Data == nil:
		row("Data", "any JSON value")
	case s.Type != "":
		fmt.Fprintf(b, "| Data | `%s` ([schema](events/%s)) |\n", s.Data, SchemaFile(s.Type))
	}
	b.WriteString("\n")

	if s.Data != nil {
		b.WriteString("| Field | Type | Required | Description |\n|---|---|---|---|\n")
		for _, p := range dataNode(s).rows() {
			req := ""
			if p.required {
				req = "yes"
			}
			fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", p.path, p.node.typeName(), req, p.node.doc)
		}
		b.WriteString("\n")
	}

	ex := s.Example()
	if s.Topic == "" {
		b.WriteString("Example data:\n\n")
	} else {
		b.WriteString("Example record:\n\n```text\n")
		fmt.Fprintf(b, "topic: %s\nkey: %s\nheaders:\n", s.Topic, ex.Key)
		for _, h := range append(KafkaHeaders(ex.Event), ex.Headers...) {
			fmt.Fprintf(b, "  %s: %s\n", h[0], h[1])
		}
		b.WriteString("value:\n```\n\n")
	}
	var v bytes.Buffer
	must(json.Indent(&v, ex.Event.Data(), "", "  "))
	fmt.Fprintf(b, "```json\n%s\n```\n\n", v.String())
}
