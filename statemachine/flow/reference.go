package flow

import (
	"fmt"
	"sort"
	"strings"

	"github.com/relayflow/relay/statemachine/expr"
	"github.com/relayflow/relay/statemachine/inputs"
)

// Reference returns docs/reference.md: every part of the flow language,
// generated from the definitions the decoder uses.
func Reference() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Flow reference\n\n")
	w("<!-- Generated from the code by `make docs` (the text `relay docs` prints). Do not edit: a test fails when this file and the code differ. -->\n\n")
	w("Flows are YAML documents in the style of Kestra. Every task, trigger and condition type has a short Relay name and accepts Kestra's names as aliases, so flows written for Kestra's core tasks run unchanged. ")
	w("Properties marked *expr* accept `{{ ... }}` expressions, rendered when the task runs; the others must be written as literal values. ")
	w("Durations are ISO-8601 (`PT10S`, `P1D`) or Go style (`10s`, `1h30m`). ")
	w("[semantics.md](semantics.md) says how Relay runs what Kestra and Prefect users write, and where it departs from them.\n\n")
	w("Contents: [Flow](#flow) · [Common task properties](#common-task-properties) · [Retry](#retry) · [Tasks](#tasks) · [Triggers](#triggers) · [Conditions](#conditions) · [Inputs](#inputs) · [Expressions](#expressions)\n\n")

	w("## Flow\n\n")
	propTable(&b, FlowProps())
	w("\n`revision` is assigned by the store each time a flow is saved; a `revision` in the document is ignored, with a note from `relay validate`.\n\n")
	w("Flow outputs (`outputs`) are a list of:\n\n")
	propTable(&b, outputFields())

	w("\n## Common task properties\n\nEvery task accepts these.\n\n")
	propTable(&b, CommonTaskProps())
	w("\n## Retry\n\nThe `retry` of a task, or of the flow as the default for its tasks. `maxAttempts` counts every attempt, the first one included. Waits are timers: a task waiting for a retry holds no worker.\n\n")
	propTable(&b, RetryFields())
	w("\n- `constant`: wait `interval` before each retry.\n")
	w("- `exponential`: wait `interval`, then multiply by `delayFactor` each time, up to `maxInterval`.\n")
	w("- `random`: wait a random time between `minInterval` and `maxInterval`.\n")
	w("- The seed articles' spellings `maxAttempt`, `delay`, `maxDelay` and `jitter: true` are accepted.\n\n")

	sections := []struct {
		title string
		c     Category
		intro string
	}{
		{"Tasks", CategoryTask, "Flowable tasks (marked *flowable*) schedule other tasks and hold no worker; the others run as one function invocation per attempt."},
		{"Triggers", CategoryTrigger, "Triggers start a flow. Every trigger accepts the common trigger properties:"},
		{"Conditions", CategoryCondition, "Conditions of a trigger's `conditions` list. They must all hold for the trigger to fire."},
	}
	for _, s := range sections {
		w("## %s\n\n%s\n\n", s.title, s.intro)
		overview(&b, Builtin.Types(s.c))
		if s.c == CategoryTrigger {
			propTable(&b, CommonTriggerProps())
			w("\n")
		}
		for _, t := range Builtin.Types(s.c) {
			typeSection(&b, t)
		}
	}

	w("## Inputs\n\nEach input has `id`, `type`, `description`, `required` (true unless `defaults` is given) and `defaults` (a value or an expression). Values given as strings (CLI, HTTP, CloudEvent data) are converted to the declared type; every failure names the input and says why.\n\n")
	w("| Type | Properties | Description |\n|---|---|---|\n")
	for _, t := range inputs.Types() {
		var props []string
		for _, p := range t.Properties {
			props = append(props, "`"+p.Name+"`")
		}
		desc := t.Description
		if !t.Supported {
			desc += " **Not supported yet.**"
		}
		w("| `%s` | %s | %s |\n", t.Name, strings.Join(props, ", "), cell(desc))
	}

	w("\nA value is at most %s (as text; JSON for lists and objects): the most one template renders. A larger one is refused when the execution is submitted.\n", byteSize(inputs.MaxValueBytes))

	w("\n## Secrets\n\n")
	w("`secret('NAME')` reads a secret of the flow's namespace, and an input of type `SECRET` takes one at start. Neither is ever stored, published or shown in clear: ")
	w("the state machine renders a sealed marker in their place, only the worker opens it, just before the task runs, and it replaces the values with `******` in what the task logs and returns (outputs, error messages). ")
	w("Everywhere else (`relay executions show`, the API, logs) a secret shows as `******`.\n\n")
	w("- Named secrets: `RELAY_SECRET_NAME` in the environment of the worker (`relay run`, `relay server`, `relay dev`; Kestra's base64 `SECRET_NAME` too); on AWS, Secrets Manager or SSM Parameter Store under `SecretsPrefix` + `<namespace>/NAME` (template.yaml). A missing secret fails the task, naming it.\n")
	w("- A template may place a secret in text (`\"Bearer {{ secret('TOKEN') }}\"`, `~`, lists and maps, `default`, `join`) but not read it: a filter, a function or a comparison on a secret fails the task with a clear error.\n")
	w("- Script tasks (`python.script`, `shell.commands`...) get the values in their `script`, `commands`, `env` and `inputFiles`. What Relay keeps of a script is masked: its log lines, the `vars` and metrics it prints, `stdout` and `stderr`, and the last stderr lines of its error, masked before any line is cut. A secret's lines each, and its JSON-escaped form, are masked too; a value the script transforms (base64, a hash) is not. The files it writes (`outputFiles`) are stored as they are: what they hold is the flow's business.\n")
	w("- `cloudevents.emit` and `kv.set` keep secrets sealed in the events they publish and the values they store; a flow of the same namespace that reads them (an event trigger, `kv('key')`, `kv.get`) can still use them, and one of another namespace cannot open them.\n")

	w("\n## Expressions\n\n")
	w("`{{ expression }}` outputs a value, `{%% if %%}`, `{%% for %%}` and `{%% set %%}` are statements and `{# ... #}` is a comment, as in Kestra (Pebble). A property that is exactly one `{{ expression }}` takes the expression's type (a list, a number, a map, a boolean); text mixed with expressions is a string. ")
	w("Reading an undefined variable is an error, except on the left of `??`, in `is defined` and in `| default(...)`; validation accepts references to unknown inputs, variables and outputs there (and elsewhere in the same expression once guarded), and rejects them everywhere else. ")
	w("Expressions read only their variables (`envs` and `globals` among them), `secret()`, the KV store (`kv()`) and, with `read()`, `fileExists()` and `fileSize()`, files of internal storage of the flow's namespace: no other files, environment or network; rendering is bounded in steps and output size.\n\n")
	w("### Variables\n\n| Variable | Attributes |\n|---|---|\n")
	for _, root := range sortedKeys(ExprRoots) {
		attrs := ExprRoots[root]
		text := variableDocs[root]
		if attrs != nil {
			text += " Attributes: `" + strings.Join(attrs, "`, `") + "`."
		}
		w("| `%s` | %s |\n", root, cell(text))
	}
	w("\nOutputs of tasks inside a `flow.foreach` are keyed by iteration value, as in Kestra: `outputs['t'][taskrun.value].value`, or `currentEachOutput(outputs['t'])`. Ids containing `-` need brackets: `outputs['extract-data']`.\n\n")
	w("Examples below are rendered by a test with `inputs` = `{\"name\": \"Relay\", \"n\": 3, \"items\": [\"a\", \"b\"]}` and `now()` = 2024-01-31T10:00:00Z.\n\n")
	w("### Truthiness\n\n`condition`, `runIf`, `flow.fail` `condition`, `flow.waitfor` `condition`, `{%% if %%}`, `and`/`or`/`not` and `? :` decide by truthiness: null and undefined are false; booleans are themselves; numbers are true when not zero; strings are false when empty or when, ignoring case and surrounding spaces, they are `false`, `0`, `no`, `off` or `null`; lists and maps are true when not empty. `flow.switch` compares the text form of `value` with the case names.\n\n")
	w("### Statements\n\n| Statement | Example | Result |\n|---|---|---|\n")
	for _, st := range StatementDocs {
		w("| `%s` | `%s` | `%s` |\n", cell(st.Signature), cell(st.Example), cell(st.Result))
	}
	w("\n")
	docs := expr.Docs()
	sort.SliceStable(docs, func(i, j int) bool { return docs[i].Kind < docs[j].Kind })
	kinds := []struct{ kind, title string }{{"function", "Functions"}, {"filter", "Filters"}, {"test", "Tests"}, {"operator", "Operators"}, {"truthiness", "Truthiness"}}
	for _, k := range kinds {
		var rows []expr.Doc
		for _, d := range docs {
			if d.Kind == k.kind {
				rows = append(rows, d)
			}
		}
		if len(rows) == 0 {
			continue
		}
		w("### %s\n\n| Name | Description | Example | Result |\n|---|---|---|---|\n", k.title)
		for _, d := range rows {
			w("| `%s` | %s | `%s` | `%s` |\n", cell(d.Signature), cell(d.Description), cell(d.Example), cell(d.Result))
		}
		w("\n")
	}
	w("### Not supported\n\nThese Kestra functions and filters are rejected when a flow is validated, with the reason:\n\n| Name | Why |\n|---|---|\n")
	for _, list := range []struct {
		kind string
		m    map[string]string
	}{{"function", expr.UnsupportedFunctions()}, {"filter", expr.UnsupportedFilters()}} {
		for _, name := range sortedKeys(list.m) {
			w("| %s `%s` | %s |\n", list.kind, name, cell(list.m[name]))
		}
	}
	w("\nThe variables `tasks`, `kestra`, `item` and Kestra Enterprise's `namespace` are not supported either; the statements `macro`, `block`, `extends`, `include`, `import`, `embed`, `parallel`, `cache`, `autoescape` and `flush` are rejected with the reason.\n")
	return b.String()
}

// StatementDocs documents template statements; a test renders each example
// in expr.DocsEnv and compares the result.
var StatementDocs = []expr.Doc{
	{Kind: "statement", Signature: "{% if cond %}...{% elseif cond %}...{% else %}...{% endif %}", Example: "{% if inputs.n > 2 %}many{% else %}few{% endif %}", Result: "many"},
	{Kind: "statement", Signature: "{% for x in list %}...{% else %}...{% endfor %}", Example: "{% for i in inputs.items %}{{ loop.index }}:{{ i }} {% endfor %}", Result: "0:a 1:b "},
	{Kind: "statement", Signature: "{% for k, v in map %}...{% endfor %}", Example: "{% for k, v in {'x': 1, 'y': 2} %}{{ k }}={{ v }};{% endfor %}", Result: "x=1;y=2;"},
	{Kind: "statement", Signature: "{% set name = expr %}", Example: "{% set total = inputs.n * 2 %}{{ total }}", Result: "6"},
	{Kind: "statement", Signature: "{# comment #}", Example: "a{# not printed #}b", Result: "ab"},
	{Kind: "statement", Signature: "{{- expr -}} (trims whitespace)", Example: "a   {{- 'b' -}}   c", Result: "abc"},
	{Kind: "statement", Signature: "{% filter f | g %}...{% endfilter %}", Example: "{% filter upper %}hi {{ inputs.name }}{% endfilter %}", Result: "HI RELAY"},
	{Kind: "statement", Signature: "{% raw %}...{% endraw %}", Example: "{% raw %}{{ not rendered }}{% endraw %}", Result: "{{ not rendered }}"},
}

var variableDocs = map[string]string{
	"inputs":    "The execution's inputs, typed as declared.",
	"outputs":   "Outputs of the tasks that ran, by task id.",
	"vars":      "The flow's `variables`.",
	"flow":      "The flow.",
	"execution": "The current execution. `state` is RUNNING while any task runs, in `errors` and `finally` too: the execution takes its final state after them.",
	"task":      "The task being rendered.",
	"taskrun":   "The task run being rendered; `value` is the value of the innermost ForEach iteration it is in (Kestra sets it only for direct children of the ForEach), `iteration` the WaitFor iteration, `startDate` when the task run was created; `attemptKey`, in a runnable task's properties, names the attempt being scheduled (`<execution id>/<task run id>/<attempt>`), a new one for each retry: pass it as an idempotency key (scripts also get it as `RELAY_ATTEMPT_KEY`, and the attempt's number as `RELAY_ATTEMPT`; docs/architecture.md, Faults and guarantees).",
	"parents":   "The flowable task runs the task run is nested in, closest first, as Kestra lists them: each has `task.id`, and `taskrun.value` when it is a direct child of a ForEach iteration.",
	"parent":    "`parents[0]`: the closest enclosing flowable task run (`parent.taskrun.value`).",
	"trigger":   "Variables of the trigger that started the execution (see Triggers).",
	"labels":    "The execution's labels; dotted keys are also nested, so `labels.system.correlationId` reads the label `system.correlationId`.",
	"envs":      "Environment variables of the executor whose names start with `ENV_`, without the prefix and in lower case: `ENV_REGION` is `envs.region` (as Kestra).",
	"globals":   "Global variables of the deployment: the JSON object in the executor's environment variable `RELAY_GLOBALS`.",
}

// byteSize writes a power-of-two size.
func byteSize(n int) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// overview is a table of a category's types with their Kestra names.
func overview(b *strings.Builder, defs []*TypeDef) {
	b.WriteString("| Relay | Kestra names | Description |\n|---|---|---|\n")
	for _, t := range defs {
		aliases := "—"
		if len(t.Aliases) > 0 {
			aliases = "`" + strings.Join(t.Aliases, "`<br>`") + "`"
		}
		fmt.Fprintf(b, "| [`%s`](#%s) | %s | %s |\n", t.Name, anchor(t.Name), aliases, cell(t.Description))
	}
	b.WriteString("\n")
}

// anchor is GitHub's heading anchor for a heading that is `name`.
func anchor(name string) string {
	return strings.ReplaceAll(strings.ToLower(name), ".", "")
}

func typeSection(b *strings.Builder, t *TypeDef) {
	fmt.Fprintf(b, "### `%s`\n\n", t.Name)
	if t.Flowable {
		b.WriteString("*flowable* · ")
	}
	b.WriteString(t.Description + "\n\n")
	if len(t.Aliases) > 0 {
		fmt.Fprintf(b, "Aliases: `%s`\n\n", strings.Join(t.Aliases, "`, `"))
	}
	if len(t.Props) > 0 {
		propTable(b, t.Props)
		b.WriteString("\n")
	}
	if len(t.AliasDefaults) > 0 {
		for _, alias := range sortedKeys(t.AliasDefaults) {
			for _, p := range sortedKeys(t.AliasDefaults[alias]) {
				fmt.Fprintf(b, "Written as `%s`, `%s` defaults to `%v`.\n", alias, p, t.AliasDefaults[alias][p])
			}
		}
		b.WriteString("\n")
	}
	if len(t.Unsupported) > 0 {
		b.WriteString("Kestra properties reported as unsupported: ")
		var parts []string
		for _, p := range sortedKeys(t.Unsupported) {
			parts = append(parts, fmt.Sprintf("`%s` (%s)", p, t.Unsupported[p]))
		}
		b.WriteString(strings.Join(parts, "; ") + ".\n\n")
	}
	if len(t.Outputs) > 0 {
		b.WriteString("| Output | Type | Description |\n|---|---|---|\n")
		for _, o := range t.Outputs {
			fmt.Fprintf(b, "| `%s` | %s | %s |\n", o.Name, o.Kind, cell(o.Description))
		}
		b.WriteString("\n")
	}
}

func propTable(b *strings.Builder, props []*PropDef) {
	b.WriteString("| Property | Type | Required | Default | Description |\n|---|---|---|---|---|\n")
	for _, p := range props {
		name := "`" + p.Name + "`"
		for _, a := range p.Aliases {
			name += " (alias `" + a + "`)"
		}
		req := ""
		if p.Required {
			req = "yes"
		}
		def := ""
		if p.Default != nil {
			def = fmt.Sprintf("`%v`", p.Default)
		}
		typ := specName(&p.Spec)
		if p.Dynamic && p.Spec.Kind != KindTasks {
			typ += ", *expr*"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", name, typ, req, def, cell(p.Description))
	}
}

func specName(s *Spec) string {
	switch s.Kind {
	case KindEnum:
		return "one of `" + strings.Join(s.Enum, "`, `") + "`"
	case KindList:
		elem := "any"
		if s.Elem != nil {
			elem = specName(s.Elem)
		}
		if s.Scalar {
			return elem + " or list of " + elem
		}
		return "list of " + elem
	case KindMap:
		if s.Elem != nil {
			return "map of " + specName(s.Elem)
		}
		return "map"
	case KindInt, KindNumber:
		if s.HasMin {
			return fmt.Sprintf("%s ≥ %v", s.Kind, s.Min)
		}
	case KindDuration:
		if s.BoolOr {
			return "duration or boolean"
		}
	case KindTyped:
		return string(s.Category)
	case KindObject:
		var names []string
		for _, f := range s.Fields {
			names = append(names, "`"+f.Name+"`")
		}
		return "object (" + strings.Join(names, ", ") + ")"
	}
	return string(s.Kind)
}

// cell escapes text for a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}
