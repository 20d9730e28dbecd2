// Package firing runs Relay's triggers: it files each flow revision's
// triggers in the trigger index when the revision is stored (Index), and
// the Router, the Scheduler and Webhook start executions from what package
// triggers decides. State lives in the store's Records, written with
// conditional writes, so any number of routers and schedulers may run.
//
// Execution ids are derived from the cause (see triggers.ExecutionID): a
// cause seen twice requests the same execution twice, and the executor
// starts it once. Requests are published before the state that records
// them is written, so a crash between the two repeats a request rather
// than losing it.
package firing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/triggers"
)

// Record kinds of the trigger runtime.
const (
	// kindIndex + an index key (triggers.IndexKeys): trigger key -> indexEntry.
	kindIndex = "tix:"
	// kindFlow: namespace/flowId -> flowEntry, what Index filed last.
	kindFlow = "tflow"
	// KindSchedule: trigger key -> scheduleEntry, due at the next time.
	KindSchedule = "tschedule"
	// kindState: trigger key -> triggerState.
	kindState = "tstate"
	// kindLast: trigger key -> lastFire, written blind each time the
	// trigger starts an execution: one write on the router's path instead
	// of a read and a conditional write of its state.
	kindLast = "tlast"
)

// lastFire is when a trigger last started an execution (for `relay
// triggers list`). Routers racing on one trigger may leave the earlier of
// two times that are milliseconds apart.
type lastFire struct {
	Last time.Time `json:"last"`
}

// Store is what the trigger runtime reads and writes.
type Store interface {
	engine.RecordStore
	Flow(ctx context.Context, namespace, id string, revision int) (engine.FlowRecord, error)
	Flows(ctx context.Context) ([]engine.FlowRecord, error)
	// ExecutionHead reads an execution without its task runs (the depth of
	// the one that emitted an event).
	ExecutionHead(ctx context.Context, id string) (*statemachine.Execution, error)
	AppendLogs(ctx context.Context, entries []engine.LogEntry) error
}

type indexEntry struct {
	Revision int `json:"revision"`
}

type flowEntry struct {
	Revision  int      `json:"revision"`
	Keys      []string `json:"keys,omitempty"`      // index keys, each with the flow's triggers under it
	Triggers  []string `json:"triggers,omitempty"`  // trigger keys filed
	Schedules []string `json:"schedules,omitempty"` // trigger keys of schedules
	States    []string `json:"states,omitempty"`    // trigger keys of every enabled trigger (their tstate and tlast records)
}

// scheduleEntry is a schedule's record.
type scheduleEntry struct {
	Revision int `json:"revision"`
	triggers.ScheduleState
}

// triggerState is the state of a flow or event trigger.
type triggerState struct {
	Stopped       bool                        `json:"stopped,omitempty"`
	Last          time.Time                   `json:"last,omitzero"`
	Preconditions *triggers.PreconditionState `json:"preconditions,omitempty"`
}

// Index files the triggers of a stored flow revision in the trigger index
// and registers its schedules, replacing what an earlier revision filed: a
// trigger the new revision drops or disables stops firing once Index
// returns. A schedule kept across revisions keeps its cursor; a new
// revision starts again a trigger that stopAfter stopped. Indexing the same
// revision again changes nothing, and of two revisions indexed at once the
// later one wins.
func Index(ctx context.Context, st Store, f *flow.Flow, now time.Time) error {
	trs, err := triggers.Compile(fmt.Sprintf("%s/%s@%d", f.Namespace, f.ID, f.Revision), f)
	if err != nil {
		return err
	}
	flowKey := f.Namespace + "/" + f.ID
	for {
		old, oldVersion, err := getJSON[flowEntry](ctx, st, kindFlow, flowKey)
		if err != nil {
			return err
		}
		if oldVersion > 0 && old.Revision > f.Revision {
			return nil // a later revision was indexed already
		}
		next, err := file(ctx, st, trs, f.Revision, old.Revision != f.Revision, now)
		if err != nil {
			return err
		}
		// Take out what the earlier revision filed and this one does not.
		if err := unfile(ctx, st, old, next); err != nil {
			return err
		}
		err = putJSON(ctx, st, kindFlow, flowKey, next, time.Time{}, oldVersion)
		if !errors.Is(err, engine.ErrConflict) {
			return err
		}
		// Another Index of this flow won the race. If its revision is
		// later, take out what this one filed and it did not; else start
		// over from what it wrote.
		won, _, err := getJSON[flowEntry](ctx, st, kindFlow, flowKey)
		if err != nil {
			return err
		}
		if won.Revision > f.Revision {
			return unfile(ctx, st, next, won)
		}
	}
}

// file files the triggers of one revision and returns the flow's entry
// listing them. renewed: the revision is new, so stopped triggers start
// again.
func file(ctx context.Context, st Store, trs []*triggers.Trigger, revision int, renewed bool, now time.Time) (flowEntry, error) {
	next := flowEntry{Revision: revision}
	entry, _ := json.Marshal(indexEntry{Revision: revision})
	for _, t := range trs {
		if t.Disabled {
			continue
		}
		next.States = append(next.States, t.Key())
		for _, k := range t.IndexKeys() {
			if _, err := st.PutRecord(ctx, engine.Record{Kind: kindIndex + k, Key: t.Key(), Value: entry}, -1); err != nil {
				return next, fmt.Errorf("filing trigger %s: %w", t.Key(), err)
			}
			next.Keys = append(next.Keys, k)
			next.Triggers = append(next.Triggers, t.Key())
		}
		if t.Schedule != nil {
			if err := registerSchedule(ctx, st, t, now); err != nil {
				return next, err
			}
			next.Schedules = append(next.Schedules, t.Key())
		} else if renewed && len(t.StopAfter) > 0 {
			err := update(ctx, st, kindState, t.Key(), func(s *triggerState) (time.Time, bool) {
				stopped := s.Stopped
				s.Stopped = false
				return time.Time{}, stopped
			})
			if err != nil {
				return next, err
			}
		}
	}
	return next, nil
}

// unfile removes what entry old filed and entry next does not.
func unfile(ctx context.Context, st Store, old, next flowEntry) error {
	for i, k := range old.Keys {
		if !filed(next, k, old.Triggers[i]) {
			if err := st.DeleteRecord(ctx, kindIndex+k, old.Triggers[i], -1); err != nil {
				return fmt.Errorf("removing trigger %s from the index: %w", old.Triggers[i], err)
			}
		}
	}
	for _, s := range old.Schedules {
		if !slices.Contains(next.Schedules, s) {
			if err := st.DeleteRecord(ctx, KindSchedule, s, -1); err != nil {
				return fmt.Errorf("removing schedule %s: %w", s, err)
			}
		}
	}
	for _, s := range old.States {
		if !slices.Contains(next.States, s) {
			for _, kind := range []string{kindState, kindLast} {
				if err := st.DeleteRecord(ctx, kind, s, -1); err != nil {
					return fmt.Errorf("removing the state of trigger %s: %w", s, err)
				}
			}
		}
	}
	return nil
}

func filed(e flowEntry, key, trigger string) bool {
	for i, k := range e.Keys {
		if k == key && e.Triggers[i] == trigger {
			return true
		}
	}
	return false
}

// registerSchedule creates a schedule's record, due now so that the
// scheduler plans it at once, or moves an existing one to the revision
// (its cron may have changed: the next time is computed again).
func registerSchedule(ctx context.Context, st Store, t *triggers.Trigger, now time.Time) error {
	for {
		cur, version, err := getJSON[scheduleEntry](ctx, st, KindSchedule, t.Key())
		if err != nil {
			return err
		}
		due := now
		switch {
		case version == 0 && t.Schedule.Backfill == nil:
			// Times from the deployment on count, even those before the
			// scheduler's first look at it.
			cur.Cursor = now
			due = t.Schedule.NextAfter(now)
		case version > 0:
			if cur.Revision == t.Revision {
				return nil
			}
			if !cur.Cursor.IsZero() {
				due = t.Schedule.NextAfter(cur.Cursor)
			}
			cur.Stopped = false // a new revision starts a stopped schedule again
		}
		cur.Revision = t.Revision
		err = putJSON(ctx, st, KindSchedule, t.Key(), cur, due, version)
		if !errors.Is(err, engine.ErrConflict) {
			return err
		}
	}
}

// getJSON reads a record's JSON value; the zero value and version 0 when
// there is none.
func getJSON[T any](ctx context.Context, st engine.RecordStore, kind, key string) (T, int64, error) {
	var v T
	r, err := st.Record(ctx, kind, key)
	if errors.Is(err, engine.ErrNotFound) {
		return v, 0, nil
	}
	if err != nil {
		return v, 0, fmt.Errorf("reading %s record %s: %w", kind, key, err)
	}
	if err := json.Unmarshal(r.Value, &v); err != nil {
		return v, 0, fmt.Errorf("decoding %s record %s: %w", kind, key, err)
	}
	return v, r.Version, nil
}

// putJSON writes a record's JSON value if its version is still expected.
func putJSON(ctx context.Context, st engine.RecordStore, kind, key string, v any, due time.Time, expected int64) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %s record %s: %w", kind, key, err)
	}
	if _, err := st.PutRecord(ctx, engine.Record{Kind: kind, Key: key, Value: b, Due: due}, expected); err != nil {
		return fmt.Errorf("writing %s record %s: %w", kind, key, err)
	}
	return nil
}

// compiled caches the compiled triggers of flow revisions (revisions never
// change once stored).
type compiled struct {
	flows *engine.Flows
	mu    sync.Mutex
	m     map[*flow.Flow][]*triggers.Trigger
}

func newCompiled(st Store) *compiled {
	return &compiled{flows: engine.NewFlows(st), m: map[*flow.Flow][]*triggers.Trigger{}}
}

// trigger returns a trigger of a flow revision (0: the latest); nil when
// the revision has no trigger with that id.
func (c *compiled) trigger(ctx context.Context, ns, flowID string, rev int, id string) (*triggers.Trigger, error) {
	trs, err := c.revision(ctx, ns, flowID, rev)
	if err != nil {
		return nil, err
	}
	for _, t := range trs {
		if t.ID == id {
			return t, nil
		}
	}
	return nil, nil
}

func (c *compiled) revision(ctx context.Context, ns, flowID string, rev int) ([]*triggers.Trigger, error) {
	f, err := c.flows.Get(ctx, ns, flowID, rev)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if trs, ok := c.m[f]; ok {
		return trs, nil
	}
	trs, err := triggers.Compile(fmt.Sprintf("%s/%s@%d", ns, flowID, f.Revision), f)
	if err != nil {
		return nil, err
	}
	c.m[f] = trs
	return trs, nil
}
