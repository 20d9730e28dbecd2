package flow

import "slices"

// Canonical task type names. The state machine switches on these.
const (
	TypeLog          = "log"
	TypeReturn       = "debug.return"
	TypeOutputValues = "output.values"
	TypeSequential   = "flow.sequential"
	TypeParallel     = "flow.parallel"
	TypeIf           = "flow.if"
	TypeSwitch       = "flow.switch"
	TypeForEach      = "flow.foreach"
	TypeAllowFailure = "flow.allowfailure"
	TypeDag          = "flow.dag"
	TypeSubflow      = "flow.subflow"
	TypePause        = "flow.pause"
	TypeSleep        = "flow.sleep"
	TypeWaitFor      = "flow.waitfor"
	TypeFail         = "flow.fail"
	TypeHTTPRequest  = "http.request"
	TypeShell        = "shell.commands"
	TypeShellScript  = "shell.script"
	TypePython       = "python.script"
	TypePythonCmds   = "python.commands"
	TypeNode         = "node.script"
	TypeNodeCmds     = "node.commands"
	TypeS3Upload     = "s3.upload"
	TypeS3Download   = "s3.download"
	TypeS3List       = "s3.list"
	TypeS3Delete     = "s3.delete"
	TypeS3Copy       = "s3.copy"
	TypeLambdaInvoke = "lambda.invoke"
	TypeEmit         = "cloudevents.emit"
	TypeKVSet        = "kv.set"
	TypeKVGet        = "kv.get"
	TypeKVDelete     = "kv.delete"
	TypeKVGetKeys    = "kv.getkeys"
	TypeLogFetch     = "log.fetch"
	TypeLabels       = "execution.labels"
)

// KVTypes are the types of KV store values (kv.set's kvType).
var KVTypes = []string{"STRING", "NUMBER", "BOOLEAN", "DATETIME", "DATE", "DURATION", "JSON"}

// Subflow restart behaviors.
const (
	RestartRetryFailed  = "RETRY_FAILED"
	RestartNewExecution = "NEW_EXECUTION"
)

// Pause behaviors at the end of its delay, as Kestra names them.
const (
	PauseResume = "RESUME"
	PauseWarn   = "WARN"
	PauseFail   = "FAIL"
	PauseCancel = "CANCEL"
)

// PauseBehaviors lists the pause behaviors.
var PauseBehaviors = []string{PauseResume, PauseWarn, PauseFail, PauseCancel}

// Log levels, as Kestra spells them.
var LogLevels = []string{"TRACE", "DEBUG", "INFO", "WARN", "ERROR"}

// LevelBelow reports whether a log line of level is below least, a task's
// logLevel: such a line is not kept. An empty least keeps every line.
func LevelBelow(level, least string) bool {
	return least != "" && slices.Index(LogLevels, level) < slices.Index(LogLevels, least)
}

// Builtin is the registry of every task, trigger and condition type Relay has.
var Builtin = NewRegistry(append(append(taskTypes(), triggerTypes()...), conditionTypes()...)...)

func kestra(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "io.kestra." + n
	}
	return out
}

// Small constructors keep the tables below readable.
func str(name, desc string) *PropDef {
	return &PropDef{Name: name, Spec: Spec{Kind: KindString}, Dynamic: true, Description: desc}
}
func required(p *PropDef) *PropDef { p.Required = true; return p }
func withDefault(p *PropDef, v any) *PropDef {
	p.Default = v
	return p
}
func aliased(p *PropDef, aliases ...string) *PropDef { p.Aliases = aliases; return p }
func static(p *PropDef) *PropDef                     { p.Dynamic = false; return p }
func boolean(name, desc string) *PropDef {
	return &PropDef{Name: name, Spec: Spec{Kind: KindBool}, Description: desc}
}
func integer(name string, min float64, desc string) *PropDef {
	return &PropDef{Name: name, Spec: Spec{Kind: KindInt, Min: min, HasMin: true}, Description: desc}
}
func duration(name, desc string) *PropDef {
	return &PropDef{Name: name, Spec: Spec{Kind: KindDuration}, Description: desc}
}
func enum(name string, values []string, desc string) *PropDef {
	return &PropDef{Name: name, Spec: Spec{Kind: KindEnum, Enum: values}, Description: desc}
}
func anyValue(name, desc string) *PropDef {
	return &PropDef{Name: name, Spec: Spec{Kind: KindAny}, Dynamic: true, Description: desc}
}
func mapOf(name string, elem *Spec, desc string) *PropDef {
	return &PropDef{Name: name, Spec: Spec{Kind: KindMap, Elem: elem}, Dynamic: true, Description: desc}
}
func listOf(name string, elem *Spec, desc string) *PropDef {
	return &PropDef{Name: name, Spec: Spec{Kind: KindList, Elem: elem}, Dynamic: true, Description: desc}
}
func tasks(name string, min int, desc string) *PropDef {
	return &PropDef{Name: name, Spec: Spec{Kind: KindTasks, MinItems: min}, Required: min > 0, Description: desc}
}
func object(name string, desc string, fields ...*PropDef) *PropDef {
	return &PropDef{Name: name, Spec: Spec{Kind: KindObject, Fields: fields}, Description: desc}
}

var stringSpec = &Spec{Kind: KindString}

func errorsProp() *PropDef {
	return tasks("errors", 0, "Tasks run when a task of this block fails, before the flow's own `errors`.")
}

// CommonTaskProps are accepted by every task type.
func CommonTaskProps() []*PropDef {
	return []*PropDef{
		static(required(str("id", "Unique id of the task in the flow; matches `^[a-zA-Z0-9][a-zA-Z0-9._-]*$`."))),
		static(required(str("type", "Task type: a Relay name or one of its Kestra aliases."))),
		static(str("description", "Free text shown in the UI and the CLI.")),
		withDefault(boolean("disabled", "A disabled task is left out of the execution."), false),
		withDefault(boolean("allowFailure", "A failure of this task becomes WARNING and the flow goes on."), false),
		withDefault(boolean("allowWarning", "A WARNING of this task becomes SUCCESS."), false),
		duration("timeout", "Longest time one attempt may run; past it the attempt fails with a timeout error and the retry policy applies."),
		retryProp(),
		withDefault(str("runIf", "Expression; when it renders false (see truthiness) the task is SKIPPED."), "true"),
		enum("logLevel", LogLevels, "Least level of the task's log lines that are kept (its own, a script's output, and Relay's lines about its runs); lower ones are dropped."),
		withDefault(boolean("logToFile", "Accepted for Kestra flows; Relay keeps every log line in its log store whatever it says (`relay validate` notes it)."), false),
		object("taskCache", "Kestra's task cache: a run of this (runnable) task whose flow revision and rendered properties match a successful run's within `ttl` is not run again; it ends SUCCESS with that run's outputs and is marked `cached`.",
			withDefault(boolean("enabled", "Use the cache."), false),
			duration("ttl", "How long a successful run's outputs are reused; required when enabled."),
		),
	}
}

// RetryFields are the properties of a retry policy.
func RetryFields() []*PropDef {
	jitter := duration("jitter", "Random delay added to each wait: a duration (a delay in [0, jitter]) or `true` (up to 20% of the wait).")
	jitter.Spec.BoolOr = true
	return []*PropDef{
		enum("type", []string{RetryConstant, RetryExponential, RetryRandom, RetryDelays}, "Policy; when left out, `delays` if `delays` is given, `exponential` if `maxInterval` or `delayFactor` is, else `constant`."),
		aliased(integer("maxAttempts", 1, "Most attempts in all, the first one included; with `delays` alone, one more than the delays listed."), "maxAttempt"),
		aliased(duration("interval", "Wait before the first retry (constant: before every retry)."), "delay"),
		aliased(duration("maxInterval", "Longest wait between attempts (exponential and random)."), "maxDelay"),
		duration("minInterval", "Shortest wait between attempts (random)."),
		withDefault(&PropDef{Name: "delayFactor", Spec: Spec{Kind: KindNumber, Min: 1, HasMin: true}, Description: "Growth factor of the wait (exponential)."}, 2.0),
		duration("maxDuration", "Longest time from the first attempt after which no retry starts."),
		jitter,
		withDefault(boolean("warningOnRetry", "End in WARNING instead of SUCCESS when a retry was needed."), false),
		{Name: "delays", Spec: Spec{Kind: KindList, Elem: &Spec{Kind: KindDuration}, MinItems: 1}, Description: "The wait before each retry, in order (Prefect's list of retry delays); past the end of the list the last wait repeats."},
		withDefault(enum("behavior", []string{RetryFailedTask, CreateNewExecution}, "RETRY_FAILED_TASK: retry the failed task run (a new attempt). CREATE_NEW_EXECUTION: when the execution fails, run it again, in place, after the wait (its failed task runs run again; `maxAttempts` counts execution attempts)."), RetryFailedTask),
	}
}

func retryProp() *PropDef {
	return object("retry", "Retry policy of the task; the flow's `retry` applies when left out.", RetryFields()...)
}

var (
	methods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}
)

func taskTypes() []*TypeDef {
	return append(append(coreTaskTypes(), scriptTaskTypes()...), s3TaskTypes()...)
}

func coreTaskTypes() []*TypeDef {
	forEachValues := aliased(required(anyValue("values", "Items to iterate: a list, or a JSON array string, or an expression yielding a list.")), "value")
	return []*TypeDef{
		{
			Name: TypeLog, Category: CategoryTask,
			Aliases:     kestra("plugin.core.log.Log", "core.tasks.log.Log"),
			Description: "Writes a message (or a list of messages) to the execution's log.",
			Props: []*PropDef{
				required(&PropDef{Name: "message", Spec: Spec{Kind: KindList, Elem: stringSpec, Scalar: true}, Dynamic: true, Description: "Message text, or a list of messages."}),
				withDefault(enum("level", LogLevels, "Level of the message."), "INFO"),
			},
		},
		{
			Name: TypeReturn, Category: CategoryTask,
			Aliases:     kestra("plugin.core.debug.Return", "plugin.core.debug.Echo", "core.tasks.debugs.Return", "core.tasks.debugs.Echo"),
			Description: "Renders `format` and returns it, as text (as Kestra), as the output `value`.",
			Props:       []*PropDef{required(str("format", "Text or expression to render."))},
			Outputs:     []OutputDef{{Name: "value", Kind: KindString, Description: "The rendered `format`, as text: a list or a map as JSON."}},
		},
		{
			Name: TypeOutputValues, Category: CategoryTask,
			Aliases:     kestra("plugin.core.output.OutputValues", "core.tasks.outputs.OutputValues"),
			Description: "Renders a map of values and returns them as the output `values`.",
			Props:       []*PropDef{required(mapOf("values", nil, "Values to render; each may be an expression."))},
			Outputs:     []OutputDef{{Name: "values", Kind: KindMap, Description: "The rendered values, by key."}},
		},
		{
			Name: TypeSequential, Category: CategoryTask, Flowable: true,
			Aliases:     kestra("plugin.core.flow.Sequential", "core.tasks.flows.Sequential"),
			Description: "Runs its tasks one after another.",
			Props:       []*PropDef{tasks("tasks", 1, "Tasks to run in order."), errorsProp()},
		},
		{
			Name: TypeParallel, Category: CategoryTask, Flowable: true,
			Aliases:     kestra("plugin.core.flow.Parallel", "core.tasks.flows.Parallel"),
			Description: "Runs its tasks at the same time, at most `concurrent` at once. A failing task does not stop the others; the block fails once all have ended.",
			Props: []*PropDef{
				tasks("tasks", 1, "Tasks to run in parallel."),
				withDefault(static(integer("concurrent", 0, "Most tasks running at once; 0 means no limit (Relay starts at most 24 task runs per event, the others right after).")), 0),
				errorsProp(),
			},
		},
		{
			Name: TypeIf, Category: CategoryTask, Flowable: true,
			Aliases:     kestra("plugin.core.flow.If", "core.tasks.flows.If"),
			Description: "Runs `then` when the condition is true (see truthiness), `else` otherwise.",
			Props: []*PropDef{
				required(str("condition", "Expression deciding the branch.")),
				tasks("then", 1, "Tasks run when the condition is true."),
				tasks("else", 0, "Tasks run when the condition is false."),
				errorsProp(),
			},
		},
		{
			Name: TypeSwitch, Category: CategoryTask, Flowable: true,
			Aliases:     kestra("plugin.core.flow.Switch", "core.tasks.flows.Switch"),
			Description: "Renders `value` to a string and runs the case of that name, or `defaults`.",
			Props: []*PropDef{
				required(str("value", "Expression whose string value selects the case.")),
				{Name: "cases", Spec: Spec{Kind: KindCases, MinItems: 1}, Description: "Map from a value to the tasks run for it."},
				tasks("defaults", 0, "Tasks run when no case matches."),
				errorsProp(),
			},
		},
		{
			Name: TypeForEach, Category: CategoryTask, Flowable: true,
			Aliases:     kestra("plugin.core.flow.ForEach", "plugin.core.flow.EachSequential", "plugin.core.flow.EachParallel", "core.tasks.flows.EachSequential", "core.tasks.flows.EachParallel"),
			Description: "Runs its tasks once per value; inside one iteration the tasks run one after another. `taskrun.value` is the current value. A failing iteration does not stop the others; the block fails once all have ended.",
			Props: []*PropDef{
				forEachValues,
				withDefault(aliased(static(integer("concurrencyLimit", 0, "Most iterations running at once; 0 means no limit of the flow's own (Relay runs at most 256 iterations of one ForEach at once, and starts at most 24 task runs per event).")), "concurrent"), 1),
				tasks("tasks", 1, "Tasks run for each value."),
				errorsProp(),
			},
			AliasDefaults: map[string]map[string]any{
				"io.kestra.plugin.core.flow.EachParallel": {"concurrencyLimit": 0},
				"io.kestra.core.tasks.flows.EachParallel": {"concurrencyLimit": 0},
			},
		},
		{
			Name: TypeAllowFailure, Category: CategoryTask, Flowable: true,
			Aliases:     kestra("plugin.core.flow.AllowFailure", "core.tasks.flows.AllowFailure"),
			Description: "Runs its tasks in order; a failure inside ends the block in WARNING and the flow goes on.",
			Props:       []*PropDef{tasks("tasks", 1, "Tasks to run."), errorsProp()},
		},
		{
			Name: TypeDag, Category: CategoryTask, Flowable: true,
			Aliases:     kestra("plugin.core.flow.Dag", "core.tasks.flows.Dag"),
			Description: "Runs tasks as soon as the tasks they depend on have succeeded. A failure blocks only the tasks that depend on it; the block fails once the rest have ended.",
			Props: []*PropDef{
				{Name: "tasks", Spec: Spec{Kind: KindDag, MinItems: 1}, Required: true, Description: "List of `{task, dependsOn}`; `dependsOn` names task ids of the same Dag."},
				withDefault(static(integer("concurrent", 0, "Most tasks running at once; 0 means no limit (Relay starts at most 24 task runs per event, the others right after).")), 0),
				errorsProp(),
			},
		},
		{
			Name: TypeSubflow, Category: CategoryTask, Flowable: true,
			Aliases:     kestra("plugin.core.flow.Subflow", "core.tasks.flows.Subflow", "core.tasks.flows.Flow"),
			Description: "Starts an execution of another flow; with `wait`, continues when it ends.",
			Props: []*PropDef{
				required(str("namespace", "Namespace of the flow to start.")),
				required(str("flowId", "Id of the flow to start.")),
				static(integer("revision", 1, "Revision to start; the latest when left out.")),
				mapOf("inputs", nil, "Inputs of the child execution; each may be an expression."),
				mapOf("labels", stringSpec, "Labels added to the child execution."),
				withDefault(boolean("wait", "Wait for the child execution to end and take its outputs."), true),
				withDefault(boolean("transmitFailed", "With `wait`, fail this task when the child execution fails."), true),
				withDefault(enum("restartBehavior", []string{RestartRetryFailed, RestartNewExecution}, "When the parent execution is restarted and this task runs again: restart the failed child execution (RETRY_FAILED), or start a new one (NEW_EXECUTION)."), RestartRetryFailed),
				withDefault(boolean("inheritLabels", "Give the child execution this execution's labels (Relay's own system.* labels aside; `labels` override them). The child always inherits system.correlationId."), false),
				mapOf("outputs", nil, "Kestra's legacy Subflow outputs: values rendered in the child execution when it ends (`{{ outputs.<child task>.<output> }}` reads the child's task outputs), which become this task's `outputs` instead of the child's flow outputs. Not checked against this flow's tasks."),
			},
			Outputs: []OutputDef{
				{Name: "executionId", Kind: KindString, Description: "Id of the child execution."},
				{Name: "state", Kind: KindString, Description: "Final state of the child execution (with `wait`)."},
				{Name: "outputs", Kind: KindMap, Description: "Outputs of the child execution (with `wait`)."},
			},
		},
		{
			Name: TypePause, Category: CategoryTask, Flowable: true,
			Aliases:     kestra("plugin.core.flow.Pause", "core.tasks.flows.Pause"),
			Description: "Pauses the execution until it is resumed, or for `delay`. Holds no worker while paused. The common `timeout` fails the pause when it is not resumed in time. Its `tasks`, if any, run once it is resumed, as a flow.sequential's (Kestra's older Pause).",
			Props: []*PropDef{
				aliased(duration("delay", "Resume by itself after this long."), "pauseDuration"),
				withDefault(enum("behavior", PauseBehaviors, "What the end of `delay` does: RESUME goes on, WARN goes on with the pause in WARNING, FAIL fails the pause, CANCEL cancels the execution (as a kill, ending CANCELLED). Resuming by hand always goes on."), PauseResume),
				tasks("tasks", 0, "Tasks run after the pause is resumed, in order; the pause ends when they have."),
				errorsProp(),
				{Name: "onResume", Spec: Spec{Kind: KindInputs}, Description: "Inputs asked when resuming, declared like flow inputs; read as `outputs.<id>.onResume.<input>`."},
			},
			Outputs: []OutputDef{{Name: "onResume", Kind: KindMap, Description: "The inputs given at resume."}},
		},
		{
			Name: TypeSleep, Category: CategoryTask, Flowable: true,
			Aliases:     kestra("plugin.core.flow.Sleep"),
			Description: "Waits for `duration` with a durable timer; holds no worker.",
			Props:       []*PropDef{required(duration("duration", "How long to wait."))},
		},
		{
			Name: TypeWaitFor, Category: CategoryTask, Flowable: true,
			Aliases:     kestra("plugin.core.flow.WaitFor", "plugin.core.flow.LoopUntil"),
			Description: "Runs its tasks again every `checkFrequency.interval` until the condition is true.",
			Props: []*PropDef{
				required(str("condition", "Expression checked after each iteration; true ends the loop.")),
				tasks("tasks", 1, "Tasks run in each iteration."),
				object("checkFrequency", "Bounds of the loop.",
					withDefault(integer("maxIterations", 1, "Most iterations."), 100),
					withDefault(duration("maxDuration", "Longest time the loop runs."), "PT1H"),
					withDefault(duration("interval", "Wait between iterations."), "PT1S"),
				),
				withDefault(boolean("failOnMaxReached", "Fail when a bound is reached before the condition is true; otherwise the loop ends in SUCCESS."), false),
				errorsProp(),
			},
			Outputs: []OutputDef{{Name: "iterationCount", Kind: KindInt, Description: "Number of iterations run."}},
		},
		{
			Name: TypeFail, Category: CategoryTask,
			Aliases:     kestra("plugin.core.execution.Fail", "core.tasks.executions.Fail"),
			Description: "Fails the task (and so the execution) with `errorMessage`, when `condition` is true or absent.",
			Props: []*PropDef{
				str("condition", "Expression; the task fails only when it is true."),
				withDefault(str("errorMessage", "Message of the failure."), "Task failure"),
			},
		},
		{
			Name: TypeHTTPRequest, Category: CategoryTask,
			Aliases:     kestra("plugin.core.http.Request", "plugin.http.Request", "plugin.fs.http.Request"),
			Description: "Sends an HTTP request. JSON response bodies are decoded into `body`.",
			Props: []*PropDef{
				required(str("uri", "URL to call.")),
				withDefault(enum("method", methods, "HTTP method."), "GET"),
				mapOf("headers", stringSpec, "Request headers."),
				anyValue("body", "Request body: a string, or a value sent as JSON."),
				mapOf("formData", nil, "Form fields, sent as application/x-www-form-urlencoded."),
				str("contentType", "Content-Type of the body."),
				withDefault(boolean("allowFailed", "Do not fail the task on a 4xx or 5xx response."), false),
			},
			Outputs: []OutputDef{
				{Name: "code", Kind: KindInt, Description: "HTTP status code."},
				{Name: "headers", Kind: KindMap, Description: "Response headers."},
				{Name: "body", Kind: KindAny, Description: "Response body; decoded when it is JSON."},
			},
		},
		{
			Name: TypeLambdaInvoke, Category: CategoryTask,
			Description: "Invokes a user's own AWS Lambda function synchronously; a function error fails the attempt.",
			Props: []*PropDef{
				required(str("function", "Function name or ARN.")),
				anyValue("payload", "Event sent to the function, as JSON."),
				str("qualifier", "Version or alias to invoke."),
			},
			Outputs: []OutputDef{
				{Name: "statusCode", Kind: KindInt, Description: "Status code of the invocation."},
				{Name: "payload", Kind: KindAny, Description: "The function's response; decoded when it is JSON."},
				{Name: "executedVersion", Kind: KindString, Description: "Version of the function that ran."},
			},
		},
		{
			Name: TypeEmit, Category: CategoryTask,
			Description: "Publishes a CloudEvent on Relay's event bus, where event triggers can match it.",
			Props: []*PropDef{
				required(str("eventType", "CloudEvent `type` attribute (named so because `type` is the task's type).")),
				str("source", "CloudEvent `source`; defaults to `relay/<namespace>/<flowId>`."),
				str("subject", "CloudEvent `subject`."),
				anyValue("data", "Event data, sent as JSON."),
				mapOf("extensions", stringSpec, "CloudEvent extension attributes."),
			},
			Outputs: []OutputDef{{Name: "id", Kind: KindString, Description: "Id of the published event."}},
		},
		{
			Name: TypeKVSet, Category: CategoryTask,
			Aliases:     kestra("plugin.core.kv.Set"),
			Description: "Writes a value to the KV store of a namespace (shared by every flow and execution; read with kv.get or kv('key')).",
			Props: []*PropDef{
				required(str("key", "Key: letters, digits, '.', '_' and '-', starting with a letter or a digit.")),
				required(anyValue("value", "Value, at most 256 KiB of JSON. Its type is kvType, else the value's own: text, number, boolean, or JSON for lists and maps.")),
				str("namespace", "Namespace of the key; the flow's by default."),
				enum("kvType", KVTypes, "Type of the value; a text value is parsed as that type (NUMBER `42`, BOOLEAN `true`, DATETIME `2024-01-31T10:00:00Z`, DATE `2024-01-31`, DURATION `PT5M`, JSON `{\"a\": 1}`)."),
				withDefault(boolean("overwrite", "Replace a value that is there; false fails the task instead."), true),
				str("ttl", "How long the value lives (ISO 8601 or Go duration); for ever by default."),
				str("kvDescription", "Description of the value."),
			},
		},
		{
			Name: TypeKVGet, Category: CategoryTask,
			Aliases:     kestra("plugin.core.kv.Get"),
			Description: "Reads a value of the KV store as the output `value`.",
			Props: []*PropDef{
				required(str("key", "Key to read.")),
				str("namespace", "Namespace of the key; the flow's by default."),
				withDefault(boolean("errorOnMissing", "Fail when the key is missing or expired; otherwise the value is null."), false),
			},
			Outputs: []OutputDef{{Name: "value", Kind: KindAny, Description: "The value, with its type; null when missing."}},
		},
		{
			Name: TypeKVDelete, Category: CategoryTask,
			Aliases:     kestra("plugin.core.kv.Delete"),
			Description: "Deletes a key of the KV store.",
			Props: []*PropDef{
				required(str("key", "Key to delete.")),
				str("namespace", "Namespace of the key; the flow's by default."),
				withDefault(boolean("errorOnMissing", "Fail when the key is missing."), false),
			},
			Outputs: []OutputDef{{Name: "deleted", Kind: KindBool, Description: "Whether the key was there."}},
		},
		{
			Name: TypeKVGetKeys, Category: CategoryTask,
			Aliases:     kestra("plugin.core.kv.GetKeys"),
			Description: "Lists the keys of a namespace in the KV store.",
			Props: []*PropDef{
				str("prefix", "Only keys that start with it."),
				str("namespace", "Namespace; the flow's by default."),
			},
			Outputs: []OutputDef{{Name: "keys", Kind: KindList, Description: "The live keys, sorted."}},
		},
		{
			Name: TypeLogFetch, Category: CategoryTask,
			Aliases:     kestra("plugin.core.log.Fetch", "core.tasks.log.Fetch"),
			Description: "Reads the stored logs of an execution (this one by default) as outputs: the lines are the output `logs` (the first 1000), where Kestra writes an Ion file to internal storage and outputs its `uri`.",
			Props: []*PropDef{
				str("executionId", "Execution whose logs to read; this one by default. It must be an execution of this flow unless namespace and flowId name another."),
				str("namespace", "Namespace of the flow of executionId."),
				str("flowId", "Flow of executionId."),
				withDefault(enum("level", LogLevels, "Least level of the lines read."), "INFO"),
				listOf("tasksId", stringSpec, "Only the lines of these tasks."),
			},
			Outputs: []OutputDef{
				{Name: "size", Kind: KindInt, Description: "Number of lines that match."},
				{Name: "logs", Kind: KindList, Description: "The first 1000 of them: maps with namespace, flowId, executionId, taskId, taskRunId, attemptNumber, timestamp, level and message."},
			},
		},
		{
			Name: TypeLabels, Category: CategoryTask,
			Aliases:     kestra("plugin.core.execution.Labels"),
			Description: "Adds labels to the execution, or changes them (the state machine runs it; no worker). Labels starting with `system.` are Relay's own and cannot be set.",
			Props: []*PropDef{
				required(anyValue("labels", "Labels: a map of key to value, or a list of {key, value}.")),
			},
		},
	}
}
