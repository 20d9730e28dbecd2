package dynamo

import (
	"context"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/relayflow/relay/engine"
)

// While an execution is small, its task runs live in the execution item,
// so that a transition is one conditional PutItem of one item: the
// cheapest write DynamoDB has. Past either limit, the task runs move to
// items of their own, for good, so that no item grows with the flow.
const (
	maxInlineRuns  = 32       // task runs
	maxInlineBytes = 16 << 10 // JSON of the execution with its task runs and kept outbox
)

// modeMemo remembers, per execution, whether the item of a version is
// paged (its task runs in items of their own), as this store last read or
// wrote it. A commit needs to know: the first paged commit moves every
// task run out of the item. Executors commit the version they read, so
// the memo almost always knows; otherwise Commit asks DynamoDB.
type modeMemo struct {
	mu sync.Mutex
	m  map[string]execMode
}

type execMode struct {
	version int64
	paged   bool
}

// maxModes bounds the memo; past it, it starts again empty.
const maxModes = 1 << 16

func (mm *modeMemo) set(id string, version int64, paged bool) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	if mm.m == nil || len(mm.m) >= maxModes {
		mm.m = map[string]execMode{}
	}
	mm.m[id] = execMode{version, paged}
}

func (mm *modeMemo) get(id string, version int64) (paged, ok bool) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	m, ok := mm.m[id]
	return m.paged, ok && m.version == version
}

// pagedAt tells whether the stored item of execution id at version
// expected is paged (false for a new execution). A stored version other
// than expected is a conflict, found without writing.
func (s *Store) pagedAt(ctx context.Context, id string, expected int64) (bool, error) {
	if expected == 0 {
		return false, nil
	}
	if paged, ok := s.modes.get(id, expected); ok {
		return paged, nil
	}
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), ConsistentRead: aws.Bool(true), ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
		Key:                      map[string]types.AttributeValue{attrPK: avS(pkExec + id), attrSK: avS(skExec)},
		ProjectionExpression:     aws.String("#v, #p"),
		ExpressionAttributeNames: map[string]string{"#v": attrVersion, "#p": attrPaged},
	})
	if err != nil {
		return false, fmt.Errorf("reading execution %s: %w", id, err)
	}
	s.countRead(out.ConsumedCapacity)
	if v := num(out.Item, attrVersion); out.Item == nil || v != expected {
		return false, fmt.Errorf("committing execution %s: %w (version %d, expected %d)", id, engine.ErrConflict, v, expected)
	}
	paged := out.Item[attrPaged] != nil
	s.modes.set(id, expected, paged)
	return paged, nil
}
