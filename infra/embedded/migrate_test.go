package embedded

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/relayflow/relay/engine/enginetest"
	"github.com/relayflow/relay/statemachine"
)

// A file of schema 1 (each execution one document, task runs and ForEach
// items included) opens migrated: the execution reads back the same, its
// runs and items as records of their own, and later commits go on from it.
func TestOpenStore_migratesSchema1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relay.db")
	ex := enginetest.NewExecution("old1", "demo", "legacy", statemachine.ExecRunning, time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC))
	ex.TaskRuns[1].Items = []any{int64(1), "two"}
	ex.RunCounts = nil // schema 1 kept no counts
	doc, err := json.Marshal(ex)
	if err != nil {
		t.Fatal(err)
	}
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketExecutions, bucketExecMeta, bucketExecByStart} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketMeta).Put(keySchema, []byte("1")); err != nil {
			return err
		}
		meta := execMeta{version: ex.Version, startKey: timeKey(ex.StartDate)}
		if err := tx.Bucket(bucketExecMeta).Put([]byte(ex.ID), meta.encode()); err != nil {
			return err
		}
		if err := tx.Bucket(bucketExecByStart).Put(indexKey(meta.startKey, ex.ID), indexValue(ex)); err != nil {
			return err
		}
		return tx.Bucket(bucketExecutions).Put([]byte(ex.ID), doc)
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := OpenStore(path)
	if err != nil {
		t.Fatalf("opening a schema 1 file: %v", err)
	}
	defer s.Close()
	got, err := s.Execution(t.Context(), "old1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.TaskRuns) != 3 || got.TaskRuns[1].Items[0] != int64(1) || got.RunCounts[statemachine.RunSuccess] != 1 {
		t.Fatalf("migrated execution: %d runs, items %v, counts %v", len(got.TaskRuns), got.TaskRuns[1].Items, got.RunCounts)
	}
	head, run, err := s.ExecutionRun(t.Context(), "old1", 2)
	if err != nil || run.ID != ex.TaskRuns[2].ID || head.Version != ex.Version {
		t.Errorf("ExecutionRun after migration: %+v %v", run, err)
	}
	err = s.db.View(func(tx *bbolt.Tx) error {
		if v := string(tx.Bucket(bucketMeta).Get(keySchema)); v != schemaVersion {
			t.Errorf("schema %q after migration, want %q", v, schemaVersion)
		}
		var head map[string]json.RawMessage
		if err := json.Unmarshal(tx.Bucket(bucketExecutions).Get([]byte("old1")), &head); err != nil {
			return err
		}
		if runs := string(head["taskRuns"]); runs != "null" {
			t.Errorf("the migrated execution record still holds its task runs: %s", runs)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
