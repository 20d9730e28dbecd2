// Package flow is Relay's flow language: the model of a flow document, its
// decoder and its static validation. Flows are YAML in the style of Kestra;
// Kestra's core task type names are accepted as aliases of Relay's own.
//
// Parse returns a Flow that the state machine executes as it is: types are
// resolved, durations parsed and every template compiled. The package is part
// of the pure core: it never reads files, the clock or the environment (the
// caller hands it the bytes and the file name).
package flow

import (
	"slices"
	"time"

	"github.com/relayflow/relay/statemachine/expr"
	"github.com/relayflow/relay/statemachine/inputs"
)

// Flow is a decoded, validated flow document.
type Flow struct {
	ID          string
	Namespace   string
	Description string
	// Revision is assigned by the store when the flow is saved; a document
	// never sets it.
	Revision int
	Labels   []Label
	Inputs   []*inputs.Decl
	// InputDefaults holds the compiled `defaults` of inputs, by input id;
	// they may be expressions, rendered when an execution is created.
	InputDefaults map[string]*Property
	Variables     map[string]*Property
	Tasks         []*Task
	Errors        []*Task
	Finally       []*Task
	Outputs       []*Output
	Triggers      []*Trigger
	Concurrency   *Concurrency
	Retry         *Retry // default retry policy of the flow's tasks
	SLAs          []*SLA
	Disabled      bool

	File   string // the file name given to Parse, for messages
	Source []byte // the document as written
	// Notes are what the document says that Relay ignores or takes
	// differently (a `revision`, `logToFile`), for validate to show; they
	// do not make the flow invalid.
	Notes Diagnostics

	tasks map[string]*Task
	// blocks holds, by the first task of a block that has disabled tasks
	// or is a Dag's, the block's enabled tasks (see Enabled), computed once.
	blocks map[*Task][]*Task
}

// Enabled returns the enabled tasks of a block (a flow's tasks, a
// flowable task's children, a branch), in order, without scanning the block:
// the state machine asks at every step, and a block may hold thousands of
// tasks.
func (f *Flow) Enabled(block []*Task) []*Task {
	if len(block) == 0 {
		return nil
	}
	if f.blocks == nil { // a flow made without Parse
		return slices.DeleteFunc(slices.Clone(block), func(t *Task) bool { return t.Disabled })
	}
	if list, ok := f.blocks[block[0]]; ok {
		return list
	}
	return block
}

// DagTasks returns the tasks of a flow.dag's nodes, enabled ones only.
func (f *Flow) DagTasks(t *Task) []*Task {
	if len(t.Dag) == 0 {
		return nil
	}
	if list, ok := f.blocks[t.Dag[0].Task]; ok {
		return list
	}
	var list []*Task // a flow made without Parse
	for _, n := range t.Dag {
		if !n.Task.Disabled {
			list = append(list, n.Task)
		}
	}
	return list
}

// indexBlocks fills f.blocks: the enabled tasks of every block that has
// disabled ones, and of every Dag.
func (f *Flow) indexBlocks() {
	f.blocks = map[*Task][]*Task{}
	add := func(block []*Task) {
		if len(block) == 0 || !slices.ContainsFunc(block, func(t *Task) bool { return t.Disabled }) {
			return
		}
		f.blocks[block[0]] = slices.DeleteFunc(slices.Clone(block), func(t *Task) bool { return t.Disabled })
	}
	var walk func([]*Task)
	walkTask := func(t *Task) {
		for _, sub := range [][]*Task{t.Tasks, t.Then, t.Else, t.Defaults, t.Errors} {
			walk(sub)
		}
		for _, c := range t.Cases {
			walk(c.Tasks)
		}
	}
	walk = func(block []*Task) {
		add(block)
		for _, t := range block {
			walkTask(t)
			if len(t.Dag) == 0 {
				continue
			}
			nodes := make([]*Task, 0, len(t.Dag))
			for _, n := range t.Dag {
				if !n.Task.Disabled {
					nodes = append(nodes, n.Task)
				}
				walkTask(n.Task)
			}
			f.blocks[t.Dag[0].Task] = nodes
		}
	}
	for _, block := range [][]*Task{f.Tasks, f.Errors, f.Finally} {
		walk(block)
	}
}

// Task returns the task with the given id, wherever it is nested.
func (f *Flow) Task(id string) (*Task, bool) {
	t, ok := f.tasks[id]
	return t, ok
}

// AllTasks returns every task of the flow, nested ones included, in document
// order.
func (f *Flow) AllTasks() []*Task {
	var out []*Task
	for _, list := range [][]*Task{f.Tasks, f.Errors, f.Finally} {
		Walk(list, func(t *Task) bool { out = append(out, t); return true })
	}
	return out
}

// Input returns the input declaration with the given id.
func (f *Flow) Input(id string) (*inputs.Decl, bool) {
	for _, in := range f.Inputs {
		if in.ID == id {
			return in, true
		}
	}
	return nil, false
}

// ResolveInputs checks and coerces the inputs given for a new execution
// (strings from the CLI, HTTP or CloudEvent data, or JSON values) against
// the flow's declarations, applying defaults; defaults that are expressions
// are rendered with env. Every problem is reported at once, each naming its
// input.
func (f *Flow) ResolveInputs(provided map[string]any, env *expr.Env) (map[string]any, error) {
	return inputs.Resolve(f.Inputs, provided, inputs.ResolveOptions{
		RenderDefault: func(d *inputs.Decl, _ any) (any, error) {
			return f.InputDefaults[d.ID].Render(env)
		},
	})
}

// Label is one key/value label. Labels keep document order.
type Label struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Output is a flow output, rendered when the execution ends.
type Output struct {
	ID          string
	Type        inputs.Type
	Description string
	Value       *Property
	Pos         Pos
}

// SLA is one of the flow's service level agreements (Kestra's `sla`):
// what the execution must meet, and what a violation does.
type SLA struct {
	ID   string
	Type string // SLAMaxDuration or SLAAssertion
	// Duration is how long an execution may take (MAX_DURATION).
	Duration time.Duration
	// Assert must render true while the execution runs
	// (EXECUTION_ASSERTION); it is checked after every event.
	Assert *Property
	// Behavior is what a violation does: SLAFail, SLACancel or SLANone.
	Behavior string
	// Labels are added to the execution on a violation.
	Labels []Label
	Pos    Pos
}

// SLA types and behaviors, as Kestra names them.
const (
	SLAMaxDuration = "MAX_DURATION"
	SLAAssertion   = "EXECUTION_ASSERTION"
	SLAFail        = "FAIL"
	SLACancel      = "CANCEL"
	SLANone        = "NONE"
)

// Concurrency limits how many executions of the flow run at once.
type Concurrency struct {
	Limit    int
	Behavior string // QUEUE, CANCEL or FAIL
}

// Concurrency behaviours.
const (
	BehaviorQueue  = "QUEUE"
	BehaviorCancel = "CANCEL"
	BehaviorFail   = "FAIL"
)

// Retry is a retry policy. MaxAttempts counts every attempt, the first one
// included, as in Kestra: MaxAttempts 3 means at most two retries.
type Retry struct {
	Type           string // constant, exponential or random
	MaxAttempts    int    // 0: no limit on the count (MaxDuration must be set)
	Interval       time.Duration
	MaxInterval    time.Duration
	MinInterval    time.Duration
	DelayFactor    float64 // exponential growth factor, default 2
	MaxDuration    time.Duration
	Jitter         time.Duration // a random delay in [0, Jitter] added to each wait
	JitterFactor   float64       // or a random fraction of the wait (jitter: true is 0.2)
	WarningOnRetry bool
	// Delays lists the wait before each retry (Prefect's list of retry
	// delays); past its end, the last repeats.
	Delays []time.Duration
	// Behavior is RETRY_FAILED_TASK (a new attempt of the failed task run)
	// or CREATE_NEW_EXECUTION (the failed execution runs again, counted
	// in execution attempts).
	Behavior string
}

// Retry policy types.
const (
	RetryConstant    = "constant"
	RetryExponential = "exponential"
	RetryRandom      = "random"
	RetryDelays      = "delays"
)

// Retry behaviors, as Kestra names them.
const (
	RetryFailedTask    = "RETRY_FAILED_TASK"
	CreateNewExecution = "CREATE_NEW_EXECUTION"
)

// Task is one task of a flow. Common properties are typed fields; the
// properties of the task's type are in Props, keyed by canonical name; the
// children of flowable tasks are in the block fields.
type Task struct {
	ID           string
	Type         *TypeDef
	TypeName     string // the type as written, canonical name or alias
	Description  string
	Disabled     bool
	AllowFailure bool
	AllowWarning bool
	Timeout      time.Duration
	Retry        *Retry
	RunIf        *Property
	LogLevel     string
	// Cache is the task cache (Kestra's taskCache), when enabled.
	Cache *TaskCache
	Props map[string]*Property

	// Children of flowable tasks.
	Tasks    []*Task   // flow.sequential, parallel, foreach, allowfailure, waitfor
	Then     []*Task   // flow.if
	Else     []*Task   // flow.if
	Cases    []Case    // flow.switch, in document order
	Defaults []*Task   // flow.switch
	Dag      []DagNode // flow.dag
	Errors   []*Task   // local error handlers of a flowable
	OnResume []*inputs.Decl
	// OnResumeDefaults holds the compiled defaults of OnResume inputs.
	OnResumeDefaults map[string]*Property

	Parent *Task // nil for top-level tasks
	Pos    Pos
	Path   string
}

// TaskCache is an enabled task cache: how long outputs are reused.
type TaskCache struct {
	TTL time.Duration
}

// Case is one branch of a flow.switch.
type Case struct {
	Value string
	Tasks []*Task
}

// DagNode is one node of a flow.dag.
type DagNode struct {
	Task      *Task
	DependsOn []string
}

// Prop returns the property named name (canonical name), or nil.
func (t *Task) Prop(name string) *Property { return t.Props[name] }

// Children returns the task's direct children, every block included.
func (t *Task) Children() []*Task {
	var out []*Task
	out = append(out, t.Tasks...)
	out = append(out, t.Then...)
	out = append(out, t.Else...)
	for _, c := range t.Cases {
		out = append(out, c.Tasks...)
	}
	out = append(out, t.Defaults...)
	for _, n := range t.Dag {
		out = append(out, n.Task)
	}
	out = append(out, t.Errors...)
	return out
}

// InsideForEach reports whether an ancestor is a flow.foreach, in which case
// the task's outputs are keyed by iteration value.
func (t *Task) InsideForEach() bool {
	for p := t.Parent; p != nil; p = p.Parent {
		if p.Type.Name == TypeForEach {
			return true
		}
	}
	return false
}

// Walk visits tasks depth first in document order; fn returning false skips
// the task's children.
func Walk(tasks []*Task, fn func(*Task) bool) {
	for _, t := range tasks {
		if fn(t) {
			Walk(t.Children(), fn)
		}
	}
}

// Trigger is a trigger declaration. Triggers are validated here and fired by
// the trigger runtime.
type Trigger struct {
	ID          string
	Type        *TypeDef
	TypeName    string
	Description string
	Disabled    bool
	Props       map[string]*Property
	Conditions  []*Condition
	Pos         Pos
}

// Condition is a condition of a trigger.
type Condition struct {
	Type     *TypeDef
	TypeName string
	Props    map[string]*Property
	Pos      Pos
}
