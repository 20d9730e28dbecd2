package dynamo

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/engine/enginetest"
	"github.com/relayflow/relay/infra/blob"
	"github.com/relayflow/relay/statemachine"
)

// countingBlobs counts the requests that reach a blob store.
type countingBlobs struct {
	engine.Blobs
	puts, gets atomic.Int64
}

func (c *countingBlobs) Put(ctx context.Context, key string, data []byte) (string, error) {
	c.puts.Add(1)
	return c.Blobs.Put(ctx, key, data)
}

func (c *countingBlobs) Get(ctx context.Context, ref string) ([]byte, error) {
	c.gets.Add(1)
	return c.Blobs.Get(ctx, ref)
}

func newBlobs(t *testing.T) (*countingBlobs, *blob.Dir) {
	t.Helper()
	d, err := blob.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &countingBlobs{Blobs: d}, d
}

// randomText returns n bytes of text that does not compress (gzip would
// otherwise hide a large value in a small item).
func randomText(n int) string {
	b := make([]byte, n*3/4+3)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)[:n]
}

// rawItem reads an item as DynamoDB stores it.
func rawItem(t *testing.T, s *Store, pk, sk string) map[string]types.AttributeValue {
	t.Helper()
	out, err := s.db.GetItem(t.Context(), &dynamodb.GetItemInput{
		TableName: aws.String(s.table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{attrPK: avS(pk), attrSK: avS(sk)},
	})
	if err != nil || out.Item == nil {
		t.Fatalf("reading item %s/%s: %v (found: %v)", pk, sk, err, out != nil && out.Item != nil)
	}
	return out.Item
}

func blobFields(item map[string]types.AttributeValue) []string {
	m, _ := item[attrBlobs].(*types.AttributeValueMemberM)
	if m == nil {
		return nil
	}
	var out []string
	for k := range m.Value {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestStore_largeValuesGoToBlobs commits an execution whose inputs, task
// outputs, outbox command and log line are far over the threshold: the
// items stay small, keep references to blobs, and every read returns the
// real values.
func TestStore_largeValuesGoToBlobs(t *testing.T) {
	counting, _ := newBlobs(t)
	s := newTestStore(t, uniqueTable())
	dropTable(t, s)
	s = New(s.db, s.table, WithBlobs(counting, 0))
	ctx := t.Context()

	big := map[string]string{"inputs": randomText(100 << 10), "output": randomText(300 << 10), "payload": randomText(200 << 10), "log": randomText(100 << 10)}
	ex := enginetest.NewExecution("exbig", "ns", "flow", statemachine.ExecRunning, time.Now().UTC())
	ex.Inputs["big"] = big["inputs"]
	ex.TaskRuns[0].Outputs = map[string]any{"value": big["output"]}
	entry := engine.OutboxEntry{ID: "exbig/1/0", ExecutionID: ex.ID, Kind: engine.KindSchedule, Payload: []byte(`{"props":"` + big["payload"] + `"}`), Created: time.Now().UTC()}
	if err := s.Commit(ctx, engine.Commit{Execution: ex, Changed: ex.TaskRuns, Outbox: []engine.OutboxEntry{entry}}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendLogs(ctx, []engine.LogEntry{{ExecutionID: ex.ID, Time: time.Now().UTC(), Level: "INFO", Message: big["log"]}}); err != nil {
		t.Fatal(err)
	}

	items := []struct {
		name, pk, sk string
		blobs        []string
	}{
		{"execution", pkExec + ex.ID, skExec, []string{"inputs"}},
		{"taskRunWithLargeOutputs", pkExec + ex.ID, runSK(0), []string{"outputs"}},
		{"smallTaskRun", pkExec + ex.ID, runSK(1), nil},
		{"outboxEntry", pkOutbox + entry.ID, skOutbox, []string{"payload"}},
		{"logLine", pkLogs + ex.ID, logSK(1), []string{"message"}},
	}
	for _, tc := range items {
		t.Run("item/"+tc.name, func(t *testing.T) {
			item := rawItem(t, s, tc.pk, tc.sk)
			if got := blobFields(item); !slices.Equal(got, tc.blobs) {
				t.Errorf("fields in blobs = %v, want %v", got, tc.blobs)
			}
			if size := ItemSize(item); size > 8<<10 {
				t.Errorf("the item is %d bytes; want it small, its large values in blobs", size)
			}
		})
	}

	t.Run("readsReturnTheValues", func(t *testing.T) {
		got, err := s.Execution(ctx, ex.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Inputs["big"] != big["inputs"] || got.Inputs["name"] != "world" {
			t.Errorf("inputs not read back: %d bytes", len(got.Inputs["big"].(string)))
		}
		if v, _ := got.TaskRuns[0].Outputs["value"].(string); v != big["output"] {
			t.Errorf("task outputs not read back: %d bytes, want %d", len(v), len(big["output"]))
		}
		list, err := s.Executions(ctx, engine.ExecutionFilter{Namespace: "ns", FlowID: "flow"})
		if err != nil || len(list) != 1 || list[0].Inputs["big"] != big["inputs"] {
			t.Errorf("Executions did not read the inputs back (%v)", err)
		}
		out, err := s.Outbox(ctx, 10)
		if err != nil || len(out) != 1 || string(out[0].Payload) != string(entry.Payload) {
			t.Errorf("Outbox did not read the payload back (%v)", err)
		}
		logs, err := s.Logs(ctx, ex.ID, 0, 0)
		if err != nil || len(logs) != 1 || logs[0].Message != big["log"] {
			t.Errorf("Logs did not read the message back (%v)", err)
		}
	})

	t.Run("unchangedValuesAreNotWrittenAgain", func(t *testing.T) {
		// A fresh store, as in another Lambda invocation: it reads the
		// execution, then commits a change that leaves the inputs and the
		// first run's outputs as they were.
		other := New(s.db, s.table, WithBlobs(counting, 0))
		e, err := other.Execution(ctx, ex.ID)
		if err != nil {
			t.Fatal(err)
		}
		puts := counting.puts.Load()
		expected := e.Version
		e.Version++
		e.TaskRuns[0].Attempts[0].State = statemachine.RunSuccess
		if err := other.Commit(ctx, engine.Commit{Execution: e, Expected: expected, Changed: e.TaskRuns[:1]}); err != nil {
			t.Fatal(err)
		}
		if n := counting.puts.Load() - puts; n != 0 {
			t.Errorf("the commit wrote %d blobs, want 0: the values were unchanged", n)
		}
		gets := counting.gets.Load()
		if _, err := other.Execution(ctx, ex.ID); err != nil {
			t.Fatal(err)
		}
		if n := counting.gets.Load() - gets; n != 0 {
			t.Errorf("reading the execution again read %d blobs, want 0 (cached)", n)
		}
	})
}

// TestStore_unreadableBlobs: a missing blob, or a store without a blob
// store reading an item that needs one, is an error naming what is missing.
func TestStore_unreadableBlobs(t *testing.T) {
	counting, dir := newBlobs(t)
	s := newTestStore(t, uniqueTable())
	dropTable(t, s)
	s = New(s.db, s.table, WithBlobs(counting, 0))
	ex := enginetest.NewExecution("exlost", "ns", "flow", statemachine.ExecRunning, time.Now().UTC())
	ex.TaskRuns[0].Outputs = map[string]any{"value": randomText(100 << 10)}
	if err := s.Commit(t.Context(), engine.Commit{Execution: ex, Changed: ex.TaskRuns}); err != nil {
		t.Fatal(err)
	}
	ref := rawItem(t, s, pkExec+ex.ID, runSK(0))[attrBlobs].(*types.AttributeValueMemberM).Value["outputs"].(*types.AttributeValueMemberS).Value

	t.Run("withoutBlobStore", func(t *testing.T) {
		_, err := New(s.db, s.table).Execution(t.Context(), ex.ID)
		if err == nil || !strings.Contains(err.Error(), "RELAY_BUCKET") {
			t.Errorf("reading without a blob store: %v; want an error saying how to configure one", err)
		}
	})
	t.Run("missingBlob", func(t *testing.T) {
		files, _ := filepath.Glob(filepath.Join(dir.Root(), "executions", ex.ID, "*.json"))
		for _, f := range files {
			os.Remove(f)
		}
		_, err := New(s.db, s.table, WithBlobs(dir, 0)).Execution(t.Context(), ex.ID)
		if err == nil || !strings.Contains(err.Error(), ref) || !strings.Contains(err.Error(), "outputs") {
			t.Errorf("reading with the blob gone: %v; want an error naming the field and %s", err, ref)
		}
	})
}

// TestStore_itemsWithoutBlobStoreStillFailClearly: with no blob store, a
// value past DynamoDB's limit fails the commit, naming the item.
func TestStore_itemsWithoutBlobStoreStillFailClearly(t *testing.T) {
	s := newTestStore(t, uniqueTable())
	dropTable(t, s)
	ex := enginetest.NewExecution("exhuge", "ns", "flow", statemachine.ExecRunning, time.Now().UTC())
	ex.TaskRuns[0].Outputs = map[string]any{"value": randomText(600 << 10)}
	err := s.Commit(t.Context(), engine.Commit{Execution: ex, Changed: ex.TaskRuns})
	if err == nil || !strings.Contains(err.Error(), "400 KB") {
		t.Errorf("committing a 600 KB output without blobs: %v; want the item limit named", err)
	}
}
