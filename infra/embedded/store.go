// Package embedded holds the Store and Bus used when Relay runs in one
// process (`relay run`, `relay server`): a bbolt file for state and an
// in-memory bus. Both pass the conformance suites in engine/enginetest, so
// the engine behaves the same here as on DynamoDB and Kafka.
package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/statemachine"
)

// Bucket names. Keys are chosen so that bbolt's byte order is the order the
// Store methods return things in, which keeps every read a cursor scan.
var (
	// bucketMeta holds the schema version, checked on open.
	bucketMeta = []byte("meta")
	// bucketFlows: namespace NUL id NUL revision (10 digits) -> FlowRecord.
	bucketFlows = []byte("flows")
	// bucketExecutions: execution id -> Execution JSON without its task
	// runs (the execution's head: bounded by the flow's shape, not by how
	// many task runs it has).
	bucketExecutions = []byte("executions")
	// bucketRuns: one sub-bucket per execution id: position (8 bytes) ->
	// TaskRun JSON without its Items. A commit writes the runs it changed.
	bucketRuns = []byte("runs")
	// bucketItems: one sub-bucket per execution id: position (8 bytes) ->
	// the JSON array of a ForEach run's Items, written once.
	bucketItems = []byte("items")
	// bucketExecMeta: execution id -> version (8 bytes) + start time key
	// (12 bytes), so Commit checks the version without decoding the execution
	// and finds the index entry to move.
	bucketExecMeta = []byte("execmeta")
	// bucketExecByStart: start time key (12 bytes) + execution id -> namespace,
	// flow id and state, so Executions filters without decoding.
	bucketExecByStart = []byte("execbystart")
	// bucketLogs: one sub-bucket per execution id: seq (8 bytes) -> LogEntry.
	bucketLogs = []byte("logs")
	// bucketOutbox: sequence (8 bytes, from NextSequence) -> OutboxEntry.
	bucketOutbox = []byte("outbox")
	// bucketOutboxIDs: outbox entry id -> its key in bucketOutbox.
	bucketOutboxIDs = []byte("outboxids")
	// bucketTimers: fire time key (12 bytes) + timer id -> Timer.
	bucketTimers = []byte("timers")
	// bucketTimerIDs: timer id -> its key in bucketTimers.
	bucketTimerIDs = []byte("timerids")
)

var allBuckets = [][]byte{
	bucketMeta, bucketFlows, bucketExecutions, bucketRuns, bucketItems, bucketExecMeta, bucketExecByStart,
	bucketLogs, bucketOutbox, bucketOutboxIDs, bucketTimers, bucketTimerIDs, bucketClaims,
	bucketRecords, bucketRecordDue,
}

// schemaVersion is bumped when the layout above changes incompatibly, so an
// old binary refuses a newer file instead of misreading it; a newer binary
// migrates an older file when it opens it (migrate.go).
const schemaVersion = "2"

var keySchema = []byte("schema")

// lockTimeout bounds how long OpenStore waits for the file lock: bbolt
// otherwise blocks forever when another process has the file open.
const lockTimeout = 1 * time.Second

// Store is an engine.Store in a single bbolt file. Every method runs in one
// bbolt transaction, so Commit is atomic and durable (fsynced) when it
// returns, and readers see only committed state.
type Store struct {
	db *bbolt.DB

	written atomic.Int64 // bytes of the values commits put

	writes     chan *writeReq
	stopped    chan struct{}
	writerDone chan struct{}
	closeOnce  sync.Once
}

var _ engine.Store = (*Store)(nil)

// ErrLocked is returned by OpenStore when another process has the store
// open: one process at a time holds a data directory.
var ErrLocked = errors.New("the data directory is in use by another relay process")

// OpenStore opens (creating if needed) the store at path. The file is
// locked: a second process opening the same path gets an error after a
// second instead of waiting forever.
func OpenStore(path string) (*Store, error) {
	return openStore(path, lockTimeout)
}

func openStore(path string, timeout time.Duration) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open store: create data directory: %w", err)
	}
	// The free-page list is not written at every commit (it grows with the
	// file, and with it the cost of every commit); bbolt rebuilds it when
	// the file is opened. The hashmap list finds free pages in constant
	// time.
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: timeout, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("open store %s: %w (%w)", path, ErrLocked, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch v := meta.Get(keySchema); {
		case v == nil:
			return meta.Put(keySchema, []byte(schemaVersion))
		case string(v) == "1":
			return migrateV1(tx)
		case string(v) != schemaVersion:
			return fmt.Errorf("schema version %q, this relay reads %q", v, schemaVersion)
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &Store{db: db}
	s.startWriter()
	return s, nil
}

// Close releases the file and its lock.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.stopped) })
	<-s.writerDone
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// ---------------------------------------------------------------- flows

// flowPrefix is the key prefix of every revision of a flow. NUL separates
// the parts so that no namespace or id is a prefix of another's keys and
// flows sort by namespace, then id.
func flowPrefix(namespace, id string) []byte {
	k := make([]byte, 0, len(namespace)+len(id)+2+10)
	k = append(k, namespace...)
	k = append(k, 0)
	k = append(k, id...)
	return append(k, 0)
}

func flowKey(namespace, id string, revision int) []byte {
	return fmt.Appendf(flowPrefix(namespace, id), "%010d", revision)
}

func checkFlowName(namespace, id string) error {
	if namespace == "" || id == "" {
		return errors.New("namespace and id must not be empty")
	}
	if bytes.IndexByte([]byte(namespace), 0) >= 0 || bytes.IndexByte([]byte(id), 0) >= 0 {
		return errors.New("namespace and id must not contain NUL")
	}
	return nil
}

// latestFlow returns the key and value of a flow's latest revision, or nils.
func latestFlow(b *bbolt.Bucket, namespace, id string) (k, v []byte) {
	prefix := flowPrefix(namespace, id)
	// The byte after the final NUL of the prefix: Seek lands just past
	// the flow's revisions, and Prev steps back to the last one.
	end := append(bytes.Clone(prefix[:len(prefix)-1]), 1)
	c := b.Cursor()
	if k, _ = c.Seek(end); k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	if k == nil || !bytes.HasPrefix(k, prefix) {
		return nil, nil
	}
	return k, v
}

// SaveFlow stores source as the flow's next revision, unless it equals the
// latest revision's source.
func (s *Store) SaveFlow(ctx context.Context, namespace, id string, source []byte) (engine.FlowRecord, error) {
	if err := ctx.Err(); err != nil {
		return engine.FlowRecord{}, fmt.Errorf("save flow %s/%s: %w", namespace, id, err)
	}
	if err := checkFlowName(namespace, id); err != nil {
		return engine.FlowRecord{}, fmt.Errorf("save flow %q/%q: %w", namespace, id, err)
	}
	var rec engine.FlowRecord
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketFlows)
		rev := 1
		if _, v := latestFlow(b, namespace, id); v != nil {
			var latest engine.FlowRecord
			if err := json.Unmarshal(v, &latest); err != nil {
				return fmt.Errorf("decode latest revision: %w", err)
			}
			if bytes.Equal(latest.Source, source) {
				rec = latest
				return nil
			}
			rev = latest.Revision + 1
		}
		rec = engine.FlowRecord{
			Namespace: namespace,
			ID:        id,
			Revision:  rev,
			Source:    bytes.Clone(source),
			Created:   time.Now().UTC(),
		}
		v, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("encode revision %d: %w", rev, err)
		}
		return b.Put(flowKey(namespace, id, rev), v)
	})
	if err != nil {
		return engine.FlowRecord{}, fmt.Errorf("save flow %s/%s: %w", namespace, id, err)
	}
	return rec, nil
}

// Flow returns a revision of a flow, the latest when revision is 0.
func (s *Store) Flow(ctx context.Context, namespace, id string, revision int) (engine.FlowRecord, error) {
	if err := ctx.Err(); err != nil {
		return engine.FlowRecord{}, fmt.Errorf("read flow %s/%s: %w", namespace, id, err)
	}
	var rec engine.FlowRecord
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketFlows)
		var v []byte
		if revision == 0 {
			_, v = latestFlow(b, namespace, id)
		} else {
			v = b.Get(flowKey(namespace, id, revision))
		}
		if v == nil {
			return engine.ErrNotFound
		}
		return json.Unmarshal(v, &rec)
	})
	if err != nil {
		return engine.FlowRecord{}, fmt.Errorf("read flow %s/%s revision %d: %w", namespace, id, revision, err)
	}
	return rec, nil
}

// Flows returns the latest revision of every flow, by namespace and id.
func (s *Store) Flows(ctx context.Context) ([]engine.FlowRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list flows: %w", err)
	}
	var out []engine.FlowRecord
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketFlows).Cursor()
		// Revisions of a flow are adjacent and ascending: decode only the
		// last key of each run of keys sharing a prefix.
		var prevPrefix, prevValue []byte
		emit := func() error {
			if prevValue == nil {
				return nil
			}
			var rec engine.FlowRecord
			if err := json.Unmarshal(prevValue, &rec); err != nil {
				return fmt.Errorf("decode flow: %w", err)
			}
			out = append(out, rec)
			return nil
		}
		n := 0
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if n++; n%256 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			prefix := k[:bytes.LastIndexByte(k, 0)+1]
			if prevPrefix != nil && !bytes.Equal(prefix, prevPrefix) {
				if err := emit(); err != nil {
					return err
				}
			}
			prevPrefix, prevValue = prefix, v
		}
		return emit()
	})
	if err != nil {
		return nil, fmt.Errorf("list flows: %w", err)
	}
	return out, nil
}

// ----------------------------------------------------------- executions

// timeKeyLen is the length of a timeKey.
const timeKeyLen = 12

// timeKey maps a time to bytes whose order is the time order: Unix seconds
// with the sign bit flipped (so times before 1970, the zero time included,
// sort first), then nanoseconds. Unlike UnixNano it covers every time.
func timeKey(t time.Time) [timeKeyLen]byte {
	var k [timeKeyLen]byte
	binary.BigEndian.PutUint64(k[:8], uint64(t.Unix())^(1<<63))
	binary.BigEndian.PutUint32(k[8:], uint32(t.Nanosecond()))
	return k
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// execMeta is the value of bucketExecMeta.
type execMeta struct {
	version  int64
	startKey [timeKeyLen]byte
}

func (m execMeta) encode() []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 8+timeKeyLen), uint64(m.version))
	return append(b, m.startKey[:]...)
}

func decodeExecMeta(v []byte) (execMeta, error) {
	if len(v) != 8+timeKeyLen {
		return execMeta{}, fmt.Errorf("execution metadata of %d bytes, want %d", len(v), 8+timeKeyLen)
	}
	m := execMeta{version: int64(binary.BigEndian.Uint64(v))}
	copy(m.startKey[:], v[8:])
	return m, nil
}

func indexKey(startKey [timeKeyLen]byte, id string) []byte {
	return append(startKey[:], id...)
}

// indexValue holds the fields Executions filters on, each length-prefixed.
func indexValue(e *statemachine.Execution) []byte {
	var b []byte
	for _, s := range []string{e.Namespace, e.FlowID, string(e.State)} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

func decodeIndexValue(b []byte) (ns, flowID, state string, err error) {
	var parts [3]string
	for i := range parts {
		n, w := binary.Uvarint(b)
		if w <= 0 || uint64(len(b)-w) < n {
			return "", "", "", errors.New("corrupt execution index entry")
		}
		parts[i] = string(b[w : w+int(n)])
		b = b[w+int(n):]
	}
	return parts[0], parts[1], parts[2], nil
}

// Commit writes the execution's head, the task runs it changed, the items
// of ForEach runs that got them, the outbox entries and the timers in one
// bbolt transaction, if the stored version is c.Expected. What it writes
// does not grow with the execution: a run that did not change is not
// written again.
func (s *Store) Commit(ctx context.Context, c engine.Commit) error {
	if c.Execution == nil || c.Execution.ID == "" {
		return errors.New("commit: execution with an id required")
	}
	id := c.Execution.ID
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("commit execution %s: %w", id, err)
	}
	// Encode before the transaction: bbolt has one writer at a time, so
	// the less it does, the more commits per second.
	doc, err := encodeHead(c.Execution)
	if err != nil {
		return fmt.Errorf("commit execution %s: encode: %w", id, err)
	}
	runs := c.Changed
	items := c.Items
	if c.Expected == 0 { // a new execution: all of it
		runs, items = c.Execution.TaskRuns, nil
		for _, r := range runs {
			if r.Items != nil {
				items = append(items, r)
			}
		}
	}
	runKeys, runDocs, err := encodeRuns(c.Execution, runs)
	if err != nil {
		return fmt.Errorf("commit execution %s: %w", id, err)
	}
	itemKeys, itemDocs, err := encodeItems(c.Execution, items)
	if err != nil {
		return fmt.Errorf("commit execution %s: %w", id, err)
	}
	outbox := make([][]byte, len(c.Outbox))
	for i, o := range c.Outbox {
		if o.ID == "" {
			return fmt.Errorf("commit execution %s: outbox entry %d has no id", id, i)
		}
		if outbox[i], err = json.Marshal(o); err != nil {
			return fmt.Errorf("commit execution %s: encode outbox entry %s: %w", id, o.ID, err)
		}
	}
	timers := make([][]byte, len(c.Timers))
	for i, t := range c.Timers {
		if t.ID == "" {
			return fmt.Errorf("commit execution %s: timer %d has no id", id, i)
		}
		if timers[i], err = json.Marshal(t); err != nil {
			return fmt.Errorf("commit execution %s: encode timer %s: %w", id, t.ID, err)
		}
	}
	meta := execMeta{version: c.Execution.Version, startKey: timeKey(c.Execution.StartDate)}
	size := len(doc)
	for _, b := range slices.Concat(runDocs, itemDocs, outbox, timers) {
		size += len(b)
	}

	check := func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketExecMeta).Get([]byte(id))
		if v == nil {
			if c.Expected != 0 {
				return fmt.Errorf("expected version %d, none stored: %w", c.Expected, engine.ErrConflict)
			}
			return nil
		}
		old, err := decodeExecMeta(v)
		if err != nil {
			return err
		}
		if c.Expected == 0 {
			return fmt.Errorf("execution already exists: %w", engine.ErrConflict)
		}
		if old.version != c.Expected {
			return fmt.Errorf("expected version %d, stored %d: %w", c.Expected, old.version, engine.ErrConflict)
		}
		return nil
	}
	write := func(tx *bbolt.Tx) error {
		metas := tx.Bucket(bucketExecMeta)
		index := tx.Bucket(bucketExecByStart)
		if v := metas.Get([]byte(id)); v != nil {
			old, err := decodeExecMeta(v)
			if err != nil {
				return err
			}
			if old.startKey != meta.startKey {
				if err := index.Delete(indexKey(old.startKey, id)); err != nil {
					return fmt.Errorf("move index entry: %w", err)
				}
			}
		}
		if err := metas.Put([]byte(id), meta.encode()); err != nil {
			return err
		}
		if err := index.Put(indexKey(meta.startKey, id), indexValue(c.Execution)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketExecutions).Put([]byte(id), doc); err != nil {
			return err
		}
		if err := putEach(tx, bucketRuns, id, runKeys, runDocs); err != nil {
			return fmt.Errorf("write task runs: %w", err)
		}
		if err := putEach(tx, bucketItems, id, itemKeys, itemDocs); err != nil {
			return fmt.Errorf("write ForEach items: %w", err)
		}
		if err := putOutbox(tx, c.Outbox, outbox); err != nil {
			return err
		}
		return putTimers(tx, c.Timers, timers)
	}
	err = s.update(check, write)
	if err != nil {
		return fmt.Errorf("commit execution %s: %w", id, err)
	}
	s.written.Add(int64(size))
	return nil
}

// WriteCost is the number of bytes of the values commits have written
// (executions' heads, task runs, items, outbox entries, timers), to check
// that it does not grow with an execution.
func (s *Store) WriteCost() float64 { return float64(s.written.Load()) }

// encodeHead encodes an execution without its task runs.
func encodeHead(ex *statemachine.Execution) ([]byte, error) {
	head := *ex
	head.TaskRuns = nil
	return json.Marshal(&head)
}

// encodeRuns encodes task runs, without their Items, under their positions.
func encodeRuns(ex *statemachine.Execution, runs []*statemachine.TaskRun) (keys, docs [][]byte, err error) {
	for _, r := range runs {
		pos, ok := ex.Position(r.ID)
		if !ok {
			return nil, nil, fmt.Errorf("changed task run %s is not one of the execution's task runs", r.ID)
		}
		plain := *r
		plain.Items = nil
		doc, err := json.Marshal(&plain)
		if err != nil {
			return nil, nil, fmt.Errorf("encode task run %s: %w", r.ID, err)
		}
		keys, docs = append(keys, u64(uint64(pos))), append(docs, doc)
	}
	return keys, docs, nil
}

// encodeItems encodes the Items of ForEach runs under their positions.
func encodeItems(ex *statemachine.Execution, runs []*statemachine.TaskRun) (keys, docs [][]byte, err error) {
	for _, r := range runs {
		pos, ok := ex.Position(r.ID)
		if !ok {
			return nil, nil, fmt.Errorf("task run %s with new items is not one of the execution's task runs", r.ID)
		}
		doc, err := json.Marshal(r.Items)
		if err != nil {
			return nil, nil, fmt.Errorf("encode the items of %s: %w", r.ID, err)
		}
		keys, docs = append(keys, u64(uint64(pos))), append(docs, doc)
	}
	return keys, docs, nil
}

// putEach puts keys and values into the execution's sub-bucket of bucket.
func putEach(tx *bbolt.Tx, bucket []byte, executionID string, keys, values [][]byte) error {
	if len(keys) == 0 {
		return nil
	}
	b, err := tx.Bucket(bucket).CreateBucketIfNotExists([]byte(executionID))
	if err != nil {
		return err
	}
	for i, k := range keys {
		if err := b.Put(k, values[i]); err != nil {
			return err
		}
	}
	return nil
}

// putOutbox appends entries in order. An id already queued is replaced, at
// the end of the queue, so the id index never points at two entries.
func putOutbox(tx *bbolt.Tx, entries []engine.OutboxEntry, values [][]byte) error {
	b, ids := tx.Bucket(bucketOutbox), tx.Bucket(bucketOutboxIDs)
	for i, o := range entries {
		if old := ids.Get([]byte(o.ID)); old != nil {
			if err := b.Delete(old); err != nil {
				return fmt.Errorf("replace outbox entry %s: %w", o.ID, err)
			}
		}
		seq, err := b.NextSequence()
		if err != nil {
			return fmt.Errorf("outbox sequence: %w", err)
		}
		k := u64(seq)
		if err := b.Put(k, values[i]); err != nil {
			return fmt.Errorf("put outbox entry %s: %w", o.ID, err)
		}
		if err := ids.Put([]byte(o.ID), k); err != nil {
			return fmt.Errorf("index outbox entry %s: %w", o.ID, err)
		}
	}
	return nil
}

// putTimers adds timers, replacing any with the same id.
func putTimers(tx *bbolt.Tx, timers []engine.Timer, values [][]byte) error {
	b, ids := tx.Bucket(bucketTimers), tx.Bucket(bucketTimerIDs)
	for i, t := range timers {
		if old := ids.Get([]byte(t.ID)); old != nil {
			if err := b.Delete(old); err != nil {
				return fmt.Errorf("replace timer %s: %w", t.ID, err)
			}
		}
		fire := timeKey(t.FireAt)
		k := append(fire[:], t.ID...)
		if err := b.Put(k, values[i]); err != nil {
			return fmt.Errorf("put timer %s: %w", t.ID, err)
		}
		if err := ids.Put([]byte(t.ID), k); err != nil {
			return fmt.Errorf("index timer %s: %w", t.ID, err)
		}
	}
	return nil
}

// Execution returns a freshly decoded copy of the execution with all its
// task runs, so callers may change it (and its unexported caches) without
// touching anyone else's.
func (s *Store) Execution(ctx context.Context, id string) (*statemachine.Execution, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read execution %s: %w", id, err)
	}
	var e *statemachine.Execution
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		if e, err = readHead(tx, id); err != nil {
			return err
		}
		runs := tx.Bucket(bucketRuns).Bucket([]byte(id))
		if runs == nil {
			return nil
		}
		e.TaskRuns = make([]*statemachine.TaskRun, 0, runs.Stats().KeyN)
		c := runs.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			r, err := decodeRun(k, v)
			if err != nil {
				return err
			}
			e.TaskRuns = append(e.TaskRuns, r)
		}
		items := tx.Bucket(bucketItems).Bucket([]byte(id))
		if items == nil {
			return nil
		}
		return items.ForEach(func(k, v []byte) error {
			pos := binary.BigEndian.Uint64(k)
			if pos >= uint64(len(e.TaskRuns)) {
				return fmt.Errorf("items of task run %d, which is missing", pos)
			}
			return decodeItems(e.TaskRuns[pos], v)
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read execution %s: %w", id, err)
	}
	return e, nil
}

// ExecutionHead returns the execution without its task runs.
func (s *Store) ExecutionHead(ctx context.Context, id string) (*statemachine.Execution, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read execution %s: %w", id, err)
	}
	var e *statemachine.Execution
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		e, err = readHead(tx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read execution %s: %w", id, err)
	}
	return e, nil
}

// TaskRuns returns up to limit task runs from position from on, in
// creation order, with their items.
func (s *Store) TaskRuns(ctx context.Context, executionID string, from, limit int) ([]*statemachine.TaskRun, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read task runs of %s: %w", executionID, err)
	}
	var out []*statemachine.TaskRun
	err := s.db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketExecutions).Get([]byte(executionID)) == nil {
			return engine.ErrNotFound
		}
		runs := tx.Bucket(bucketRuns).Bucket([]byte(executionID))
		if runs == nil {
			return nil
		}
		items := tx.Bucket(bucketItems).Bucket([]byte(executionID))
		c := runs.Cursor()
		for k, v := c.Seek(u64(uint64(max(from, 0)))); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
			r, err := decodeRun(k, v)
			if err != nil {
				return err
			}
			if items != nil {
				if iv := items.Get(k); iv != nil {
					if err := decodeItems(r, iv); err != nil {
						return err
					}
				}
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read task runs of %s: %w", executionID, err)
	}
	return out, nil
}

// ExecutionRun returns the execution's head and its task run at position.
func (s *Store) ExecutionRun(ctx context.Context, executionID string, position int) (*statemachine.Execution, *statemachine.TaskRun, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("read execution %s: %w", executionID, err)
	}
	var (
		e *statemachine.Execution
		r *statemachine.TaskRun
	)
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		if e, err = readHead(tx, executionID); err != nil {
			return err
		}
		k := u64(uint64(position))
		var v []byte
		if runs := tx.Bucket(bucketRuns).Bucket([]byte(executionID)); runs != nil && position >= 0 {
			v = runs.Get(k)
		}
		if v == nil {
			return fmt.Errorf("task run %d: %w", position, engine.ErrNotFound)
		}
		r, err = decodeRun(k, v)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read execution %s: %w", executionID, err)
	}
	return e, r, nil
}

func readHead(tx *bbolt.Tx, id string) (*statemachine.Execution, error) {
	v := tx.Bucket(bucketExecutions).Get([]byte(id))
	if v == nil {
		return nil, engine.ErrNotFound
	}
	e := new(statemachine.Execution)
	if err := json.Unmarshal(v, e); err != nil {
		return nil, err
	}
	return e, nil
}

func decodeRun(k, v []byte) (*statemachine.TaskRun, error) {
	r := new(statemachine.TaskRun)
	if err := json.Unmarshal(v, r); err != nil {
		return nil, fmt.Errorf("decode task run %d: %w", binary.BigEndian.Uint64(k), err)
	}
	return r, nil
}

func decodeItems(r *statemachine.TaskRun, v []byte) error {
	items, err := statemachine.DecodeItems(v)
	if err != nil {
		return fmt.Errorf("decode the items of %s: %w", r.ID, err)
	}
	r.Items = items
	return nil
}

// Executions walks the start-time index from the newest entry, filtering on
// the fields kept in the index, and decodes only the executions returned.
func (s *Store) Executions(ctx context.Context, f engine.ExecutionFilter) ([]*statemachine.Execution, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list executions: %w", err)
	}
	var out []*statemachine.Execution
	err := s.db.View(func(tx *bbolt.Tx) error {
		docs := tx.Bucket(bucketExecutions)
		c := tx.Bucket(bucketExecByStart).Cursor()
		n := 0
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			if f.Limit > 0 && len(out) >= f.Limit {
				return nil
			}
			if n++; n%256 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			ns, flowID, state, err := decodeIndexValue(v)
			if err != nil {
				return err
			}
			if (f.Namespace != "" && ns != f.Namespace) ||
				(f.FlowID != "" && flowID != f.FlowID) ||
				(f.State != "" && state != string(f.State)) {
				continue
			}
			id := k[timeKeyLen:]
			doc := docs.Get(id)
			if doc == nil {
				return fmt.Errorf("index names execution %s, which is missing", id)
			}
			e := new(statemachine.Execution)
			if err := json.Unmarshal(doc, e); err != nil {
				return fmt.Errorf("decode execution %s: %w", id, err)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list executions: %w", err)
	}
	return out, nil
}

// ----------------------------------------------------------------- logs

// AppendLogs stores the lines, each execution's in a sub-bucket whose
// sequence numbers them. The assigned Seq is also written back into
// entries, so the caller can tell followers where it is.
func (s *Store) AppendLogs(ctx context.Context, entries []engine.LogEntry) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("append logs: %w", err)
	}
	for i := range entries {
		if entries[i].ExecutionID == "" {
			return fmt.Errorf("append logs: line %d has no execution id", i)
		}
	}
	err := s.update(nil, func(tx *bbolt.Tx) error {
		logs := tx.Bucket(bucketLogs)
		var (
			b      *bbolt.Bucket
			bucket string
		)
		for i := range entries {
			e := &entries[i]
			if b == nil || bucket != e.ExecutionID {
				var err error
				if b, err = logs.CreateBucketIfNotExists([]byte(e.ExecutionID)); err != nil {
					return fmt.Errorf("log bucket of %s: %w", e.ExecutionID, err)
				}
				bucket = e.ExecutionID
			}
			seq, err := b.NextSequence()
			if err != nil {
				return fmt.Errorf("log sequence of %s: %w", e.ExecutionID, err)
			}
			e.Seq = int64(seq)
			v, err := json.Marshal(e)
			if err != nil {
				return fmt.Errorf("encode log line: %w", err)
			}
			if err := b.Put(u64(seq), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("append logs: %w", err)
	}
	return nil
}

// Logs returns an execution's lines with Seq > after, at most limit (0:
// all); none (and no error) for an execution without lines.
func (s *Store) Logs(ctx context.Context, executionID string, after int64, limit int) ([]engine.LogEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read logs of %s: %w", executionID, err)
	}
	var out []engine.LogEntry
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketLogs).Bucket([]byte(executionID))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		n := 0
		for k, v := c.Seek(u64(uint64(max(after, 0)) + 1)); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
			if n++; n%256 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			var e engine.LogEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode log line %d: %w", binary.BigEndian.Uint64(k), err)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read logs of %s: %w", executionID, err)
	}
	return out, nil
}

// --------------------------------------------------------------- outbox

// Outbox returns up to limit entries (all when limit <= 0) in commit order.
func (s *Store) Outbox(ctx context.Context, limit int) ([]engine.OutboxEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	var out []engine.OutboxEntry
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketOutbox).Cursor()
		for k, v := c.First(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
			var o engine.OutboxEntry
			if err := json.Unmarshal(v, &o); err != nil {
				return fmt.Errorf("decode outbox entry %d: %w", binary.BigEndian.Uint64(k), err)
			}
			out = append(out, o)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	return out, nil
}

// Requeue puts commands back in the outbox, to be carried out at the next
// start (engine.Requeuer): the in-process bus keeps nothing when the
// process stops, so the engine hands back the attempts it was running.
func (s *Store) Requeue(ctx context.Context, entries []engine.OutboxEntry) error {
	values := make([][]byte, len(entries))
	for i, o := range entries {
		v, err := json.Marshal(o)
		if err != nil {
			return fmt.Errorf("requeue: encode outbox entry %s: %w", o.ID, err)
		}
		values[i] = v
	}
	if err := s.update(nil, func(tx *bbolt.Tx) error { return putOutbox(tx, entries, values) }); err != nil {
		return fmt.Errorf("requeue: %w", err)
	}
	return nil
}

// AckOutbox removes entries; unknown ids are ignored, so acknowledging
// twice (after a redelivery) is harmless.
func (s *Store) AckOutbox(ctx context.Context, ids ...string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ack outbox: %w", err)
	}
	err := s.update(nil, func(tx *bbolt.Tx) error {
		b, index := tx.Bucket(bucketOutbox), tx.Bucket(bucketOutboxIDs)
		for _, id := range ids {
			k := index.Get([]byte(id))
			if k == nil {
				continue
			}
			if err := b.Delete(k); err != nil {
				return fmt.Errorf("delete %s: %w", id, err)
			}
			if err := index.Delete([]byte(id)); err != nil {
				return fmt.Errorf("unindex %s: %w", id, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ack outbox: %w", err)
	}
	return nil
}

// --------------------------------------------------------------- timers

// DueTimers returns up to limit timers (all when limit <= 0) with
// FireAt <= now, earliest first.
func (s *Store) DueTimers(ctx context.Context, now time.Time, limit int) ([]engine.Timer, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read due timers: %w", err)
	}
	nowKey := timeKey(now)
	var out []engine.Timer
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketTimers).Cursor()
		for k, v := c.First(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
			if bytes.Compare(k[:timeKeyLen], nowKey[:]) > 0 {
				break
			}
			var t engine.Timer
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("decode timer %s: %w", k[timeKeyLen:], err)
			}
			out = append(out, t)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read due timers: %w", err)
	}
	return out, nil
}

// DeleteTimer removes a timer. Deleting is idempotent (an unknown id is not
// an error), so a timer loop that stopped after firing can delete again.
func (s *Store) DeleteTimer(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete timer %s: %w", id, err)
	}
	err := s.update(nil, func(tx *bbolt.Tx) error {
		b, index := tx.Bucket(bucketTimers), tx.Bucket(bucketTimerIDs)
		k := index.Get([]byte(id))
		if k == nil {
			return nil
		}
		if err := b.Delete(k); err != nil {
			return err
		}
		return index.Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("delete timer %s: %w", id, err)
	}
	return nil
}

// String names the store's file, for logs.
func (s *Store) String() string { return "bbolt:" + s.db.Path() }
