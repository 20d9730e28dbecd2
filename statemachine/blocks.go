package statemachine

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/relayflow/relay/statemachine/expr"
	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/statemachine/inputs"
)

// openFrame starts a block of tasks.
func (m *machine) openFrame(id, owner, role string, ctx []Iter) {
	if m.ex.Frames == nil { // none are stored while the execution has none open
		m.ex.Frames = map[string]*Frame{}
	}
	m.ex.Frames[id] = &Frame{ID: id, Owner: owner, Role: role, Ctx: ctx}
	m.pending = append(m.pending, id)
}

// drain advances every frame that may start tasks or has ended. Advancing
// is iterative, not recursive, so a ForEach of many instantly finished
// iterations uses no stack.
func (m *machine) drain() {
	for len(m.pending) > 0 {
		id := m.pending[0]
		m.pending = m.pending[1:]
		if fr, ok := m.ex.Frames[id]; ok {
			m.advance(fr)
		}
	}
}

// blockTasks returns the enabled tasks of a frame.
func (m *machine) blockTasks(fr *Frame) []*flow.Task {
	var list []*flow.Task
	if fr.Owner == "" {
		switch fr.Role {
		case PhaseMain:
			list = m.f.Tasks
		case PhaseErrors:
			list = m.f.Errors
		case PhaseFinally:
			list = m.f.Finally
		}
	} else {
		owner, _ := m.ex.Run(fr.Owner)
		t := m.task(owner)
		switch fr.Role {
		case "tasks", "iter":
			list = t.Tasks
			if len(t.Dag) > 0 {
				list = make([]*flow.Task, len(t.Dag))
				for i, n := range t.Dag {
					list[i] = n.Task
				}
			}
		case "then":
			list = t.Then
		case "else":
			list = t.Else
		case "defaults":
			list = t.Defaults
		case "errors":
			list = t.Errors
		case "case":
			for _, c := range t.Cases {
				if c.Value == owner.Branch {
					list = c.Tasks
				}
			}
		}
	}
	for i, t := range list {
		if t.Disabled {
			enabled := append([]*flow.Task(nil), list[:i]...)
			for _, t := range list[i+1:] {
				if !t.Disabled {
					enabled = append(enabled, t)
				}
			}
			return enabled
		}
	}
	return list
}

// frameMode returns how a frame runs its tasks: the concurrency limit (0:
// none), whether it follows Dag dependencies, and whether a failure stops
// it. Sequential blocks stop at the first failure. Parallel and Dag blocks
// run every branch a failure does not block and fail at the end, so the
// outcome never depends on which branch happened to finish first.
func (m *machine) frameMode(fr *Frame) (limit int, dag, stopOnFailure bool) {
	if fr.Owner == "" || fr.Role != "tasks" {
		return 1, false, true
	}
	owner, _ := m.ex.Run(fr.Owner)
	t := m.task(owner)
	switch t.Type.Name {
	case flow.TypeParallel:
		n, _ := t.Prop("concurrent").Literal().(int64)
		return int(n), false, false
	case flow.TypeDag:
		n, _ := t.Prop("concurrent").Literal().(int64)
		return int(n), true, false
	}
	return 1, false, true
}

func (m *machine) advance(fr *Frame) {
	tasks := m.blockTasks(fr)
	limit, dag, stop := m.frameMode(fr)
	room := func() bool { return !(stop && fr.Failed) && (limit == 0 || fr.Running < limit) }
	if dag {
		owner, _ := m.ex.Run(fr.Owner)
		deps := map[string][]string{}
		for _, n := range m.task(owner).Dag {
			deps[n.Task.ID] = n.DependsOn
		}
		if fr.Started == nil {
			fr.Started = map[string]bool{}
		}
		for _, t := range tasks {
			if !room() {
				break
			}
			if fr.Started[t.ID] || !m.depsDone(deps[t.ID], fr.Ctx) {
				continue
			}
			if !m.count(fr) {
				return
			}
			fr.Started[t.ID] = true
			fr.Next++
			m.startTask(t, fr)
		}
		// Tasks left waiting on failed ones never start: the Dag is done.
		if fr.Running == 0 && fr.Next < len(tasks) {
			fr.Failed = true
			fr.Next = len(tasks)
		}
	} else {
		for fr.Next < len(tasks) && room() {
			if !m.count(fr) {
				return
			}
			t := tasks[fr.Next]
			fr.Next++
			m.startTask(t, fr)
		}
	}
	if fr.Running == 0 && (stop && fr.Failed || fr.Next >= len(tasks)) {
		m.closeFrame(fr)
	}
}

// depsDone reports whether every dependency of a Dag node ended well.
func (m *machine) depsDone(deps []string, ctx []Iter) bool {
	for _, d := range deps {
		if t, ok := m.f.Task(d); ok && t.Disabled {
			continue
		}
		r, ok := m.ex.Run(d + suffix(ctx))
		if !ok || !(r.State == RunSuccess || r.State == RunWarning || r.State == RunSkipped) {
			return false
		}
	}
	return true
}

// suffix makes task run ids unique per iteration: `t[3]` is task t for the
// fourth ForEach value, `t@2` in the second WaitFor iteration.
func suffix(ctx []Iter) string {
	if len(ctx) == 0 {
		return ""
	}
	var b strings.Builder
	for _, it := range ctx {
		if it.Loop {
			b.WriteString("@" + strconv.Itoa(it.Index))
		} else {
			b.WriteString("[" + strconv.Itoa(it.Index) + "]")
		}
	}
	return b.String()
}

// ctxOf returns the iteration context a run lives in.
func (m *machine) ctxOf(r *TaskRun) []Iter {
	if fr, ok := m.ex.Frames[r.Frame]; ok {
		return fr.Ctx
	}
	return nil
}

// startTask creates the task run of t in fr and starts it.
func (m *machine) startTask(t *flow.Task, fr *Frame) {
	r := &TaskRun{ID: t.ID + suffix(fr.Ctx), TaskID: t.ID, ParentID: fr.Owner, Frame: fr.ID, State: RunCreated}
	for _, it := range fr.Ctx {
		if !it.Loop {
			r.Value = it.Value
			r.Keys = append(r.Keys, expr.Stringify(it.Value))
		}
	}
	m.ex.addRun(r)
	m.touch(r)
	fr.Running++
	if t.RunIf != nil {
		v, err := t.RunIf.Render(m.env(r, t, fr.Ctx))
		if err != nil {
			m.failRun(r, t, renderError(err))
			return
		}
		if !expr.Truthy(v) {
			m.log(r.ID, "INFO", "%s skipped: runIf is false", r.ID)
			m.setRun(r, RunSkipped)
			m.ended(r)
			return
		}
	}
	if !t.Type.Flowable && t.Type.Name != flow.TypeFail {
		m.schedule(r, t, 1)
		return
	}
	m.startFlowable(r, t, fr, m.env(r, t, fr.Ctx))
}

func renderError(err error) *TaskError {
	return &TaskError{Kind: KindFatal, Type: "Render", Message: err.Error()}
}

// schedule submits an attempt of a runnable task to a worker, with its
// properties rendered now.
func (m *machine) schedule(r *TaskRun, t *flow.Task, attempt int) {
	env := m.env(r, t, m.ctxOf(r))
	env.Lookup = (&scope{m: m, r: r, t: t, ctx: m.ctxOf(r), attempt: attempt}).lookup
	props := make(map[string]any, len(t.Props))
	for name, p := range t.Props {
		v, err := p.Render(env)
		if err != nil {
			m.failRun(r, t, renderError(err))
			return
		}
		props[name] = v
	}
	a := Attempt{Number: attempt, State: RunSubmitted}
	if d := m.timeout(t); d > 0 {
		a.Deadline = m.now.Add(d)
		m.emit(StartTimer{ExecutionID: m.ex.ID, TaskRunID: r.ID, Attempt: attempt, Kind: TimerTimeout, FireAt: a.Deadline})
	}
	r.Attempts = append(r.Attempts, a)
	m.setRun(r, RunSubmitted)
	pos, _ := m.ex.Position(r.ID)
	m.emit(ScheduleTaskRun{ExecutionID: m.ex.ID, TaskRunID: r.ID, TaskID: t.ID, Type: t.Type.Name, Attempt: attempt, Props: props, Deadline: a.Deadline, Position: pos})
}

// timeout is how long an attempt of t may run: its own timeout, else the
// deployment's default (0: no limit).
func (m *machine) timeout(t *flow.Task) time.Duration {
	if t.Timeout > 0 {
		return t.Timeout
	}
	return m.opts.AttemptTimeout
}

func (m *machine) retryPolicy(t *flow.Task) *flow.Retry {
	if t.Retry != nil {
		return t.Retry
	}
	return m.f.Retry
}

// failAttempt applies the retry policy to a failed attempt: another attempt
// after a timer, or the end of the run.
func (m *machine) failAttempt(r *TaskRun, t *flow.Task, e *TaskError) {
	p := m.retryPolicy(t)
	a := r.CurrentAttempt()
	if p != nil && e.Kind != KindFatal && (p.MaxAttempts == 0 || a.Number < p.MaxAttempts) {
		delay := RetryDelay(p, a.Number, m.rng().Float64(), m.rng().Float64())
		first := r.Attempts[0].StartDate
		if first.IsZero() {
			first = r.StartDate
		}
		if p.MaxDuration == 0 || first.IsZero() || m.now.Add(delay).Sub(first) <= p.MaxDuration {
			m.setRun(r, RunRetrying)
			m.log(r.ID, "WARN", "attempt %d of %s failed (%s); retrying in %s", a.Number, r.ID, e.Message, delay)
			m.emit(StartTimer{ExecutionID: m.ex.ID, TaskRunID: r.ID, Attempt: a.Number, Kind: TimerRetry, FireAt: m.now.Add(delay)})
			return
		}
	}
	m.failRun(r, t, e)
}

// RetryDelay is the wait before the attempt after attempt n (1-based) under
// policy p. u1 and u2 are uniform random numbers in [0, 1) used for random
// delays and jitter; the state machine draws them from the event's seed.
func RetryDelay(p *flow.Retry, n int, u1, u2 float64) time.Duration {
	var d time.Duration
	switch p.Type {
	case flow.RetryExponential:
		f := float64(p.Interval)
		for i := 1; i < n && f < float64(p.MaxInterval); i++ {
			f *= p.DelayFactor
		}
		d = time.Duration(f)
		if p.MaxInterval > 0 && d > p.MaxInterval {
			d = p.MaxInterval
		}
	case flow.RetryRandom:
		d = p.MinInterval + time.Duration(u1*float64(p.MaxInterval-p.MinInterval))
	default:
		d = p.Interval
	}
	switch {
	case p.Jitter > 0:
		d += time.Duration(u2 * float64(p.Jitter))
	case p.JitterFactor > 0:
		d += time.Duration(u2 * p.JitterFactor * float64(d))
	}
	return d
}

// startFlowable begins a task the state machine runs itself.
func (m *machine) startFlowable(r *TaskRun, t *flow.Task, fr *Frame, env *expr.Env) {
	fail := func(kind, typ, format string, args ...any) {
		m.failRun(r, t, &TaskError{Kind: kind, Type: typ, Message: fmt.Sprintf(format, args...)})
	}
	render := func(name string) (any, bool) {
		v, err := t.Prop(name).Render(env)
		if err != nil {
			m.failRun(r, t, renderError(err))
			return nil, false
		}
		return v, true
	}
	ctx := fr.Ctx
	switch t.Type.Name {
	case flow.TypeFail:
		cond := true
		if t.Prop("condition") != nil {
			v, ok := render("condition")
			if !ok {
				return
			}
			cond = expr.Truthy(v)
		}
		if !cond {
			m.succeed(r, t, RunSuccess, nil)
			return
		}
		msg, ok := render("errorMessage")
		if !ok {
			return
		}
		fail(KindFatal, "Fail", "%s", expr.Stringify(msg))
	case flow.TypeSequential, flow.TypeParallel, flow.TypeAllowFailure, flow.TypeDag:
		m.setRun(r, RunRunning)
		m.openFrame(r.ID+"/tasks", r.ID, "tasks", ctx)
	case flow.TypeIf:
		v, ok := render("condition")
		if !ok {
			return
		}
		m.setRun(r, RunRunning)
		r.Branch = "else"
		if expr.Truthy(v) {
			r.Branch = "then"
		}
		m.openFrame(r.ID+"/"+r.Branch, r.ID, r.Branch, ctx)
	case flow.TypeSwitch:
		v, ok := render("value")
		if !ok {
			return
		}
		m.setRun(r, RunRunning)
		r.Branch = expr.Stringify(v)
		role := "defaults"
		for _, c := range t.Cases {
			if c.Value == r.Branch {
				role = "case"
			}
		}
		m.openFrame(r.ID+"/"+role, r.ID, role, ctx)
	case flow.TypeForEach:
		v, ok := render("values")
		if !ok {
			return
		}
		items, err := itemsOf(v)
		if err != nil {
			fail(KindFatal, "ForEach", "values: %v", err)
			return
		}
		r.Items = items
		m.items = append(m.items, r)
		m.setRun(r, RunRunning)
		m.nextIterations(r, ctx)
	case flow.TypeWaitFor:
		m.setRun(r, RunRunning)
		m.nextWaitFor(r)
	case flow.TypeSleep:
		d, _ := inputs.ParseDuration(t.Prop("duration").String())
		m.setRun(r, RunRunning)
		m.emit(StartTimer{ExecutionID: m.ex.ID, TaskRunID: r.ID, Kind: TimerSleep, FireAt: m.now.Add(d)})
	case flow.TypePause:
		m.setRun(r, RunRunning)
		m.setRun(r, RunPaused)
		if m.ex.State == ExecRunning {
			m.setExec(ExecPaused)
		}
		if p := t.Prop("delay"); p != nil {
			d, _ := inputs.ParseDuration(p.String())
			m.emit(StartTimer{ExecutionID: m.ex.ID, TaskRunID: r.ID, Kind: TimerPauseDelay, FireAt: m.now.Add(d)})
		}
		if t.Timeout > 0 {
			m.emit(StartTimer{ExecutionID: m.ex.ID, TaskRunID: r.ID, Kind: TimerPauseTimeout, FireAt: m.now.Add(t.Timeout)})
		}
		m.log(r.ID, "INFO", "execution paused at %s; resume it with `relay executions resume %s`", r.ID, m.ex.ID)
	case flow.TypeSubflow:
		m.startSubflow(r, t, env)
	default:
		fail(KindFatal, "Unsupported", "task type %s cannot run", t.Type.Name)
	}
}

// itemsOf turns a rendered ForEach `values` into a list: a list, or a
// string holding a JSON array.
func itemsOf(v any) ([]any, error) {
	switch x := v.(type) {
	case []any:
		return x, nil
	case string:
		var out []any
		if err := json.Unmarshal([]byte(x), &out); err != nil {
			return nil, fmt.Errorf("expected a list or a JSON array, got %q", x)
		}
		return out, nil
	}
	return nil, fmt.Errorf("expected a list, got %s", expr.Stringify(v))
}

// nextIterations starts ForEach iterations up to the concurrency limit. A
// failed iteration does not stop the others (see frameMode).
func (m *machine) nextIterations(r *TaskRun, ctx []Iter) {
	n, _ := m.task(r).Prop("concurrencyLimit").Literal().(int64)
	limit := int(n)
	if limit <= 0 || limit > MaxOpenIterations {
		limit = MaxOpenIterations
	}
	for r.NextItem < len(r.Items) && r.Active < limit {
		if !m.canStart() {
			m.deferWork("r:" + r.ID)
			break
		}
		m.starts++ // the iteration starts one task run at least
		i := r.NextItem
		r.NextItem++
		r.Active++
		ictx := append(append([]Iter(nil), ctx...), Iter{Index: i, Value: r.Items[i]})
		m.openFrame(r.ID+"/iter/"+strconv.Itoa(i), r.ID, "iter", ictx)
	}
	m.touch(r)
	if r.Active == 0 && r.NextItem >= len(r.Items) {
		m.endBlock(r, r.ChildFail, r.ChildWarn)
	}
}

// nextWaitFor starts the next iteration of a flow.waitfor.
func (m *machine) nextWaitFor(r *TaskRun) {
	r.Iteration++
	ctx := append(append([]Iter(nil), m.ctxOf(r)...), Iter{Index: r.Iteration, Loop: true})
	m.touch(r)
	m.openFrame(r.ID+"/iter/"+strconv.Itoa(r.Iteration), r.ID, "iter", ctx)
}

// afterWaitFor decides, once an iteration succeeded, whether the loop ends.
func (m *machine) afterWaitFor(r *TaskRun) {
	t := m.task(r)
	out := map[string]any{"iterationCount": int64(r.Iteration)}
	v, err := t.Prop("condition").Render(m.env(r, t, m.ctxOf(r)))
	if err != nil {
		m.failRun(r, t, renderError(err))
		return
	}
	if expr.Truthy(v) {
		m.succeed(r, t, RunSuccess, out)
		return
	}
	maxIter, maxDur, interval := int64(100), time.Hour, time.Second
	if cf := t.Prop("checkFrequency"); cf != nil {
		if n, ok := cf.Get("maxIterations").Literal().(int64); ok {
			maxIter = n
		}
		if p := cf.Get("maxDuration"); p != nil {
			maxDur, _ = inputs.ParseDuration(p.String())
		}
		if p := cf.Get("interval"); p != nil {
			interval, _ = inputs.ParseDuration(p.String())
		}
	}
	if int64(r.Iteration) >= maxIter || m.now.Add(interval).Sub(r.StartDate) > maxDur {
		if fail, _ := t.Prop("failOnMaxReached").Literal().(bool); fail {
			r.Outputs = out
			m.failRun(r, t, &TaskError{Kind: KindFatal, Type: "WaitFor", Message: fmt.Sprintf("condition still false after %d iterations", r.Iteration)})
			return
		}
		m.succeed(r, t, RunSuccess, out)
		return
	}
	m.emit(StartTimer{ExecutionID: m.ex.ID, TaskRunID: r.ID, Attempt: r.Iteration, Kind: TimerWaitFor, FireAt: m.now.Add(interval)})
}

func (m *machine) startSubflow(r *TaskRun, t *flow.Task, env *expr.Env) {
	vals := map[string]any{}
	for _, name := range []string{"namespace", "flowId", "inputs", "labels"} {
		v, err := t.Prop(name).Render(env)
		if err != nil {
			m.failRun(r, t, renderError(err))
			return
		}
		vals[name] = v
	}
	depth := m.ex.Depth + 1
	child := m.ex.ID + "." + r.ID
	cmd := StartSubflow{
		ExecutionID: child, Namespace: expr.Stringify(vals["namespace"]), FlowID: expr.Stringify(vals["flowId"]),
		Parent: ParentRef{ExecutionID: m.ex.ID, TaskRunID: r.ID, Namespace: m.ex.Namespace, FlowID: m.ex.FlowID, Depth: depth},
	}
	if in, ok := vals["inputs"].(map[string]any); ok {
		cmd.Inputs = in
	}
	if ls, ok := vals["labels"].(map[string]any); ok {
		for _, k := range slices.Sorted(maps.Keys(ls)) {
			cmd.Labels = append(cmd.Labels, flow.Label{Key: k, Value: expr.Stringify(ls[k])})
		}
	}
	if rev, ok := t.Prop("revision").Literal().(int64); ok {
		cmd.Revision = int(rev)
	}
	cmd.Wait, _ = t.Prop("wait").Literal().(bool)
	r.ChildExec = child
	m.setRun(r, RunRunning)
	m.emit(cmd)
	if !cmd.Wait {
		m.succeed(r, t, RunSuccess, map[string]any{"executionId": child})
	}
}

// ended records that a run reached a terminal state and lets its block go on.
func (m *machine) ended(r *TaskRun) {
	if r.State == RunSuccess || r.State == RunWarning {
		m.indexOutputs(r)
	}
	fr, ok := m.ex.Frames[r.Frame]
	if !ok {
		return
	}
	fr.Running--
	switch r.State {
	case RunFailed:
		fr.Failed = true
	case RunWarning:
		fr.Warned = true
	}
	m.pending = append(m.pending, fr.ID)
}

// closeFrame ends a block and tells its owner.
func (m *machine) closeFrame(fr *Frame) {
	delete(m.ex.Frames, fr.ID)
	if fr.Owner == "" {
		m.endPhase(fr)
		return
	}
	owner, _ := m.ex.Run(fr.Owner)
	t := m.task(owner)
	switch {
	case fr.Role == "errors":
		m.endBlock(owner, true, fr.Warned)
	case fr.Role == "iter" && t.Type.Name == flow.TypeForEach:
		owner.Active--
		owner.ChildFail = owner.ChildFail || fr.Failed
		owner.ChildWarn = owner.ChildWarn || fr.Warned
		m.nextIterations(owner, m.ctxOf(owner))
	case fr.Role == "iter" && t.Type.Name == flow.TypeWaitFor:
		if fr.Failed {
			m.endBlock(owner, true, fr.Warned)
			return
		}
		owner.ChildWarn = owner.ChildWarn || fr.Warned
		m.afterWaitFor(owner)
	default:
		m.endBlock(owner, fr.Failed, fr.Warned)
	}
}

// endBlock ends a flowable run whose children are done. A failure first
// runs the task's local `errors`, then fails the run; flow.allowfailure
// turns it into WARNING.
func (m *machine) endBlock(r *TaskRun, failed, warned bool) {
	if r.State.Terminal() {
		return
	}
	t := m.task(r)
	if failed && len(t.Errors) > 0 && !r.InErrors {
		r.InErrors = true
		m.touch(r)
		m.openFrame(r.ID+"/errors", r.ID, "errors", m.ctxOf(r))
		return
	}
	switch {
	case failed && t.Type.Name == flow.TypeAllowFailure:
		m.succeed(r, t, RunWarning, r.Outputs)
	case failed:
		m.failRun(r, t, &TaskError{Kind: KindFatal, Type: "Child", Message: "a task inside " + r.ID + " failed"})
	case warned || r.ChildWarn:
		m.succeed(r, t, RunWarning, r.Outputs)
	default:
		m.succeed(r, t, RunSuccess, r.Outputs)
	}
}

// endPhase moves the execution through main, errors and finally.
func (m *machine) endPhase(fr *Frame) {
	switch fr.Role {
	case PhaseMain:
		m.ex.Failed, m.ex.Warned = fr.Failed, fr.Warned
		if fr.Failed && len(m.f.Errors) > 0 {
			m.ex.Phase = PhaseErrors
			m.openFrame(PhaseErrors, "", PhaseErrors, nil)
			return
		}
		m.startFinally()
	case PhaseErrors:
		m.startFinally()
	case PhaseFinally:
		m.ex.Failed = m.ex.Failed || fr.Failed
		m.ex.Warned = m.ex.Warned || fr.Warned
		m.finish()
	}
}

func (m *machine) startFinally() {
	if len(m.f.Finally) > 0 {
		m.ex.Phase = PhaseFinally
		m.openFrame(PhaseFinally, "", PhaseFinally, nil)
		return
	}
	m.finish()
}

// finish renders the flow outputs and ends the execution.
func (m *machine) finish() {
	if m.ex.Failed {
		if m.ex.Error == "" {
			m.ex.Error = "a task failed"
		}
		m.endExec(ExecFailed)
		return
	}
	if len(m.f.Outputs) > 0 {
		env := m.env(nil, nil, nil)
		out := map[string]any{}
		for _, o := range m.f.Outputs {
			v, err := o.Value.Render(env)
			if err == nil {
				v, err = (&inputs.Decl{ID: o.ID, Type: o.Type}).Coerce(v)
			}
			if err != nil {
				m.ex.Error = fmt.Sprintf("flow output %s: %v", o.ID, err)
				m.endExec(ExecFailed)
				return
			}
			out[o.ID] = v
		}
		m.ex.Outputs = out
	}
	if m.ex.Warned {
		m.endExec(ExecWarning)
		return
	}
	m.endExec(ExecSuccess)
}

func (m *machine) endExec(s ExecState) {
	if m.ex.State == ExecPaused {
		m.setExec(ExecRunning)
	}
	m.setExec(s)
	m.ex.EndDate, m.ex.Phase = m.now, PhaseDone
	m.emitFinished()
}
