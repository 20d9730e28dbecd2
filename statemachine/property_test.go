package statemachine_test

import (
	"fmt"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	sm "github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/flow"
)

// randomFlow writes a random flow of runnable tasks nested in Parallel,
// If, ForEach and Sequential blocks, with retries (of task runs, or of the
// execution), allowFailure, errors, the task cache, flow.fail and
// execution.labels tasks (which the state machine runs itself), and an
// SLA assertion.
func randomFlow(r *rand.Rand) string {
	var b strings.Builder
	behavior := "RETRY_FAILED_TASK"
	if r.IntN(3) == 0 {
		behavior = "CREATE_NEW_EXECUTION"
	}
	fmt.Fprintf(&b, "id: rnd\nnamespace: prop\nretry: {type: constant, interval: PT1S, maxAttempts: 2, behavior: %s}\n", behavior)
	if r.IntN(2) == 0 {
		// Checked after every event; once t1 has outputs it stays false,
		// so whether it is violated does not depend on delivery order
		// (NONE only labels: stopping would kill whatever runs then).
		b.WriteString("sla:\n  - {id: t1done, type: EXECUTION_ASSERTION, assert: \"{{ outputs.t1 is not defined }}\", behavior: NONE, labels: {t1: done}}\n")
	}
	b.WriteString("tasks:\n")
	n := 0
	var block func(indent string, depth, count int)
	task := func(indent string) string {
		n++
		id := fmt.Sprintf("t%d", n)
		fmt.Fprintf(&b, "%s- id: %s\n", indent, id)
		return id
	}
	block = func(indent string, depth, count int) {
		in := indent + "  "
		for i := 0; i < count; i++ {
			k := r.IntN(9)
			if depth >= 2 {
				k = 0
			}
			switch k {
			case 0, 1, 2:
				id := task(indent)
				fmt.Fprintf(&b, "%stype: debug.return\n%sformat: \"{{ task.id }}-{{ taskrun.value ?? 'none' }}\"\n", in, in)
				if r.IntN(4) == 0 {
					fmt.Fprintf(&b, "%sallowFailure: true\n", in)
				}
				if r.IntN(4) == 0 {
					fmt.Fprintf(&b, "%staskCache: {enabled: true, ttl: PT1H}\n", in)
				}
				_ = id
			case 3:
				task(indent)
				fmt.Fprintf(&b, "%stype: flow.parallel\n%sconcurrent: %d\n%stasks:\n", in, in, r.IntN(3), in)
				block(in+"  ", depth+1, 1+r.IntN(3))
			case 4:
				task(indent)
				fmt.Fprintf(&b, "%stype: flow.if\n%scondition: \"{{ %d > 1 }}\"\n%sthen:\n", in, in, r.IntN(3), in)
				block(in+"  ", depth+1, 1+r.IntN(2))
				fmt.Fprintf(&b, "%selse:\n", in)
				block(in+"  ", depth+1, 1+r.IntN(2))
			case 5:
				task(indent)
				fmt.Fprintf(&b, "%stype: flow.foreach\n%svalues: [\"a\", \"b\", \"c\"]\n%sconcurrencyLimit: %d\n%stasks:\n", in, in, in, r.IntN(3), in)
				block(in+"  ", depth+1, 1+r.IntN(2))
			case 6:
				task(indent)
				fmt.Fprintf(&b, "%stype: flow.sequential\n%stasks:\n", in, in)
				block(in+"  ", depth+1, 1+r.IntN(3))
				fmt.Fprintf(&b, "%serrors:\n", in)
				block(in+"  ", depth+1, 1)
			case 7:
				task(indent)
				fmt.Fprintf(&b, "%stype: flow.fail\n%scondition: \"{{ %d > 0 }}\"\n%sallowFailure: %v\n", in, in, r.IntN(2), in, r.IntN(2) == 0)
			case 8:
				id := task(indent) // a key of its own, per iteration: parallel branches set different keys
				fmt.Fprintf(&b, "%stype: execution.labels\n%slabels: [{key: \"%s-{{ taskrun.value ?? 'none' }}\", value: \"{{ task.id }}\"}]\n", in, in, id)
			}
		}
	}
	block("  ", 0, 2+r.IntN(4))
	b.WriteString("finally:\n")
	block("  ", 1, 1)
	return b.String()
}

// outcomeOf decides an attempt's result from its identity alone, so every
// delivery order sees the same worker behaviour. cached: the task cache
// has the attempt's entry (the engine finishes it; no worker runs it).
func outcomeOf(c sm.ScheduleTaskRun) (st sm.RunState, err *sm.TaskError, cached bool) {
	h := fnv.New32a()
	h.Write([]byte(c.TaskRunID))
	if c.Cache != nil && h.Sum32()%3 == 0 {
		return sm.RunSuccess, nil, true
	}
	st, err = outcomeOfWorker(h.Sum32(), c.Attempt)
	return st, err, false
}

func outcomeOfWorker(sum uint32, attempt int) (sm.RunState, *sm.TaskError) {
	switch v := sum % 7; {
	case v == 0:
		return sm.RunFailed, &sm.TaskError{Kind: sm.KindRetryable, Message: "always fails"}
	case v == 1 && attempt == 1:
		return sm.RunFailed, &sm.TaskError{Kind: sm.KindRetryable, Message: "fails once"}
	case v == 2:
		return sm.RunWarning, nil
	case v == 3 && attempt == 1:
		return sm.RunCrashed, &sm.TaskError{Kind: sm.KindCrashed, Message: "its worker died"}
	}
	return sm.RunSuccess, nil
}

// deliverer runs one execution, picking which pending event comes next.
// Each attempt's events form a stream (started before finished, as one
// worker produces them); streams interleave in any order.
type deliverer struct {
	f         *flow.Flow
	ex        *sm.Execution
	streams   [][]sm.Event
	rng       *rand.Rand // nil: in-order delivery, first stream first
	dupes     int
	restarted bool
}

func (d *deliverer) add(evs ...sm.Event) { d.streams = append(d.streams, evs) }

func (d *deliverer) run(t *testing.T) *sm.Execution {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	d.add(sm.Event{ID: "req", Type: sm.EvExecutionRequested, ExecutionID: "x"})
	for steps := 0; len(d.streams) > 0 || d.restart(); steps++ {
		if steps > 100000 {
			t.Fatal("delivery does not end")
		}
		i := 0
		if d.rng != nil {
			i = d.rng.IntN(len(d.streams))
		}
		ev := d.streams[i][0]
		if d.streams[i] = d.streams[i][1:]; len(d.streams[i]) == 0 {
			d.streams = append(d.streams[:i], d.streams[i+1:]...)
		}
		if d.rng != nil && d.rng.IntN(5) == 0 {
			d.add(ev) // redelivered later
			d.dupes++
		}
		now = now.Add(time.Millisecond)
		res, err := sm.Apply(d.f, d.ex, ev, now, sm.Options{})
		if err != nil {
			t.Fatalf("applying %s %s: %v", ev.Type, ev.ID, err)
		}
		d.ex = res.Execution
		checkRunCounts(t, d.ex)
		if d.rng != nil {
			d.ex = roundTrip(t, d.ex) // random orders also reload from JSON
		}
		for _, c := range res.Commands {
			switch c := c.(type) {
			case sm.ScheduleTaskRun:
				st, e, cached := outcomeOf(c)
				id := fmt.Sprintf("%s/%d", c.TaskRunID, c.Attempt)
				if cached {
					d.add(sm.Event{ID: id + "/f", Type: sm.EvTaskRunFinished, ExecutionID: "x", TaskRunID: c.TaskRunID, Attempt: c.Attempt, State: st, Outputs: map[string]any{"value": "cached"}, CachedFrom: "earlier"})
					break
				}
				d.add(sm.Event{ID: id + "/s", Type: sm.EvTaskRunStarted, ExecutionID: "x", TaskRunID: c.TaskRunID, Attempt: c.Attempt},
					sm.Event{ID: id + "/f", Type: sm.EvTaskRunFinished, ExecutionID: "x", TaskRunID: c.TaskRunID, Attempt: c.Attempt, State: st, Error: e, Outputs: map[string]any{"value": c.Props["format"]}})
			case sm.StartTimer:
				d.add(sm.Event{ID: fmt.Sprintf("%s/%d/%s", c.TaskRunID, c.Attempt, c.Kind), Type: sm.EvTimerFired, ExecutionID: "x", TaskRunID: c.TaskRunID, Attempt: c.Attempt, Timer: c.Kind})
			}
		}
	}
	return d.ex
}

// restart restarts the execution once, when it ended FAILED: the
// restarted run's events interleave as freely as the first run's.
func (d *deliverer) restart() bool {
	if d.restarted || d.ex == nil || d.ex.State != sm.ExecFailed {
		return false
	}
	d.restarted = true
	d.add(sm.Event{ID: "restart", Type: sm.EvRestart, ExecutionID: "x"})
	return true
}

// checkRunCounts fails when the counts Apply keeps (by state, and by task
// and state) differ from a count of the task runs.
func checkRunCounts(t *testing.T, ex *sm.Execution) {
	t.Helper()
	want := map[sm.RunState]int{}
	byTask := map[string]map[sm.RunState]int{}
	for _, r := range ex.TaskRuns {
		want[r.State]++
		if byTask[r.TaskID] == nil {
			byTask[r.TaskID] = map[sm.RunState]int{}
		}
		byTask[r.TaskID][r.State]++
	}
	if len(want) == 0 {
		want = nil
	}
	if !maps.Equal(ex.RunCounts, want) {
		t.Fatalf("RunCounts = %v, the task runs count %v", ex.RunCounts, want)
	}
	if len(ex.TaskCounts) != len(byTask) {
		t.Fatalf("TaskCounts has %d tasks, the task runs %d", len(ex.TaskCounts), len(byTask))
	}
	for task, counts := range byTask {
		if !maps.Equal(ex.TaskCounts[task], counts) {
			t.Fatalf("TaskCounts[%s] = %v, its task runs count %v", task, ex.TaskCounts[task], counts)
		}
	}
}

// summary is what must not depend on delivery order: states, attempts and
// outputs of every task run, and the execution's end.
func summary(ex *sm.Execution) string {
	var lines []string
	for _, r := range ex.TaskRuns {
		lines = append(lines, fmt.Sprintf("%s %s attempts=%d outputs=%v cached=%v", r.ID, r.State, len(r.Attempts), r.Outputs, r.Cached))
	}
	sort.Strings(lines)
	var labels []string
	for _, l := range ex.Labels {
		labels = append(labels, l.Key+"="+l.Value)
	}
	sort.Strings(labels)
	return fmt.Sprintf("%s %v %v\n%s", ex.State, ex.Outputs, labels, strings.Join(lines, "\n"))
}

func TestProperty_anyDeliveryOrderWithDuplicatesGivesTheSameExecution(t *testing.T) {
	flows, orders := 150, 6
	if testing.Short() {
		flows = 30
	}
	dupes, restarts, cachedRuns, labelled, violated := 0, 0, 0, 0, 0
	for seed := 0; seed < flows; seed++ {
		src := randomFlow(rand.New(rand.NewPCG(uint64(seed), 1)))
		f, err := flow.Parse("random.yaml", []byte(src))
		if err != nil {
			t.Fatalf("seed %d: generated an invalid flow: %v\n%s", seed, err, src)
		}
		first := &deliverer{f: f}
		want := summary(first.run(t))
		if !strings.HasPrefix(want, "SUCCESS") && !strings.HasPrefix(want, "WARNING") && !strings.HasPrefix(want, "FAILED") {
			t.Fatalf("seed %d: in-order delivery ended %s", seed, want)
		}
		if first.restarted {
			restarts++
		}
		cachedRuns += strings.Count(want, "cached=true")
		if len(first.ex.Labels) > 1 { // system.correlationId aside
			labelled++
		}
		if strings.Contains(want, "t1=done") {
			violated++
		}
		for o := 0; o < orders; o++ {
			d := &deliverer{f: f, rng: rand.New(rand.NewPCG(uint64(seed), uint64(o+2)))}
			got := summary(d.run(t))
			dupes += d.dupes
			if got != want {
				t.Fatalf("seed %d order %d: final state differs from in-order delivery\nflow:\n%s\n--- got\n%s\n--- want\n%s", seed, o, src, got, want)
			}
		}
	}
	if dupes == 0 {
		t.Error("no event was redelivered: the test checks nothing about duplicates")
	}
	if restarts == 0 {
		t.Error("no execution was restarted: the test checks nothing about restarts")
	}
	if cachedRuns == 0 || labelled == 0 || violated == 0 {
		t.Errorf("%d runs came from the task cache, %d executions were labelled, %d violated their SLA: the test checks nothing about them", cachedRuns, labelled, violated)
	}
}
