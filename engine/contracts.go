// Package engine carries out what the state machine decides: it applies
// events to executions, saves them before anything else happens, and runs
// the resulting commands (task attempts on workers, timers, subflows,
// events). The same engine runs embedded in one process (`relay run`,
// `relay server`) and, through other Store and Bus implementations, on
// DynamoDB and Kafka.
//
// Store and Bus are the two contracts every deployment implements; the
// conformance suites in engine/enginetest check an implementation against
// the contracts written here.
package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/relayflow/relay/statemachine"
)

// Errors every Store returns for the same conditions; callers test them
// with errors.Is.
var (
	// ErrNotFound: no flow, revision or execution with that key.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a conditional write lost, the stored version was not
	// the one expected (or the execution already exists). The caller
	// reloads, re-applies its event and tries again.
	ErrConflict = errors.New("conflict: the stored version changed")
	// ErrBusClosed: the bus was closed (see Bus).
	ErrBusClosed = errors.New("bus closed")
)

// FlowRecord is one stored revision of a flow.
type FlowRecord struct {
	Namespace string    `json:"namespace"`
	ID        string    `json:"id"`
	Revision  int       `json:"revision"`
	Source    []byte    `json:"source"`
	Created   time.Time `json:"created"`
}

// Commit is one state transition to make durable: the execution after an
// event, the task runs it changed, and the commands it produced (the
// outbox). A store writes all of it or none of it.
type Commit struct {
	Execution *statemachine.Execution
	// Expected is the version the execution had when it was read; 0 for
	// a new execution. Execution.Version is the version being written.
	Expected int64
	// Changed lists the task runs that differ from the stored ones: a
	// store writes only these (all of them for a new execution).
	Changed []*statemachine.TaskRun
	// Items lists the ForEach runs whose Items are new in this commit
	// (statemachine.Result.NewItems): a store writes a run's items once,
	// apart from the run, which changes with every iteration.
	Items []*statemachine.TaskRun
	// Outbox holds the commands to carry out once the commit is durable.
	Outbox []OutboxEntry
	// Timers are durable timers to add (StartTimer commands).
	Timers []Timer
	// Replayable says that the event behind the commit is delivered again
	// until its commands are carried out (the engine acknowledges a bus
	// delivery only then). A store that implements OutboxKeeper may then
	// keep the outbox in the execution rather than as entries to
	// acknowledge one by one.
	Replayable bool
}

// OutboxKeeper is a Store that may keep the outbox of a Replayable commit
// in the execution itself: one write per transition instead of one more
// per command (to acknowledge it). Such entries are never returned by
// Outbox: if the process stops before carrying them out, the event behind
// the commit is delivered again, is recognised as the execution's last
// applied event, and the engine carries out LastOutbox.
//
// Contract, beyond Store's:
//   - Commit sets Kept on the Commit.Outbox entries it kept in the
//     execution (they need no AckOutbox) and leaves the others to the
//     outbox.
//   - LastOutbox returns the kept entries of the execution's last commit
//     (none when that commit kept none), or ErrNotFound.
type OutboxKeeper interface {
	LastOutbox(ctx context.Context, executionID string) ([]OutboxEntry, error)
}

// OutboxEntry is a command waiting to be carried out. IDs are
// deterministic (execution, version, index), so carrying one out twice is
// recognised downstream.
type OutboxEntry struct {
	ID          string    `json:"id"`
	ExecutionID string    `json:"executionId"`
	Kind        string    `json:"kind"` // see CommandKind
	Payload     []byte    `json:"payload"`
	Created     time.Time `json:"created"`
	// Kept is set by an OutboxKeeper's Commit on the entries it kept in the
	// execution.
	Kept bool `json:"-"`
	// command is the command the entry was encoded from, when this process
	// did: carrying it out then decodes nothing.
	command statemachine.Command
}

// Timer is a durable timer: at FireAt, a timer.fired event is published
// for the execution.
type Timer struct {
	ID          string                 `json:"id"`
	ExecutionID string                 `json:"executionId"`
	TaskRunID   string                 `json:"taskRunId,omitempty"`
	Attempt     int                    `json:"attempt,omitempty"`
	Kind        statemachine.TimerKind `json:"kind"`
	FireAt      time.Time              `json:"fireAt"`
}

// LogEntry is one line of an execution's log.
type LogEntry struct {
	ExecutionID string    `json:"executionId"`
	TaskRunID   string    `json:"taskRunId,omitempty"`
	TaskID      string    `json:"taskId,omitempty"`
	Attempt     int       `json:"attempt,omitempty"`
	Time        time.Time `json:"time"`
	Level       string    `json:"level"`
	Message     string    `json:"message"`
	// Seq orders the lines of one execution; the store assigns it.
	Seq int64 `json:"seq"`
}

// ExecutionFilter selects executions; empty fields match everything.
type ExecutionFilter struct {
	Namespace string
	FlowID    string
	State     statemachine.ExecState
	Limit     int // 0: no limit
}

// Store keeps flows, executions, logs, timers and the outbox.
//
// Contract:
//   - Commit is atomic and conditional: it succeeds only if the stored
//     execution's version equals Commit.Expected (no stored execution for
//     Expected 0), and then the execution, its changed task runs, the
//     outbox entries and the timers are all durable before it returns. A
//     lost race returns an error wrapping ErrConflict and writes nothing.
//   - Reads return what the last successful Commit wrote; the returned
//     execution is the caller's to change (a copy, never shared).
//   - What a Commit writes does not grow with the execution: its head
//     (the execution without its task runs), the runs in Changed and the
//     items of the runs in Items, the outbox entries and the timers. Task
//     runs are kept by position (their index in Execution.TaskRuns, which
//     only ever grows at the end).
//   - SaveFlow assigns revisions 1, 2, 3... per flow; saving a source equal
//     to the latest revision's returns that revision and stores nothing.
//   - Outbox returns entries in commit order until AckOutbox removes them;
//     entries survive a crash, so a restarted engine carries them out.
//   - DueTimers returns timers with FireAt <= now, earliest first, until
//     DeleteTimer removes them. Adding a timer with an existing id
//     replaces it.
//   - Lease is atomic: of concurrent requests for a free lease exactly one
//     is granted.
//   - All methods are safe for concurrent use and honour ctx cancellation.
type Store interface {
	SaveFlow(ctx context.Context, namespace, id string, source []byte) (FlowRecord, error)
	// Flow returns a revision (0: the latest) or ErrNotFound.
	Flow(ctx context.Context, namespace, id string, revision int) (FlowRecord, error)
	// Flows returns the latest revision of every flow, by namespace and id.
	Flows(ctx context.Context) ([]FlowRecord, error)

	Commit(ctx context.Context, c Commit) error
	// Execution returns an execution with all its task runs (and their
	// items), or ErrNotFound. Its cost grows with the execution: the
	// executor reads one only when it has not got it in memory; readers of
	// parts use ExecutionHead, TaskRuns and ExecutionRun.
	Execution(ctx context.Context, id string) (*statemachine.Execution, error)
	// ExecutionHead returns an execution without its task runs (TaskRuns
	// nil; RunCounts says how many there are in each state), or
	// ErrNotFound.
	ExecutionHead(ctx context.Context, id string) (*statemachine.Execution, error)
	// TaskRuns returns the task runs of an execution from position from
	// on, in creation order, at most limit of them (0: all), with their
	// items; an execution with no runs there gives none, a missing one
	// ErrNotFound.
	TaskRuns(ctx context.Context, executionID string, from, limit int) ([]*statemachine.TaskRun, error)
	// ExecutionRun returns an execution's head (as ExecutionHead) and its
	// task run at position, without its items; ErrNotFound when either is
	// missing. A worker checks an attempt with it.
	ExecutionRun(ctx context.Context, executionID string, position int) (*statemachine.Execution, *statemachine.TaskRun, error)
	// Executions returns matching executions, newest first. Their TaskRuns
	// may be left out (DynamoDB keeps them in items of their own): read one
	// execution with Execution for its task runs.
	Executions(ctx context.Context, f ExecutionFilter) ([]*statemachine.Execution, error)

	// AppendLogs stores log lines and assigns their Seq.
	AppendLogs(ctx context.Context, entries []LogEntry) error
	// Logs returns an execution's lines with Seq > after, in order, at
	// most limit of them (0: all).
	Logs(ctx context.Context, executionID string, after int64, limit int) ([]LogEntry, error)

	Outbox(ctx context.Context, limit int) ([]OutboxEntry, error)
	AckOutbox(ctx context.Context, ids ...string) error

	DueTimers(ctx context.Context, now time.Time, limit int) ([]Timer, error)
	DeleteTimer(ctx context.Context, id string) error

	// Lease grants holder the lease on key until `until` when no one holds
	// it, when holder does (a renewal), or when another holder's lease
	// ended before now; otherwise it grants nothing. Either way it reports
	// the lease as it was. Workers lease each attempt before running it
	// and renew the lease while it runs, so an attempt delivered twice (a
	// batch retried, a command carried out again) runs once, and one whose
	// worker died is reported CRASHED by the worker that finds its lease
	// lapsed. Leases are
	// forgotten LeaseRetention after they end.
	Lease(ctx context.Context, key, holder string, until time.Time) (LeaseResult, error)

	RecordStore

	Close() error
}

// Record is a small versioned document of the trigger runtime: a
// trigger's state (a schedule's cursor, a precondition's window), an entry
// of the trigger index, the concurrency slots of a flow. Records of one
// Kind are kept together and listed together; a Kind is a short name
// without NUL bytes, a Key any non-empty string without NUL bytes.
type Record struct {
	Kind  string `json:"kind"`
	Key   string `json:"key"`
	Value []byte `json:"value,omitempty"`
	// Version is the record's version: 1 when created, one more on every
	// PutRecord. PutRecord sets it.
	Version int64 `json:"version"`
	// Due, when not zero, lists the record in DueRecords from that time.
	Due time.Time `json:"due,omitzero"`
}

// RecordStore keeps Records, with the same conditional writes as
// executions.
//
// Contract:
//   - PutRecord writes r only if the stored record's version is expected
//     (0: there is no record of that kind and key), sets r.Version to
//     expected+1 and returns it; otherwise it writes nothing and returns an
//     error wrapping ErrConflict. Expected -1 writes whatever is stored.
//   - Record returns the stored record or ErrNotFound; Records returns the
//     records of a kind whose keys start with prefix, ordered by key.
//   - DeleteRecord removes a record only if its version is expected (-1:
//     whatever it is), else ErrConflict; deleting a missing record with
//     expected -1 or 0 is not an error.
//   - DueRecords returns the records of a kind with a Due at or before
//     now, earliest first (then by key), at most limit of them; a record
//     put again with another Due (or none) moves (or leaves the list).
type RecordStore interface {
	Record(ctx context.Context, kind, key string) (Record, error)
	Records(ctx context.Context, kind, prefix string) ([]Record, error)
	PutRecord(ctx context.Context, r Record, expected int64) (int64, error)
	DeleteRecord(ctx context.Context, kind, key string, expected int64) error
	DueRecords(ctx context.Context, kind string, now time.Time, limit int) ([]Record, error)
}

// LeaseResult is what Store.Lease found and did.
type LeaseResult struct {
	// Granted: the caller now holds the lease.
	Granted bool
	// Holder and Until describe the lease before the call: "" and the
	// zero time when there was none.
	Holder string
	Until  time.Time
}

// LeaseRetention is how long a store remembers a lease after it ended:
// longer than any redelivery (Kafka keeps records 7 days by default), so
// that a very late duplicate still finds it.
const LeaseRetention = 7 * 24 * time.Hour

// Topics, named as on Kafka.
const (
	// TopicExecutions carries the state machine's input events, keyed by
	// execution id so one execution's events stay in order.
	TopicExecutions = "relay.executions"
	// TopicTaskRuns carries scheduled attempts, keyed by task run id.
	TopicTaskRuns = "relay.taskruns"
	// TopicEvents carries execution.finished events and external
	// CloudEvents, which triggers match.
	TopicEvents = "relay.events"
	// TopicDLQ receives records that cannot be decoded or keep failing.
	TopicDLQ = "relay.dlq"
)

// Handler processes one event. Returning an error asks for redelivery.
type Handler func(ctx context.Context, ev cloudevents.Event) error

// BatchHandler processes events of one key, in order, at once. Returning
// an error asks for the redelivery of all of them.
type BatchHandler func(ctx context.Context, evs []cloudevents.Event) error

// BatchSubscriber is a Bus that can deliver the events of a key that are
// waiting together: the executor applies an execution's events at once,
// and commits them in one write.
//
// Contract, beyond Subscribe's: a batch holds events of one key, in order,
// at most max of them; a failed batch is delivered again, and after
// MaxAttempts failures its events are delivered one at a time (each as a
// batch of one), so that only the event that keeps failing goes to
// TopicDLQ.
type BatchSubscriber interface {
	SubscribeBatch(ctx context.Context, topic, group string, max int, h BatchHandler) error
}

// Bus carries CloudEvents between the engine's parts.
//
// Contract:
//   - Publish returns once the event is accepted (durable, for a durable
//     bus). Events published with the same key to the same topic are
//     delivered in publish order.
//   - Subscribe delivers every event of the topic published after the
//     subscription (or, for a durable bus, since the group's last committed
//     position) to exactly one subscriber of each group, until ctx ends;
//     it blocks while consuming and returns ctx's error at the end.
//   - Delivery is at least once: when a handler returns an error the event
//     is delivered again (after a short backoff), and events after it with
//     the same key wait. After MaxAttempts failures the event goes to
//     TopicDLQ with the error in the extension `relayerror`, and
//     consumption goes on: a poison event never stalls a key.
//   - Handlers for different keys may run concurrently; handlers for one
//     key never do.
//   - Close stops delivery and releases resources; Publish and Subscribe
//     after Close, and subscriptions in progress, return an error that
//     wraps ErrBusClosed.
type Bus interface {
	Publish(ctx context.Context, topic, key string, ev cloudevents.Event) error
	Subscribe(ctx context.Context, topic, group string, h Handler) error
	Close() error
}

// Blobs keeps values too large for a store item or a bus message: task
// outputs, rendered properties, execution inputs and outputs above a
// threshold (DefaultBlobThreshold unless configured). The engine puts the
// data of large events in it (see ExtensionDataRef), and a store with item
// limits (infra/dynamo) the large values of its items; both read them back
// before anything else sees them, so expressions read the real values.
// infra/blob has the implementations: S3, and a local folder.
//
// Contract:
//   - Put stores data under key, a relative slash-separated path (see
//     BlobKey; no key is the folder of another, as on a file system),
//     replacing what the key held, and returns a reference (a URL:
//     s3://bucket/key, file:///path) once the data is durable.
//   - Get returns the data of a reference Put returned, in this process or
//     another one configured alike. A missing blob is an error that names
//     the reference.
//   - Both are safe for concurrent use and honour ctx cancellation.
type Blobs interface {
	Put(ctx context.Context, key string, data []byte) (ref string, err error)
	Get(ctx context.Context, ref string) ([]byte, error)
}

// DefaultBlobThreshold is the size, in bytes of JSON, above which values
// go to the Blobs: far below DynamoDB's 400 KB item limit and Kafka's
// default 1 MB message limit.
const DefaultBlobThreshold = 64 << 10

// BlobKey is the key under which a value of an execution is kept: the
// execution's folder and the SHA-256 of the data. Keys are content
// addressed, so writing the same value twice (a redelivered event, a
// retried commit) writes the same object, a reader may cache what it read
// for ever, and a writer may skip a value it knows is stored. Everything
// of one execution is under executions/<execution id>/, for lifecycle
// rules and clean-up.
func BlobKey(executionID string, data []byte) string {
	if executionID == "" {
		executionID = "_"
	}
	dir := url.PathEscape(executionID)
	if dir == "." || dir == ".." {
		dir = strings.ReplaceAll(dir, ".", "%2E") // never a relative path segment
	}
	sum := sha256.Sum256(data)
	return "executions/" + dir + "/" + hex.EncodeToString(sum[:]) + ".json"
}

// MaxAttempts is how many times a bus delivers an event whose handler
// keeps failing before it goes to TopicDLQ.
const MaxAttempts = 5

// CheckRecordName checks a record's kind and key as RecordStore requires
// (non-empty, no NUL bytes); stores call it before writing.
func CheckRecordName(kind, key string) error {
	if err := CheckRecordKind(kind); err != nil {
		return err
	}
	if key == "" {
		return errors.New("record key must not be empty")
	}
	if strings.IndexByte(key, 0) >= 0 {
		return errors.New("record key must not contain NUL")
	}
	return nil
}

// CheckRecordKind checks a record kind (non-empty, no NUL bytes).
func CheckRecordKind(kind string) error {
	if kind == "" {
		return errors.New("record kind must not be empty")
	}
	if strings.IndexByte(kind, 0) >= 0 {
		return errors.New("record kind must not contain NUL")
	}
	return nil
}
