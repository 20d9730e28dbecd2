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
// If, ForEach and Sequential blocks, with retries, allowFailure and errors.
func randomFlow(r *rand.Rand) string {
	var b strings.Builder
	b.WriteString("id: rnd\nnamespace: prop\nretry: {type: constant, interval: PT1S, maxAttempts: 2}\ntasks:\n")
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
			k := r.IntN(7)
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
			}
		}
	}
	block("  ", 0, 2+r.IntN(4))
	b.WriteString("finally:\n")
	block("  ", 1, 1)
	return b.String()
}

// outcomeOf decides an attempt's result from its identity alone, so every
// delivery order sees the same worker behaviour.
func outcomeOf(c sm.ScheduleTaskRun) (sm.RunState, *sm.TaskError) {
	h := fnv.New32a()
	h.Write([]byte(c.TaskRunID))
	switch v := h.Sum32() % 7; {
	case v == 0:
		return sm.RunFailed, &sm.TaskError{Kind: sm.KindRetryable, Message: "always fails"}
	case v == 1 && c.Attempt == 1:
		return sm.RunFailed, &sm.TaskError{Kind: sm.KindRetryable, Message: "fails once"}
	case v == 2:
		return sm.RunWarning, nil
	}
	return sm.RunSuccess, nil
}

// deliverer runs one execution, picking which pending event comes next.
// Each attempt's events form a stream (started before finished, as one
// worker produces them); streams interleave in any order.
type deliverer struct {
	f       *flow.Flow
	ex      *sm.Execution
	streams [][]sm.Event
	rng     *rand.Rand // nil: in-order delivery, first stream first
	dupes   int
}

func (d *deliverer) add(evs ...sm.Event) { d.streams = append(d.streams, evs) }

func (d *deliverer) run(t *testing.T) *sm.Execution {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	d.add(sm.Event{ID: "req", Type: sm.EvExecutionRequested, ExecutionID: "x"})
	for steps := 0; len(d.streams) > 0; steps++ {
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
				st, e := outcomeOf(c)
				id := fmt.Sprintf("%s/%d", c.TaskRunID, c.Attempt)
				d.add(sm.Event{ID: id + "/s", Type: sm.EvTaskRunStarted, ExecutionID: "x", TaskRunID: c.TaskRunID, Attempt: c.Attempt},
					sm.Event{ID: id + "/f", Type: sm.EvTaskRunFinished, ExecutionID: "x", TaskRunID: c.TaskRunID, Attempt: c.Attempt, State: st, Error: e, Outputs: map[string]any{"value": c.Props["format"]}})
			case sm.StartTimer:
				d.add(sm.Event{ID: fmt.Sprintf("%s/%d/%s", c.TaskRunID, c.Attempt, c.Kind), Type: sm.EvTimerFired, ExecutionID: "x", TaskRunID: c.TaskRunID, Attempt: c.Attempt, Timer: c.Kind})
			}
		}
	}
	return d.ex
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
		lines = append(lines, fmt.Sprintf("%s %s attempts=%d outputs=%v", r.ID, r.State, len(r.Attempts), r.Outputs))
	}
	sort.Strings(lines)
	return fmt.Sprintf("%s %v\n%s", ex.State, ex.Outputs, strings.Join(lines, "\n"))
}

func TestProperty_anyDeliveryOrderWithDuplicatesGivesTheSameExecution(t *testing.T) {
	flows, orders := 150, 6
	if testing.Short() {
		flows = 30
	}
	dupes := 0
	for seed := 0; seed < flows; seed++ {
		src := randomFlow(rand.New(rand.NewPCG(uint64(seed), 1)))
		f, err := flow.Parse("random.yaml", []byte(src))
		if err != nil {
			t.Fatalf("seed %d: generated an invalid flow: %v\n%s", seed, err, src)
		}
		want := summary((&deliverer{f: f}).run(t))
		if !strings.HasPrefix(want, "SUCCESS") && !strings.HasPrefix(want, "WARNING") && !strings.HasPrefix(want, "FAILED") {
			t.Fatalf("seed %d: in-order delivery ended %s", seed, want)
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
}
