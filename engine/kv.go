package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/relayflow/relay/statemachine/expr"
	"github.com/relayflow/relay/tasks"
)

// KindKV is the record kind of the KV store (Kestra's): one record per
// namespace and key, keyed "<namespace>/<key>" (neither holds a '/'), its
// value a tasks.KVEntry in JSON, Due its expiry when it has one (the timer
// loop deletes expired entries; reads ignore them before that).
const KindKV = "kv"

// RecordKV is the KV store on a RecordStore (tasks.KV).
type RecordKV struct {
	Store RecordStore
	Now   func() time.Time
}

var _ tasks.KV = RecordKV{}

func kvRecordKey(namespace, key string) (string, error) {
	if namespace == "" || strings.Contains(namespace, "/") {
		return "", fmt.Errorf("bad namespace %q", namespace)
	}
	if err := tasks.CheckKVKey(key); err != nil {
		return "", err
	}
	return namespace + "/" + key, nil
}

// entry decodes a record; expired says it is past its expiry.
func (kv RecordKV) entry(r Record) (e tasks.KVEntry, expired bool, err error) {
	dec := json.NewDecoder(bytes.NewReader(r.Value))
	dec.UseNumber()
	if err := dec.Decode(&e); err != nil {
		return e, false, fmt.Errorf("decoding KV entry %s: %w", r.Key, err)
	}
	e.Value = expr.NormalizeJSON(e.Value)
	return e, !e.Expires.IsZero() && !e.Expires.After(kv.Now()), nil
}

// GetKV implements tasks.KV.
func (kv RecordKV) GetKV(ctx context.Context, namespace, key string) (tasks.KVEntry, bool, error) {
	k, err := kvRecordKey(namespace, key)
	if err != nil {
		return tasks.KVEntry{}, false, err
	}
	r, err := kv.Store.Record(ctx, KindKV, k)
	if errors.Is(err, ErrNotFound) {
		return tasks.KVEntry{}, false, nil
	}
	if err != nil {
		return tasks.KVEntry{}, false, err
	}
	e, expired, err := kv.entry(r)
	if err != nil || expired {
		return tasks.KVEntry{}, false, err
	}
	return e, true, nil
}

// PutKV implements tasks.KV.
func (kv RecordKV) PutKV(ctx context.Context, namespace, key string, e tasks.KVEntry, overwrite bool) error {
	k, err := kvRecordKey(namespace, key)
	if err != nil {
		return err
	}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encoding KV entry: %w", err)
	}
	rec := Record{Kind: KindKV, Key: k, Value: b, Due: e.Expires}
	if overwrite {
		_, err := kv.Store.PutRecord(ctx, rec, -1)
		return err
	}
	_, err = kv.Store.PutRecord(ctx, rec, 0)
	if !errors.Is(err, ErrConflict) {
		return err
	}
	// An expired entry does not count: replace it, if it is still the same.
	old, err := kv.Store.Record(ctx, KindKV, k)
	if err != nil {
		return err
	}
	if _, expired, err := kv.entry(old); err == nil && !expired {
		return tasks.ErrKVExists
	}
	_, err = kv.Store.PutRecord(ctx, rec, old.Version)
	if errors.Is(err, ErrConflict) {
		return tasks.ErrKVExists
	}
	return err
}

// DeleteKV implements tasks.KV.
func (kv RecordKV) DeleteKV(ctx context.Context, namespace, key string) (bool, error) {
	_, found, err := kv.GetKV(ctx, namespace, key)
	if err != nil {
		return false, err
	}
	k, _ := kvRecordKey(namespace, key)
	if err := kv.Store.DeleteRecord(ctx, KindKV, k, -1); err != nil {
		return false, err
	}
	return found, nil
}

// KVKeys implements tasks.KV.
func (kv RecordKV) KVKeys(ctx context.Context, namespace, prefix string) ([]string, error) {
	if namespace == "" || strings.Contains(namespace, "/") {
		return nil, fmt.Errorf("bad namespace %q", namespace)
	}
	recs, err := kv.Store.Records(ctx, KindKV, namespace+"/"+prefix)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(recs))
	for _, r := range recs {
		if _, expired, err := kv.entry(r); err != nil || expired {
			continue
		}
		keys = append(keys, strings.TrimPrefix(r.Key, namespace+"/"))
	}
	return keys, nil
}

// exprKV reads the KV store for kv() in expressions.
func (kv RecordKV) exprKV(ctx context.Context) func(namespace, key string) (any, bool, error) {
	return func(namespace, key string) (any, bool, error) {
		e, found, err := kv.GetKV(ctx, namespace, key)
		if err != nil || !found {
			return nil, found, err
		}
		return e.ExprValue(), true, nil
	}
}

// storeLogs reads the store's logs for log.fetch (tasks.LogReader).
type storeLogs struct{ st Store }

// ExecutionLogs implements tasks.LogReader.
func (l storeLogs) ExecutionLogs(ctx context.Context, namespace, flowID, executionID string) ([]tasks.LogLine, error) {
	ex, err := l.st.ExecutionHead(ctx, executionID)
	if errors.Is(err, ErrNotFound) || err == nil && (ex.Namespace != namespace || ex.FlowID != flowID) {
		return nil, fmt.Errorf("flow %s.%s has no execution %s", namespace, flowID, executionID)
	}
	if err != nil {
		return nil, err
	}
	entries, err := l.st.Logs(ctx, executionID, 0, 0)
	if err != nil {
		return nil, err
	}
	out := make([]tasks.LogLine, len(entries))
	for i, e := range entries {
		out[i] = tasks.LogLine{Time: e.Time, Level: e.Level, TaskID: e.TaskID, TaskRunID: e.TaskRunID, Attempt: e.Attempt, Message: e.Message}
	}
	return out, nil
}
