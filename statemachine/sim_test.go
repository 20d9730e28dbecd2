package statemachine_test

import (
	"container/heap"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relayflow/relay/secrets"
	sm "github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/flow"
)

// testKeyring seals the secrets of simulated executions.
var testKeyring = func() *secrets.Keyring {
	k, err := secrets.NewKeyring([]byte("a test key that is 32 bytes long"))
	if err != nil {
		panic(err)
	}
	return k
}()

// outcome is what a simulated worker does with one attempt.
type outcome struct {
	state   sm.RunState
	outputs map[string]any
	err     *sm.TaskError
	hang    bool          // never finishes (for timeouts and kills)
	took    time.Duration // how long the attempt runs (default 10ms)
}

// worker decides the outcome of an attempt; nil uses defaultOutcome.
type worker func(c sm.ScheduleTaskRun) outcome

func defaultOutcome(c sm.ScheduleTaskRun) outcome {
	switch c.Type {
	case flow.TypeReturn:
		return outcome{state: sm.RunSuccess, outputs: map[string]any{"value": c.Props["format"]}}
	case flow.TypeOutputValues:
		return outcome{state: sm.RunSuccess, outputs: map[string]any{"values": c.Props["values"]}}
	case flow.TypeHTTPRequest:
		return outcome{state: sm.RunSuccess, outputs: map[string]any{"code": int64(200), "body": "ok"}}
	case flow.TypeShell:
		return outcome{state: sm.RunSuccess, outputs: map[string]any{"exitCode": int64(0), "stdout": "", "stderr": ""}}
	case flow.TypePython, flow.TypePythonCmds, flow.TypeNode, flow.TypeNodeCmds, flow.TypeShellScript:
		files := map[string]any{}
		if globs, ok := c.Props["outputFiles"].([]any); ok {
			for _, g := range globs {
				name := fmt.Sprint(g)
				files[name] = "relay:///" + c.Namespace + "/" + c.FlowID + "/executions/" + c.ExecutionID + "/tasks/" + c.TaskID + "/" + c.TaskRunID + "/" + name
			}
		}
		return outcome{state: sm.RunSuccess, outputs: map[string]any{"exitCode": int64(0), "vars": map[string]any{}, "outputFiles": files}}
	}
	return outcome{state: sm.RunSuccess}
}

type queued struct {
	at  time.Time
	seq int
	ev  sm.Event
}

type eventQueue []queued

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(queued)) }
func (q *eventQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// sim is a deterministic world around the state machine: a logical clock,
// an event queue, workers that answer ScheduleTaskRun, timers that fire on
// time and subflows that start. It is the in-memory fake of the engine, for
// tests of the pure core only.
type sim struct {
	t        *testing.T
	flows    map[string]*flow.Flow
	execs    map[string]*sm.Execution
	q        eventQueue
	seq      int
	now      time.Time
	work     worker
	logs     []sm.Log
	schedule []sm.ScheduleTaskRun
	finished []sm.ExecutionFinished
	ignored  []string
	running  map[string]int // running attempts per execution, for concurrency checks
	maxRun   map[string]int
	waiting  map[string]bool // child execution ids whose parent waits
	trace    io.Writer       // when set, every event applied and its commands
	began    time.Time
	opts     sm.Options // Secret is set by the sim
	// cache, when not nil, is a task cache as the engine keeps one: a
	// scheduled attempt whose entry is there ends with its outputs and
	// does not run; a successful one fills it.
	cache map[string]cached
}

type cached struct {
	outputs map[string]any
	from    string
}

func newSim(t *testing.T, flows ...*flow.Flow) *sim {
	s := &sim{t: t, flows: map[string]*flow.Flow{}, execs: map[string]*sm.Execution{}, now: time.Date(2024, 1, 31, 10, 0, 0, 0, time.UTC),
		running: map[string]int{}, maxRun: map[string]int{}, waiting: map[string]bool{}}
	s.began = s.now
	for _, f := range flows {
		s.flows[f.Namespace+"/"+f.ID] = f
	}
	return s
}

func parseFlow(t testing.TB, src string) *flow.Flow {
	t.Helper()
	f, err := flow.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("parsing flow: %v", err)
	}
	f.Revision = 1
	return f
}

func exampleFlow(t testing.TB, name string) *flow.Flow {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "examples", "flows", name))
	if err != nil {
		t.Fatal(err)
	}
	return parseFlow(t, string(src))
}

func (s *sim) push(at time.Time, ev sm.Event) {
	s.seq++
	if ev.ID == "" {
		ev.ID = fmt.Sprintf("ev-%d", s.seq)
	}
	heap.Push(&s.q, queued{at: at, seq: s.seq, ev: ev})
}

// start requests an execution of flow f and returns its id.
func (s *sim) start(f *flow.Flow, in map[string]any) string {
	id := fmt.Sprintf("exec-%d", len(s.execs)+1)
	s.push(s.now, sm.Event{Type: sm.EvExecutionRequested, ExecutionID: id, Namespace: f.Namespace, FlowID: f.ID, Inputs: in})
	return id
}

// run delivers events until none is left or the limit is reached.
func (s *sim) run() {
	s.t.Helper()
	for i := 0; s.q.Len() > 0; i++ {
		if i > 200000 {
			s.t.Fatal("the simulation does not end")
		}
		s.step()
	}
}

// runFor delivers the events due within d of the current time.
func (s *sim) runFor(d time.Duration) {
	s.t.Helper()
	end := s.now.Add(d)
	for s.q.Len() > 0 && !s.q[0].at.After(end) {
		s.step()
	}
}

func (s *sim) step() {
	s.t.Helper()
	q := heap.Pop(&s.q).(queued)
	if q.at.After(s.now) {
		s.now = q.at
	}
	if q.ev.Type == simDone {
		s.running[q.ev.ExecutionID]--
		return
	}
	if _, err := s.deliver(q.ev); err != nil {
		s.t.Fatalf("delivering %s: %v", q.ev.Type, err)
	}
}

func (s *sim) deliver(ev sm.Event) (sm.Result, error) {
	s.t.Helper()
	ex := s.execs[ev.ExecutionID]
	var f *flow.Flow
	if ex != nil {
		f = s.flows[ex.Namespace+"/"+ex.FlowID]
	} else {
		f = s.flows[ev.Namespace+"/"+ev.FlowID]
		if f == nil {
			s.t.Fatalf("no flow %s/%s", ev.Namespace, ev.FlowID)
		}
	}
	opts := s.opts
	opts.Secrets = testKeyring
	if ev.Replay != nil {
		opts.ReplaySource = s.execs[ev.Replay.ExecutionID]
	}
	res, err := sm.Apply(f, ex, ev, s.now, opts)
	if err != nil {
		return res, err
	}
	if s.trace != nil {
		s.traceApply(ev, res)
	}
	if res.Ignored != "" {
		s.ignored = append(s.ignored, res.Ignored)
		return res, nil
	}
	s.execs[res.Execution.ID] = roundTrip(s.t, res.Execution)
	for _, c := range res.Commands {
		s.carryOut(c)
	}
	return res, nil
}

func (s *sim) carryOut(c sm.Command) {
	switch c := c.(type) {
	case sm.ScheduleTaskRun:
		if e, ok := s.cache[cacheKey(c)]; ok {
			s.push(s.now, sm.Event{Type: sm.EvTaskRunFinished, ExecutionID: c.ExecutionID, TaskRunID: c.TaskRunID, Attempt: c.Attempt,
				State: sm.RunSuccess, Outputs: e.outputs, CachedFrom: e.from})
			return
		}
		s.schedule = append(s.schedule, c)
		w := s.work
		if w == nil {
			w = defaultOutcome
		}
		o := w(c)
		if o.state == "" {
			d := defaultOutcome(c)
			d.hang, d.took = o.hang, o.took
			o = d
		}
		took := o.took
		if took == 0 {
			took = 10 * time.Millisecond
		}
		s.running[c.ExecutionID]++
		if s.running[c.ExecutionID] > s.maxRun[c.ExecutionID] {
			s.maxRun[c.ExecutionID] = s.running[c.ExecutionID]
		}
		s.push(s.now, sm.Event{Type: sm.EvTaskRunStarted, ExecutionID: c.ExecutionID, TaskRunID: c.TaskRunID, Attempt: c.Attempt})
		if o.hang {
			return
		}
		if s.cache != nil && c.Cache != nil && o.state == sm.RunSuccess {
			s.cache[c.Cache.Key] = cached{outputs: o.outputs, from: c.ExecutionID}
		}
		s.push(s.now.Add(took), sm.Event{Type: simDone, ExecutionID: c.ExecutionID})
		s.push(s.now.Add(took), sm.Event{Type: sm.EvTaskRunFinished, ExecutionID: c.ExecutionID, TaskRunID: c.TaskRunID, Attempt: c.Attempt,
			State: o.state, Outputs: o.outputs, Error: o.err})
	case sm.StartTimer:
		s.push(c.FireAt, sm.Event{Type: sm.EvTimerFired, ExecutionID: c.ExecutionID, TaskRunID: c.TaskRunID, Attempt: c.Attempt, Timer: c.Kind})
	case sm.KillAttempt:
		s.push(s.now.Add(time.Millisecond), sm.Event{Type: sm.EvTaskRunFinished, ExecutionID: c.ExecutionID, TaskRunID: c.TaskRunID, Attempt: c.Attempt, State: sm.RunKilled})
	case sm.StartSubflow:
		if c.Wait {
			s.waiting[c.ExecutionID] = true
		}
		if c.Restart > 0 {
			s.push(s.now, sm.Event{Type: sm.EvRestart, ExecutionID: c.ExecutionID})
			return
		}
		s.push(s.now, sm.Event{Type: sm.EvExecutionRequested, ExecutionID: c.ExecutionID, Namespace: c.Namespace, FlowID: c.FlowID, Inputs: c.Inputs, Labels: c.Labels, Parent: &c.Parent})
	case sm.ExecutionFinished:
		s.finished = append(s.finished, c)
		if c.Parent != nil && s.waiting[c.ExecutionID] {
			s.push(s.now, sm.Event{Type: sm.EvSubflowFinished, ExecutionID: c.Parent.ExecutionID, TaskRunID: c.Parent.TaskRunID,
				ChildExecutionID: c.ExecutionID, ChildState: c.State, ChildOutputs: c.ChildOutputs()})
		}
	case sm.Log:
		s.logs = append(s.logs, c)
	default:
		s.t.Fatalf("unknown command %T", c)
	}
}

// traceApply writes one event and what it did: the execution's state, the
// task runs it changed and its commands, as JSON with sorted keys.
func (s *sim) traceApply(ev sm.Event, res sm.Result) {
	line := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			s.t.Fatalf("tracing: %v", err)
		}
		return string(b)
	}
	fmt.Fprintf(s.trace, "%s %s\n", s.elapsed(s.now), line(ev))
	if res.Ignored != "" {
		fmt.Fprintf(s.trace, "    ignored: %s\n", res.Ignored)
		return
	}
	changed := make([]string, len(res.Changed))
	for i, r := range res.Changed {
		changed[i] = fmt.Sprintf("%s=%s", r.ID, r.State)
	}
	fmt.Fprintf(s.trace, "    %s %s %s\n", res.Execution.ID, res.Execution.State, strings.Join(changed, " "))
	for _, c := range res.Commands {
		fmt.Fprintf(s.trace, "    -> %T %s\n", c, line(c))
	}
}

// elapsed shows t as time since the simulation began, "-" for no time.
func (s *sim) elapsed(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return "+" + t.Sub(s.began).String()
}

// simDone marks the end of a simulated attempt, for concurrency counts.
const simDone sm.EventType = "sim.done"

func (s *sim) exec(id string) *sm.Execution {
	s.t.Helper()
	ex := s.execs[id]
	if ex == nil {
		s.t.Fatalf("no execution %s", id)
	}
	return ex
}

func (s *sim) runState(id, runID string) sm.RunState {
	s.t.Helper()
	r, ok := s.exec(id).Run(runID)
	if !ok {
		s.t.Fatalf("execution %s has no task run %s", id, runID)
	}
	return r.State
}

// roundTrip stores and reloads an execution as a store does (JSON), so the
// tests catch state that does not survive persistence.
func roundTrip(t testing.TB, ex *sm.Execution) *sm.Execution {
	t.Helper()
	b, err := json.Marshal(ex)
	if err != nil {
		t.Fatalf("encoding execution: %v", err)
	}
	var out sm.Execution
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("decoding execution: %v", err)
	}
	return &out
}

func cacheKey(c sm.ScheduleTaskRun) string {
	if c.Cache == nil {
		return ""
	}
	return c.Cache.Key
}
