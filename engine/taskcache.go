package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/expr"
)

// The task cache (Kestra's taskCache) keeps the outputs of successful
// attempts of tasks that enable it, as Records of kind KindTaskCache keyed
// by statemachine.CacheEntry.Key, in both stores. The executor looks an
// attempt up before sending it to a worker: a hit ends the attempt with
// the cached outputs, and no worker runs it. A worker fills the entry when
// an attempt succeeds. Entries are due (Record.Due) when their ttl ends:
// reads ignore them from then on, and the timer loop deletes them.

// KindTaskCache is the record kind of task-cache entries.
const KindTaskCache = "taskcache"

// maxCachedOutputs bounds the outputs a cache entry keeps (a record must
// fit in one DynamoDB item); larger outputs are not cached.
const maxCachedOutputs = 256 << 10

type cacheValue struct {
	Outputs     map[string]any `json:"outputs,omitempty"`
	ExecutionID string         `json:"executionId"`
	TaskRunID   string         `json:"taskRunId"`
	Created     time.Time      `json:"created"`
}

// cachedOutputs returns the live cache entry of an attempt, if any. A
// store error is logged and counts as a miss: the task then runs.
func (e *Engine) cachedOutputs(ctx context.Context, c statemachine.ScheduleTaskRun) (cacheValue, bool) {
	var v cacheValue
	rec, err := e.cfg.Store.Record(ctx, KindTaskCache, c.Cache.Key)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			e.log.Warn("reading the task cache", slog.String("execution", c.ExecutionID), slog.String("taskrun", c.TaskRunID), slog.Any("error", err))
		}
		return v, false
	}
	if !rec.Due.After(e.cfg.Now()) {
		return v, false // expired, not swept yet
	}
	dec := json.NewDecoder(bytes.NewReader(rec.Value))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		e.log.Warn("decoding a task cache entry", slog.String("key", c.Cache.Key), slog.Any("error", err))
		return v, false
	}
	v.Outputs, _ = expr.NormalizeJSON(v.Outputs).(map[string]any)
	return v, true
}

// fillCache keeps the outputs of a successful attempt for the entry's ttl.
func (e *Engine) fillCache(ctx context.Context, c statemachine.ScheduleTaskRun, outputs map[string]any) {
	now := e.cfg.Now()
	b, err := json.Marshal(cacheValue{Outputs: outputs, ExecutionID: c.ExecutionID, TaskRunID: c.TaskRunID, Created: now})
	if err != nil || len(b) > maxCachedOutputs {
		e.log.Info("outputs not cached: too large or not JSON", slog.String("execution", c.ExecutionID), slog.String("taskrun", c.TaskRunID), slog.Int("bytes", len(b)))
		return
	}
	if _, err := e.cfg.Store.PutRecord(ctx, Record{Kind: KindTaskCache, Key: c.Cache.Key, Value: b, Due: now.Add(c.Cache.TTL)}, -1); err != nil {
		e.log.Warn("filling the task cache", slog.String("execution", c.ExecutionID), slog.String("taskrun", c.TaskRunID), slog.Any("error", err))
	}
}

// reportCached ends an attempt with cached outputs instead of running it.
func (e *Engine) reportCached(ctx context.Context, c statemachine.ScheduleTaskRun, v cacheValue) error {
	return e.publish(ctx, TopicExecutions, c.ExecutionID, statemachine.Event{
		ID: fmt.Sprintf("%s/%s/%d/finished", c.ExecutionID, c.TaskRunID, c.Attempt), Type: statemachine.EvTaskRunFinished,
		ExecutionID: c.ExecutionID, TaskRunID: c.TaskRunID, Attempt: c.Attempt, State: statemachine.RunSuccess, Outputs: v.Outputs, CachedFrom: v.ExecutionID,
	})
}

// expiringKinds are the record kinds whose Due is an expiry.
var expiringKinds = []string{KindTaskCache, KindKV}

// sweepEvery is how often the timer loop deletes expired records.
const sweepEvery = 10 * time.Second

// sweepExpired deletes the records of expiringKinds whose time has come,
// at most every sweepEvery: each only if it was not put again meanwhile.
func (e *Engine) sweepExpired(ctx context.Context) error {
	now := e.cfg.Now()
	if last := e.swept.Load(); last != 0 && now.Sub(time.Unix(0, last)) < sweepEvery {
		return nil
	}
	e.swept.Store(now.UnixNano())
	for _, kind := range expiringKinds {
		due, err := e.cfg.Store.DueRecords(ctx, kind, now, 256)
		if err != nil {
			return fmt.Errorf("listing expired %s records: %w", kind, err)
		}
		for _, r := range due {
			if err := e.cfg.Store.DeleteRecord(ctx, kind, r.Key, r.Version); err != nil && !errors.Is(err, ErrConflict) {
				return fmt.Errorf("deleting expired record %s/%s: %w", kind, r.Key, err)
			}
		}
	}
	return nil
}
