package embedded

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	berrors "go.etcd.io/bbolt/errors"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/engine/enginetest"
	"github.com/relayflow/relay/statemachine"
)

func openTestStore(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := OpenStore(filepath.Join(dir, "data", "relay.db"))
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	return s
}

func TestStore(t *testing.T) {
	enginetest.TestStore(t, func(t *testing.T) engine.Store { return openTestStore(t, t.TempDir()) })
}

func TestStoreDurable(t *testing.T) {
	enginetest.TestStoreDurable(t, func(t *testing.T, dir string) engine.Store { return openTestStore(t, dir) })
}

func TestOpenStoreCreatesPrivateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "relay.db")
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("store file mode %v, want 0600", perm)
	}
}

func TestOpenStoreInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relay.db")
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// bbolt's flock conflicts between two opens in one process as between
	// two processes; a short timeout keeps the test fast.
	_, err = openStore(path, 120*time.Millisecond)
	if err == nil || !errors.Is(err, berrors.ErrTimeout) || !strings.Contains(err.Error(), "in use by another relay process") {
		t.Errorf("second open: err = %v, want the data directory in use", err)
	}
}

func TestTimeKeyOrder(t *testing.T) {
	times := []time.Time{
		{},
		time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC), // before UnixNano's range
		time.Date(1969, 12, 31, 23, 59, 59, 999, time.UTC),
		time.Unix(0, 0),
		time.Unix(0, 1),
		time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 1, 1, 0, 0, 0, 1, time.FixedZone("x", -3600)), // later, other zone
		time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC),                   // after UnixNano's range
		time.Date(3000, 1, 1, 0, 0, 0, 1, time.UTC),
	}
	for i := 1; i < len(times); i++ {
		a, b := timeKey(times[i-1]), timeKey(times[i])
		if bytes.Compare(a[:], b[:]) >= 0 {
			t.Errorf("timeKey(%v) = %x, timeKey(%v) = %x: out of order", times[i-1], a, times[i], b)
		}
	}
}

func TestDueTimersOutsideUnixNanoRange(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	e := enginetest.NewExecution("x", "demo", "hello", statemachine.ExecRunning, time.Now())
	far := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	farther := far.Add(time.Hour)
	err := s.Commit(t.Context(), engine.Commit{Execution: e, Timers: []engine.Timer{
		{ID: "a-farther", ExecutionID: "x", FireAt: farther}, {ID: "z-far", ExecutionID: "x", FireAt: far},
	}})
	if err != nil {
		t.Fatal(err)
	}
	due, err := s.DueTimers(t.Context(), far, 10)
	if err != nil || len(due) != 1 || due[0].ID != "z-far" {
		t.Errorf("DueTimers at %v = %v, %v; want only z-far", far, due, err)
	}
}

// BenchmarkStoreCommit measures one Commit of an execution with three task
// runs and two outbox entries, each a new version of the same execution:
// the embedded engine's cost per state transition (fsync included).
func BenchmarkStoreCommit(b *testing.B) {
	s := openTestStore(b, b.TempDir())
	defer s.Close()
	ctx := b.Context()
	e := enginetest.NewExecution("bench", "demo", "hello", statemachine.ExecRunning, time.Now())
	if err := s.Commit(ctx, engine.Commit{Execution: e}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		expected := e.Version
		e.Version++
		c := engine.Commit{
			Execution: e,
			Expected:  expected,
			Changed:   e.TaskRuns[1:2],
			Outbox: []engine.OutboxEntry{
				{ID: fmt.Sprintf("bench/%d/0", e.Version), ExecutionID: "bench", Kind: "StartAttempt", Payload: []byte(`{"taskRunId":"bench-run2"}`)},
				{ID: fmt.Sprintf("bench/%d/1", e.Version), ExecutionID: "bench", Kind: "PublishEvent", Payload: []byte(`{"type":"relay.taskrun.started"}`)},
			},
		}
		if err := s.Commit(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
}
