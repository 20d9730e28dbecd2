package flow

// Canonical trigger and condition type names.
const (
	TriggerSchedule = "schedule"
	TriggerFlow     = "flow"
	TriggerWebhook  = "webhook"
	TriggerEvent    = "cloudevents.trigger"

	ConditionExecutionFlow      = "condition.execution_flow"
	ConditionExecutionStatus    = "condition.execution_status"
	ConditionExecutionNamespace = "condition.execution_namespace"
	ConditionExpression         = "condition.expression"
)

// ExecutionStates are the execution state names a trigger may filter on.
var ExecutionStates = []string{"CREATED", "QUEUED", "RUNNING", "PAUSED", "KILLING", "SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED"}

// CommonTriggerProps are accepted by every trigger type.
func CommonTriggerProps() []*PropDef {
	return []*PropDef{
		static(required(str("id", "Unique id of the trigger in the flow."))),
		static(required(str("type", "Trigger type: a Relay name or one of its Kestra aliases."))),
		static(str("description", "Free text.")),
		withDefault(boolean("disabled", "A disabled trigger never fires."), false),
		{Name: "conditions", Spec: Spec{Kind: KindList, Elem: &Spec{Kind: KindTyped, Category: CategoryCondition}}, Description: "Conditions that must all hold for the trigger to fire."},
		listOf("stopAfter", &Spec{Kind: KindEnum, Enum: ExecutionStates}, "Disable the trigger once an execution it started ends in one of these states."),
		withDefault(boolean("logToFile", "Accepted for Kestra flows; ignored (`relay validate` notes it)."), false),
	}
}

func triggerTypes() []*TypeDef {
	states := &Spec{Kind: KindEnum, Enum: ExecutionStates}
	return []*TypeDef{
		{
			Name: TriggerSchedule, Category: CategoryTrigger,
			Aliases:     kestra("plugin.core.trigger.Schedule", "plugin.core.schedule.Schedule", "core.models.triggers.types.Schedule"),
			Description: "Starts the flow on a cron schedule. Variables: `trigger.date`, `trigger.next`, `trigger.previous`.",
			Props: []*PropDef{
				static(required(str("cron", "Cron expression: 5 fields (6 with `withSeconds`) or a nickname such as `@hourly`."))),
				withDefault(boolean("withSeconds", "The cron expression has a leading seconds field."), false),
				withDefault(static(str("timezone", "IANA time zone the cron expression is read in.")), "UTC"),
				mapOf("inputs", nil, "Inputs of the started executions."),
				object("backfill", "Start executions for past schedule times.",
					aliased(static(str("start", "First schedule time to backfill (ISO-8601).")), "startDate"),
					aliased(static(str("end", "Last schedule time to backfill; now when left out.")), "endDate"),
				),
				withDefault(enum("recoverMissedSchedules", []string{"LAST", "NONE", "ALL"}, "What to start for schedule times missed while Relay was down."), "ALL"),
			},
		},
		{
			Name: TriggerFlow, Category: CategoryTrigger,
			Aliases:     kestra("plugin.core.trigger.Flow", "core.models.triggers.types.Flow"),
			Description: "Starts the flow when an execution of another flow ends. Variables: `trigger.executionId`, `trigger.namespace`, `trigger.flowId`, `trigger.state`, `trigger.outputs`.",
			Props: []*PropDef{
				mapOf("inputs", nil, "Inputs of the started executions; may read `trigger.*`."),
				listOf("states", states, "Upstream end states that fire the trigger; all terminal states when left out."),
				object("preconditions", "Fire only when all listed flows ended as required within a time window.",
					static(str("id", "Id of the precondition set.")),
					&PropDef{Name: "flows", Spec: Spec{Kind: KindList, Elem: &Spec{Kind: KindObject, Fields: []*PropDef{
						static(required(str("namespace", "Upstream namespace."))),
						static(required(str("flowId", "Upstream flow id."))),
						listOf("states", states, "Accepted end states; SUCCESS when left out."),
					}}}, Description: "Upstream flows that must all have ended."},
					&PropDef{Name: "where", Spec: Spec{Kind: KindList, Elem: &Spec{Kind: KindObject, Fields: []*PropDef{
						static(required(str("id", "Id of the filter group."))),
						withDefault(enum("operand", []string{"AND", "OR"}, "How the filters combine."), "AND"),
						{Name: "filters", Spec: Spec{Kind: KindList, Elem: &Spec{Kind: KindObject, Fields: []*PropDef{
							required(enum("field", []string{"NAMESPACE", "FLOW_ID", "STATE", "EXPRESSION"}, "What the filter reads.")),
							required(enum("type", []string{"EQUAL_TO", "NOT_EQUAL_TO", "IN", "NOT_IN", "STARTS_WITH", "ENDS_WITH", "CONTAINS", "REGEX", "IS_TRUE", "IS_FALSE", "IS_NULL", "IS_NOT_NULL", "PREFIX"}, "Comparison.")),
							anyValue("value", "Value compared with."),
							listOf("values", stringSpec, "Values compared with (IN, NOT_IN)."),
						}}}, Required: true, Description: "Filters of the group."},
					}}}, Description: "Filters on the upstream executions."},
					object("timeWindow", "Window in which the upstream executions must end.",
						withDefault(enum("type", []string{"DURATION_WINDOW", "SLIDING_WINDOW", "DAILY_TIME_WINDOW", "DAILY_TIME_DEADLINE"}, "Kind of window."), "DURATION_WINDOW"),
						withDefault(duration("window", "Length of a duration or sliding window."), "PT24H"),
						duration("windowAdvance", "Offset of a duration window's start."),
						static(str("startTime", "Start of a daily window (HH:mm:ss).")),
						static(str("endTime", "End of a daily window (HH:mm:ss).")),
						static(str("deadline", "Deadline of a daily deadline window (HH:mm:ss).")),
					),
					withDefault(boolean("resetOnSuccess", "Start counting again after the trigger fired."), true),
				),
			},
		},
		{
			Name: TriggerWebhook, Category: CategoryTrigger,
			Aliases:     kestra("plugin.core.trigger.Webhook", "core.models.triggers.types.Webhook"),
			Description: "Starts the flow on `POST /webhooks/{namespace}/{flowId}/{key}`. Variables: `trigger.body`, `trigger.headers`, `trigger.parameters`.",
			Props: []*PropDef{
				required(str("key", "Secret part of the webhook URL: at least 8 characters, or an expression rendered for each call, usually `{{ secret('WEBHOOK_KEY') }}` (it may read `flow` and `secret()`).")),
				mapOf("inputs", nil, "Inputs of the started executions; may read `trigger.*`."),
			},
		},
		{
			Name: TriggerEvent, Category: CategoryTrigger,
			Description: "Starts the flow on a CloudEvent on `relay.events` that matches `filters` (CloudEvents Subscriptions API dialects) and `condition`. Variables: `trigger.event`.",
			Props: []*PropDef{
				{Name: "filters", Spec: Spec{Kind: KindList, Elem: &Spec{Kind: KindAny}}, Description: "Subscription filters: `exact`, `prefix`, `suffix` (maps of attribute to value), `all`, `any` (lists of filters), `not` (a filter)."},
				str("condition", "Expression over `trigger.event`; the trigger fires only when it is true."),
				mapOf("inputs", nil, "Inputs of the started executions; may read `trigger.event`."),
			},
		},
	}
}

func conditionTypes() []*TypeDef {
	return []*TypeDef{
		{
			Name: ConditionExecutionFlow, Category: CategoryCondition,
			Aliases:     kestra("plugin.core.condition.ExecutionFlow", "plugin.core.condition.ExecutionFlowCondition", "core.models.conditions.types.ExecutionFlowCondition"),
			Description: "The upstream execution is of the given flow.",
			Props: []*PropDef{
				static(required(str("namespace", "Upstream namespace."))),
				static(required(str("flowId", "Upstream flow id."))),
			},
		},
		{
			Name: ConditionExecutionStatus, Category: CategoryCondition,
			Aliases:     kestra("plugin.core.condition.ExecutionStatus", "plugin.core.condition.ExecutionStatusCondition", "core.models.conditions.types.ExecutionStatusCondition"),
			Description: "The upstream execution ended in one of `in` and none of `notIn`.",
			Props: []*PropDef{
				static(listOf("in", &Spec{Kind: KindEnum, Enum: ExecutionStates}, "Accepted states.")),
				static(listOf("notIn", &Spec{Kind: KindEnum, Enum: ExecutionStates}, "Rejected states.")),
			},
		},
		{
			Name: ConditionExecutionNamespace, Category: CategoryCondition,
			Aliases:     kestra("plugin.core.condition.ExecutionNamespace", "plugin.core.condition.ExecutionNamespaceCondition", "core.models.conditions.types.ExecutionNamespaceCondition"),
			Description: "The upstream execution is in the namespace (or below it with `prefix`).",
			Props: []*PropDef{
				static(required(str("namespace", "Namespace."))),
				withDefault(enum("comparison", []string{"EQUALS", "PREFIX", "SUFFIX"}, "How the namespace is compared."), "EQUALS"),
				withDefault(boolean("prefix", "Older spelling of `comparison: PREFIX`."), false),
			},
		},
		{
			Name: ConditionExpression, Category: CategoryCondition,
			Aliases:     kestra("plugin.core.condition.Expression", "plugin.core.condition.ExpressionCondition", "core.models.conditions.types.VariableCondition"),
			Description: "An expression over `trigger.*` is true.",
			Props: []*PropDef{
				required(str("expression", "Expression; see truthiness.")),
			},
		},
	}
}
