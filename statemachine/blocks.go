package statemachine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
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

// blockTasks returns the enabled tasks of a frame (from the flow's index:
// no scan of the block).
func (m *machine) blockTasks(fr *Frame) []*flow.Task {
	if fr.Owner == "" {
		switch fr.Role {
		case PhaseMain:
			return m.f.Enabled(m.f.Tasks)
		case PhaseErrors:
			return m.f.Enabled(m.f.Errors)
		case PhaseFinally:
			return m.f.Enabled(m.f.Finally)
		}
		return nil
	}
	owner, _ := m.ex.Run(fr.Owner)
	t := m.task(owner)
	switch fr.Role {
	case "tasks", "iter":
		if len(t.Dag) > 0 {
			return m.f.DagTasks(t)
		}
		return m.f.Enabled(t.Tasks)
	case "then":
		return m.f.Enabled(t.Then)
	case "else":
		return m.f.Enabled(t.Else)
	case "defaults":
		return m.f.Enabled(t.Defaults)
	case "errors":
		return m.f.Enabled(t.Errors)
	case "case":
		for _, c := range t.Cases {
			if c.Value == owner.Branch {
				return m.f.Enabled(c.Tasks)
			}
		}
	}
	return nil
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

// startTask creates the task run of t in fr and starts it. In a restarted
// or replayed execution the run may exist already (see existingRun).
func (m *machine) startTask(t *flow.Task, fr *Frame) {
	id := t.ID + suffix(fr.Ctx)
	r, exists := (*TaskRun)(nil), false
	if m.reruns() {
		r, exists = m.ex.Run(id)
	}
	if exists {
		if m.existingRun(r, fr) {
			return
		}
	} else {
		r = &TaskRun{ID: id, TaskID: t.ID, ParentID: fr.Owner, Frame: fr.ID, State: RunCreated}
		for _, it := range fr.Ctx {
			if !it.Loop {
				r.Value = it.Value
				r.Keys = append(r.Keys, expr.Stringify(it.Value))
			}
		}
		m.ex.addRun(r)
		m.touch(r)
		fr.Running++
	}
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
	if !t.Type.Flowable {
		m.schedule(r, t, len(r.Attempts)+1)
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
	switch t.Type.Name {
	case flow.TypeFail:
		m.runFail(r, t, attempt)
		return
	case flow.TypeLabels:
		m.runLabels(r, t, attempt)
		return
	}
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
	m.emit(ScheduleTaskRun{ExecutionID: m.ex.ID, TaskRunID: r.ID, TaskID: t.ID, Type: t.Type.Name, Attempt: attempt, Props: props, Deadline: a.Deadline, Position: pos,
		Namespace: m.ex.Namespace, FlowID: m.ex.FlowID, Cache: m.cacheEntry(t, props), LogLevel: t.LogLevel})
}

// cacheEntry names the task-cache entry of an attempt of t with these
// rendered properties, when t has taskCache enabled: the same flow
// revision, task and properties share an entry.
func (m *machine) cacheEntry(t *flow.Task, props map[string]any) *CacheEntry {
	if t.Cache == nil {
		return nil
	}
	b, err := json.Marshal([]any{m.f.Namespace, m.f.ID, m.f.Revision, t.ID, props}) // map keys sorted
	if err != nil {
		return nil // not JSON: not cacheable
	}
	sum := sha256.Sum256(b)
	return &CacheEntry{Key: hex.EncodeToString(sum[:]), TTL: t.Cache.TTL}
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
	if p != nil && p.Behavior == flow.CreateNewExecution {
		// The policy retries the execution, not the task run: see
		// retryExecution.
		if !t.AllowFailure && m.ex.RetryPolicyOf == "" {
			m.ex.RetryPolicyOf = t.ID
		}
		m.failRun(r, t, e)
		return
	}
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
	case flow.RetryDelays:
		d = p.Delays[min(n, len(p.Delays))-1]
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
		if r.Items == nil { // a restarted ForEach keeps the values it had
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
		}
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

// runFail runs one attempt of a flow.fail in the state machine itself: it
// records an attempt, as Kestra does, so the task's retry policy applies
// to the failure like to any other task's.
func (m *machine) runFail(r *TaskRun, t *flow.Task, attempt int) {
	// Rendered before the attempt is added: taskrun.attemptsCount counts
	// the earlier ones, as for a task a worker runs.
	env := m.env(r, t, m.ctxOf(r))
	fails, msg := true, any(nil)
	err := func() error {
		if p := t.Prop("condition"); p != nil {
			v, err := p.Render(env)
			if err != nil {
				return err
			}
			fails = expr.Truthy(v)
		}
		if fails {
			v, err := t.Prop("errorMessage").Render(env)
			msg = v
			return err
		}
		return nil
	}()
	if r.State != RunSubmitted {
		m.setRun(r, RunSubmitted)
	}
	m.setRun(r, RunRunning)
	r.Attempts = append(r.Attempts, Attempt{Number: attempt, State: RunRunning, StartDate: m.now, EndDate: m.now})
	a := r.CurrentAttempt()
	switch {
	case err != nil:
		a.State, a.Error = RunFailed, renderError(err)
		m.failRun(r, t, a.Error)
	case !fails:
		a.State = RunSuccess
		m.succeed(r, t, RunSuccess, nil)
	default:
		a.State = RunFailed
		a.Error = &TaskError{Kind: KindRetryable, Type: "Fail", Message: expr.Stringify(msg)}
		m.failAttempt(r, t, a.Error)
	}
}

// runLabels runs an execution.labels task in the state machine itself:
// it sets the execution's labels (Kestra's Labels task), which the tasks
// after it see. Labels of Relay's own (system.*) cannot be set.
func (m *machine) runLabels(r *TaskRun, t *flow.Task, attempt int) {
	v, err := t.Prop("labels").Render(m.env(r, t, m.ctxOf(r)))
	var labels []flow.Label
	if err == nil {
		labels, err = labelsOf(v)
	}
	if r.State != RunSubmitted {
		m.setRun(r, RunSubmitted)
	}
	m.setRun(r, RunRunning)
	r.Attempts = append(r.Attempts, Attempt{Number: attempt, State: RunRunning, StartDate: m.now, EndDate: m.now})
	a := r.CurrentAttempt()
	if err != nil {
		a.State, a.Error = RunFailed, &TaskError{Kind: KindFatal, Type: "Labels", Message: err.Error()}
		m.failRun(r, t, a.Error)
		return
	}
	for _, l := range labels {
		setLabel(&m.ex.Labels, l.Key, l.Value)
	}
	a.State = RunSuccess
	m.succeed(r, t, RunSuccess, nil)
}

// labelsOf reads the labels of an execution.labels task: a map (its keys
// sorted) or a list of {key, value}; values print as text.
func labelsOf(v any) ([]flow.Label, error) {
	var out []flow.Label
	switch x := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			out = append(out, flow.Label{Key: k, Value: expr.Stringify(x[k])})
		}
	case []any:
		for i, e := range x {
			kv, ok := e.(map[string]any)
			if !ok || kv["key"] == nil {
				return nil, fmt.Errorf("labels item %d: want a map with key and value, got %s", i, expr.Stringify(e))
			}
			out = append(out, flow.Label{Key: expr.Stringify(kv["key"]), Value: expr.Stringify(kv["value"])})
		}
	case string:
		var j any
		if err := json.Unmarshal([]byte(x), &j); err == nil {
			if _, ok := j.(string); !ok {
				return labelsOf(expr.NormalizeJSON(j))
			}
		}
		return nil, fmt.Errorf("labels: want a map or a list of {key, value}, got %q", x)
	default:
		return nil, fmt.Errorf("labels: want a map or a list of {key, value}, got %s", expr.Stringify(v))
	}
	for _, l := range out {
		switch {
		case strings.TrimSpace(l.Key) == "":
			return nil, errors.New("labels: a label needs a key")
		case strings.HasPrefix(l.Key, "system."):
			return nil, fmt.Errorf("labels: %s is a system label, which Relay sets itself", l.Key)
		}
	}
	return out, nil
}

// itemsOf turns a rendered ForEach `values` into the list of iteration
// values, as Kestra: a list, or a string holding a JSON array; an empty
// list runs no iteration; null (the list or an item) fails; duplicates,
// compared by text form, are run once (outputs are keyed by that text).
func itemsOf(v any) ([]any, error) {
	var items []any
	switch x := v.(type) {
	case nil:
		return nil, errors.New("the values are null; expected a list (an empty list runs no iteration)")
	case []any:
		items = x
	case string:
		if err := json.Unmarshal([]byte(x), &items); err != nil {
			return nil, fmt.Errorf("expected a list or a JSON array, got %q", x)
		}
		if items == nil {
			return nil, errors.New("the values are null; expected a list (an empty list runs no iteration)")
		}
		items = expr.NormalizeJSON(items).([]any)
	default:
		return nil, fmt.Errorf("expected a list, got %s", expr.Stringify(v))
	}
	seen := make(map[string]bool, len(items))
	out := items[:0:0]
	for i, it := range items {
		if it == nil {
			return nil, fmt.Errorf("found a null value at index %d of the values %s", i, expr.Stringify(items))
		}
		k := expr.Stringify(it)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, it)
	}
	return out, nil
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

// nextWaitFor starts the next iteration of a flow.waitfor. Its
// iterationCount output is readable from the iteration's start, by its
// tasks and its condition (Kestra's WaitFor example counts with it).
func (m *machine) nextWaitFor(r *TaskRun) {
	r.Iteration++
	r.Outputs = map[string]any{"iterationCount": int64(r.Iteration)}
	m.indexOutputs(r)
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
	restart := 0
	if r.ChildExec != "" { // the parent was restarted: this run started a child before
		if b := t.Prop("restartBehavior").String(); b == flow.RestartNewExecution {
			child = fmt.Sprintf("%s.%s.%d", m.ex.ID, r.ID, m.ex.Restarts)
		} else {
			child, restart = r.ChildExec, m.ex.Restarts // Kestra's default: restart the failed child
		}
	}
	cmd := StartSubflow{Restart: restart,
		ExecutionID: child, Namespace: expr.Stringify(vals["namespace"]), FlowID: expr.Stringify(vals["flowId"]),
		Parent: ParentRef{ExecutionID: m.ex.ID, TaskRunID: r.ID, Namespace: m.ex.Namespace, FlowID: m.ex.FlowID, Depth: depth},
	}
	if in, ok := vals["inputs"].(map[string]any); ok {
		cmd.Inputs = in
	}
	if inherit, _ := t.Prop("inheritLabels").Literal().(bool); inherit {
		for _, l := range m.ex.Labels {
			if !strings.HasPrefix(l.Key, "system.") {
				setLabel(&cmd.Labels, l.Key, l.Value)
			}
		}
	}
	if ls, ok := vals["labels"].(map[string]any); ok {
		for _, k := range slices.Sorted(maps.Keys(ls)) {
			setLabel(&cmd.Labels, k, expr.Stringify(ls[k]))
		}
	}
	for _, l := range m.ex.Labels {
		if l.Key == CorrelationLabel {
			setLabel(&cmd.Labels, l.Key, l.Value)
		}
	}
	if o := t.Prop("outputs"); o != nil {
		cmd.Parent.Outputs = map[string]string{}
		for _, k := range o.Keys() {
			v := o.Get(k)
			if tm := v.Template(); tm != nil {
				cmd.Parent.Outputs[k] = tm.Source()
			} else {
				cmd.Parent.Outputs[k] = v.String()
			}
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
	case RunFailed, RunCrashed:
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
		if fr.Failed && m.retryExecution() {
			return
		}
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

// retryExecution applies a retry policy with behavior
// CREATE_NEW_EXECUTION (Kestra's flow-level retry) to an execution whose
// tasks failed: if attempts remain, it waits in RETRYING for the policy's
// delay, then runs again in place (as a restart), its `errors` and
// `finally` blocks left for the last attempt. It reports whether it did.
func (m *machine) retryExecution() bool {
	if m.ex.RetryPolicyOf == "" {
		return false
	}
	t, ok := m.f.Task(m.ex.RetryPolicyOf)
	if !ok {
		return false
	}
	p := m.retryPolicy(t)
	attempt := m.ex.Restarts + 1
	if p == nil || p.MaxAttempts > 0 && attempt >= p.MaxAttempts {
		return false
	}
	delay := RetryDelay(p, attempt, m.rng().Float64(), m.rng().Float64())
	if p.MaxDuration > 0 && m.now.Add(delay).Sub(m.ex.StartDate) > p.MaxDuration {
		return false
	}
	m.setExec(ExecRetrying)
	m.ex.Phase = PhaseRetrying
	m.log("", "WARN", "execution attempt %d failed (%s failed); its retry policy runs it again in %s", attempt, t.ID, delay)
	m.emit(StartTimer{ExecutionID: m.ex.ID, Attempt: attempt, Kind: TimerRestart, FireAt: m.now.Add(delay)})
	return true
}

// restartTimer runs a RETRYING execution again (retryExecution).
func (m *machine) restartTimer() error {
	if m.ex.State != ExecRetrying || m.ev.Attempt != m.ex.Restarts+1 {
		m.ignored = "the restart timer no longer applies"
		return nil
	}
	m.reopen()
	m.ex.RetryPolicyOf = ""
	m.begin()
	return nil
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
