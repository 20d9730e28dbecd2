package dynamo

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/engine/enginetest"
)

// newTestStore returns a store on a new table of the DynamoDB that
// AWS_ENDPOINT_URL names (DynamoDB Local in `make test`), deleted when the
// test ends. Without an endpoint the test is skipped, or fails when
// RELAY_REQUIRE_SERVICES=1 (as in `make test`).
func newTestStore(t *testing.T, table string) *Store {
	t.Helper()
	if os.Getenv("AWS_ENDPOINT_URL") == "" && os.Getenv("AWS_ENDPOINT_URL_DYNAMODB") == "" {
		if os.Getenv("RELAY_REQUIRE_SERVICES") == "1" {
			t.Fatal("AWS_ENDPOINT_URL is not set: start DynamoDB Local with `make services-up` and source .cache/services/env")
		}
		t.Skip("AWS_ENDPOINT_URL is not set (run `make test`, which starts DynamoDB Local)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := NewClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := New(db, table)
	if err := s.CreateTable(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

var tables atomic.Int64

func uniqueTable() string {
	return fmt.Sprintf("relay-test-%d-%d", time.Now().UnixNano(), tables.Add(1))
}

func dropTable(t *testing.T, s *Store) {
	t.Cleanup(func() {
		if err := s.DeleteTable(context.Background()); err != nil {
			t.Errorf("deleting test table: %v", err)
		}
	})
}

func TestStore(t *testing.T) {
	enginetest.TestStore(t, func(t *testing.T) engine.Store {
		s := newTestStore(t, uniqueTable())
		dropTable(t, s)
		return s
	})
}

func TestStoreDurable(t *testing.T) {
	table := uniqueTable()
	var first *Store
	enginetest.TestStoreDurable(t, func(t *testing.T, _ string) engine.Store {
		s := newTestStore(t, table)
		if first == nil {
			first = s
			dropTable(t, s)
		}
		return s
	})
}
