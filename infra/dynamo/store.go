// Package dynamo keeps Relay's state in one DynamoDB table: flows and
// their revisions, executions with one item per task run, logs, the outbox
// and durable timers. It implements engine.Store; docs/state-table.md
// describes the items, keys and access patterns.
package dynamo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/infra/awsclient"
	"github.com/relayflow/relay/internal/health"
	"github.com/relayflow/relay/statemachine"
)

// DefaultTable is the table name when none is configured (RELAY_TABLE).
const DefaultTable = "relay"

// maxItemSize is DynamoDB's item limit, 400 KB, less a margin for the
// attribute names.
const maxItemSize = 400*1024 - 1024

// maxTransactItems is DynamoDB's limit on the items of one transaction.
const maxTransactItems = 100

// Store is an engine.Store on one DynamoDB table.
type Store struct {
	db        *dynamodb.Client
	table     string
	retention time.Duration
	log       *slog.Logger
	now       func() time.Time
	blobs     engine.Blobs // nil: values stay in the items
	threshold int          // document size above which value fields go to blobs
	cache     *blobCache

	writeMilli atomic.Int64 // write capacity units consumed, in thousandths
	readMilli  atomic.Int64

	seqMu   sync.Mutex
	lastSeq int64 // outbox order: nanoseconds, strictly increasing in this process

	modes modeMemo // how execution items this store read or wrote keep their task runs
}

// Option configures a Store.
type Option func(*Store)

// WithRetention sets how long finished executions are kept: their items
// get an expiresAt attribute that DynamoDB's TTL deletes after it. Zero
// keeps them for ever.
func WithRetention(d time.Duration) Option { return func(s *Store) { s.retention = d } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// WithBlobs keeps large values out of the items: an execution's inputs,
// outputs, variables and trigger, a task run's outputs and ForEach values,
// an outbox entry's command and a log line's message go to b when the
// item's document is larger than threshold bytes of JSON (0:
// engine.DefaultBlobThreshold), and are read back with the item. Without
// it, an item over DynamoDB's 400 KB limit fails its commit.
func WithBlobs(b engine.Blobs, threshold int) Option {
	return func(s *Store) {
		s.blobs, s.threshold = b, threshold
		if threshold <= 0 {
			s.threshold = engine.DefaultBlobThreshold
		}
	}
}

// blobCacheBytes bounds the blob data a store keeps in memory.
const blobCacheBytes = 32 << 20

// New returns a Store on table. The table must exist (see CreateTable).
func New(db *dynamodb.Client, table string, opts ...Option) *Store {
	st := &Store{db: db, table: table, log: slog.Default(), now: time.Now, threshold: engine.DefaultBlobThreshold, cache: newBlobCache(blobCacheBytes)}
	for _, o := range opts {
		o(st)
	}
	return st
}

// NewClient returns a DynamoDB client configured the standard way: region,
// credentials and endpoint from the environment and shared config, so
// AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_DYNAMODB) points the same binary at
// DynamoDB Local, LocalStack or AWS.
func NewClient(ctx context.Context) (*dynamodb.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		// The CRC32 check wraps every response body and warns on stderr when
		// one is closed unread, which the SDK does for every conditional
		// write that loses a race: a warning per conflict, in normal
		// operation. TLS already guards the bodies' integrity.
		o.DisableValidateResponseChecksum = true
		// Throttling, 5xx, timeouts and refused connections are retried
		// with backoff, and what still fails is engine.ErrUnavailable.
		o.Retryer = awsclient.Retryer()
		o.HTTPClient = awsclient.HTTPClient()
		o.APIOptions = append(o.APIOptions, awsclient.Classify(health.DynamoDB))
	}), nil
}

// WriteUnits returns the write capacity units the store has consumed, as
// DynamoDB reported them (ReturnConsumedCapacity).
func (s *Store) WriteUnits() float64 { return float64(s.writeMilli.Load()) / 1000 }

// WriteCost is WriteUnits, for the scale test of the conformance suite.
func (s *Store) WriteCost() float64 { return s.WriteUnits() }

// ReadUnits returns the read capacity units consumed.
func (s *Store) ReadUnits() float64 { return float64(s.readMilli.Load()) / 1000 }

func (s *Store) countWrite(cc ...types.ConsumedCapacity) {
	for _, c := range cc {
		if c.CapacityUnits != nil {
			s.writeMilli.Add(int64(*c.CapacityUnits * 1000))
		}
	}
}

func (s *Store) countRead(c *types.ConsumedCapacity) {
	if c != nil && c.CapacityUnits != nil {
		s.readMilli.Add(int64(*c.CapacityUnits * 1000))
	}
}

func capacities(c *types.ConsumedCapacity) []types.ConsumedCapacity {
	if c == nil {
		return nil
	}
	return []types.ConsumedCapacity{*c}
}

// TTLAttribute is the attribute by which DynamoDB's time to live deletes
// the items of finished executions (seconds since the epoch; WithRetention).
const TTLAttribute = attrExpires

// TableDefinition is the table CreateTable creates: the keys and indexes of
// docs/state-table.md, on demand. template.yaml declares the same table (a
// test compares them).
func TableDefinition(name string) *dynamodb.CreateTableInput {
	str := types.ScalarAttributeTypeS
	keys := func(pk, sk string) []types.KeySchemaElement {
		return []types.KeySchemaElement{
			{AttributeName: aws.String(pk), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(sk), KeyType: types.KeyTypeRange},
		}
	}
	return &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(attrPK), AttributeType: str},
			{AttributeName: aws.String(attrSK), AttributeType: str},
			{AttributeName: aws.String(attrGSI1PK), AttributeType: str},
			{AttributeName: aws.String(attrGSI1SK), AttributeType: str},
			{AttributeName: aws.String(attrGSI2PK), AttributeType: str},
			{AttributeName: aws.String(attrGSI2SK), AttributeType: str},
		},
		KeySchema: keys(attrPK, attrSK),
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName:  aws.String(indexGSI1),
			KeySchema:  keys(attrGSI1PK, attrGSI1SK),
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}, {
			IndexName:  aws.String(indexGSI2),
			KeySchema:  keys(attrGSI2PK, attrGSI2SK),
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly},
		}},
	}
}

// CreateTable creates the table with its index and TTL if it does not
// exist, and waits until it is active.
func (s *Store) CreateTable(ctx context.Context) error {
	_, err := s.db.CreateTable(ctx, TableDefinition(s.table))
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("creating table %s: %w", s.table, err)
	}
	waiter := dynamodb.NewTableExistsWaiter(s.db, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 100 * time.Millisecond })
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.table)}, 2*time.Minute); err != nil {
		return fmt.Errorf("waiting for table %s: %w", s.table, err)
	}
	if err == nil {
		_, err := s.db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
			TableName:               aws.String(s.table),
			TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(attrExpires), Enabled: aws.Bool(true)},
		})
		if err != nil {
			return fmt.Errorf("enabling TTL on table %s: %w", s.table, err)
		}
	}
	return nil
}

// DeleteTable deletes the table (tests).
func (s *Store) DeleteTable(ctx context.Context) error {
	if _, err := s.db.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(s.table)}); err != nil {
		return fmt.Errorf("deleting table %s: %w", s.table, err)
	}
	return nil
}

// Close releases nothing: the client has no connections of its own to
// close. It is there for engine.Store.
func (s *Store) Close() error { return nil }

// ------------------------------------------------------------------ flows

// SaveFlow stores a new revision unless source equals the latest one. The
// revision item and the LATEST pointer are written in one transaction,
// conditional on the pointer not having moved.
func (s *Store) SaveFlow(ctx context.Context, namespace, id string, source []byte) (engine.FlowRecord, error) {
	for {
		latest, err := s.Flow(ctx, namespace, id, 0)
		switch {
		case err == nil && bytes.Equal(latest.Source, source):
			return latest, nil
		case err != nil && !errors.Is(err, engine.ErrNotFound):
			return engine.FlowRecord{}, err
		}
		rec := engine.FlowRecord{Namespace: namespace, ID: id, Revision: latest.Revision + 1, Source: source, Created: s.now().UTC()}
		revItem := map[string]types.AttributeValue{attrPK: avS(flowPK(namespace, id)), attrSK: avS(revSK(rec.Revision)), attrRevision: avN(int64(rec.Revision))}
		latestItem := map[string]types.AttributeValue{attrPK: avS(flowPK(namespace, id)), attrSK: avS(skLatest), attrRevision: avN(int64(rec.Revision)),
			attrGSI1PK: avS(gsiFlows), attrGSI1SK: avS(namespace + "#" + id)}
		if err := putBody(revItem, rec); err != nil {
			return engine.FlowRecord{}, fmt.Errorf("encoding flow %s/%s: %w", namespace, id, err)
		}
		if err := putBody(latestItem, rec); err != nil {
			return engine.FlowRecord{}, fmt.Errorf("encoding flow %s/%s: %w", namespace, id, err)
		}
		latestCond := "attribute_not_exists(PK)"
		values := map[string]types.AttributeValue(nil)
		if latest.Revision > 0 {
			latestCond = "revision = :prev"
			values = map[string]types.AttributeValue{":prev": avN(int64(latest.Revision))}
		}
		out, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
			ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
			TransactItems: []types.TransactWriteItem{
				{Put: &types.Put{TableName: aws.String(s.table), Item: revItem, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
				{Put: &types.Put{TableName: aws.String(s.table), Item: latestItem, ConditionExpression: aws.String(latestCond), ExpressionAttributeValues: values}},
			},
		})
		if err := conflict(err); errors.Is(err, engine.ErrConflict) {
			continue // another writer stored a revision first: compare with it
		} else if err != nil {
			return engine.FlowRecord{}, fmt.Errorf("saving flow %s/%s revision %d: %w", namespace, id, rec.Revision, err)
		}
		s.countWrite(out.ConsumedCapacity...)
		return rec, nil
	}
}

// Flow returns a revision, 0 for the latest.
func (s *Store) Flow(ctx context.Context, namespace, id string, revision int) (engine.FlowRecord, error) {
	sk := skLatest
	if revision > 0 {
		sk = revSK(revision)
	}
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), ConsistentRead: aws.Bool(true), ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
		Key: map[string]types.AttributeValue{attrPK: avS(flowPK(namespace, id)), attrSK: avS(sk)},
	})
	if err != nil {
		return engine.FlowRecord{}, fmt.Errorf("reading flow %s/%s: %w", namespace, id, err)
	}
	s.countRead(out.ConsumedCapacity)
	if out.Item == nil {
		return engine.FlowRecord{}, fmt.Errorf("flow %s/%s revision %d: %w", namespace, id, revision, engine.ErrNotFound)
	}
	var rec engine.FlowRecord
	return rec, s.getBody(ctx, out.Item, &rec)
}

// Flows returns the latest revision of every flow, by namespace and id.
func (s *Store) Flows(ctx context.Context) ([]engine.FlowRecord, error) {
	var out []engine.FlowRecord
	err := s.query(ctx, &dynamodb.QueryInput{
		IndexName:                 aws.String(indexGSI1),
		KeyConditionExpression:    aws.String("GSI1PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": avS(gsiFlows)},
	}, 0, func(item map[string]types.AttributeValue) error {
		var rec engine.FlowRecord
		if err := s.getBody(ctx, item, &rec); err != nil {
			return err
		}
		out = append(out, rec)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing flows: %w", err)
	}
	slices.SortFunc(out, func(a, b engine.FlowRecord) int {
		if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// flowExecutions lists a flow's executions through GSI2, which holds keys
// only: each page of keys is read back with BatchGetItem, in the index's
// order, until f.Limit executions passed collect.
func (s *Store) flowExecutions(ctx context.Context, f engine.ExecutionFilter, out *[]*statemachine.Execution, collect func(map[string]types.AttributeValue) error) error {
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		IndexName:                 aws.String(indexGSI2),
		KeyConditionExpression:    aws.String("GSI2PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": avS(gsiExecs + f.Namespace + "#" + f.FlowID)},
		ScanIndexForward:          aws.Bool(false),
		ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		s.countRead(page.ConsumedCapacity)
		for len(page.Items) > 0 {
			keys := page.Items[:min(100, len(page.Items))]
			page.Items = page.Items[len(keys):]
			items, err := s.batchGet(ctx, keys)
			if err != nil {
				return err
			}
			for _, k := range keys {
				item := items[str(k, attrPK)]
				if item == nil {
					continue // deleted since (TTL)
				}
				if err := collect(item); err != nil {
					return err
				}
				if f.Limit > 0 && len(*out) >= f.Limit {
					return nil
				}
			}
		}
	}
	return nil
}

// batchGet reads up to 100 items by their keys (PK and SK of keys),
// retrying what DynamoDB leaves unprocessed, and returns them by PK.
func (s *Store) batchGet(ctx context.Context, keys []map[string]types.AttributeValue) (map[string]map[string]types.AttributeValue, error) {
	req := make([]map[string]types.AttributeValue, len(keys))
	for i, k := range keys {
		req[i] = map[string]types.AttributeValue{attrPK: k[attrPK], attrSK: k[attrSK]}
	}
	got := map[string]map[string]types.AttributeValue{}
	for backoff := 10 * time.Millisecond; len(req) > 0; backoff *= 2 {
		out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
			RequestItems:           map[string]types.KeysAndAttributes{s.table: {Keys: req, ConsistentRead: aws.Bool(true)}},
			ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
		})
		if err != nil {
			return nil, err
		}
		for _, c := range out.ConsumedCapacity {
			s.countRead(&c)
		}
		for _, item := range out.Responses[s.table] {
			got[str(item, attrPK)] = item
		}
		req = out.UnprocessedKeys[s.table].Keys
		if len(req) > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(min(backoff, time.Second)):
			}
		}
	}
	return got, nil
}

// query runs q on the table, page after page, until fn has seen limit
// items (0: all).
func (s *Store) query(ctx context.Context, q *dynamodb.QueryInput, limit int, fn func(map[string]types.AttributeValue) error) error {
	q.TableName = aws.String(s.table)
	q.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	seen := 0
	p := dynamodb.NewQueryPaginator(s.db, q)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		s.countRead(page.ConsumedCapacity)
		for _, item := range page.Items {
			if err := fn(item); err != nil {
				return err
			}
			if seen++; limit > 0 && seen >= limit {
				return nil
			}
		}
	}
	return nil
}

// conflict maps a failed condition to engine.ErrConflict; other errors
// pass through.
func conflict(err error) error {
	if err == nil {
		return nil
	}
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("%w (%s)", engine.ErrConflict, err)
	}
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) {
		for _, r := range tce.CancellationReasons {
			if code := aws.ToString(r.Code); code == "ConditionalCheckFailed" || code == "TransactionConflict" {
				return fmt.Errorf("%w (%s)", engine.ErrConflict, code)
			}
		}
	}
	return err
}

// ------------------------------------------------------------- executions

// Commit writes the execution item (conditional on its version) with
// what changed: while an execution is small its task runs and, for a
// replayable commit, its outbox live in its own item, and the commit is one
// conditional PutItem; past that (maxInlineRuns, maxInlineBytes) its task
// runs are items of their own for good, and the commit is one
// TransactWriteItems of the execution item, the changed task runs, the
// outbox entries and the timers. Timers always need the transaction.
func (s *Store) Commit(ctx context.Context, c engine.Commit) error {
	ex := c.Execution
	prevPaged, err := s.pagedAt(ctx, ex.ID, c.Expected)
	if err != nil {
		return err
	}
	paged := prevPaged || len(ex.TaskRuns) > maxInlineRuns
	var kept []engine.OutboxEntry
	if c.Replayable && !paged {
		kept = c.Outbox
	}
	var execItem map[string]types.AttributeValue
	for {
		var size int
		if execItem, size, err = s.executionItem(ctx, ex, !paged, kept); err != nil {
			return err
		}
		if paged || size <= maxInlineBytes {
			break
		}
		if kept != nil {
			kept = nil // the outbox goes to entries of its own first
		} else {
			paged = true
		}
	}
	cond, values := "attribute_not_exists(PK)", map[string]types.AttributeValue(nil)
	if c.Expected > 0 {
		cond, values = "version = :expected", map[string]types.AttributeValue{":expected": avN(c.Expected)}
	}
	items := []map[string]types.AttributeValue{execItem}
	var moved []map[string]types.AttributeValue // the unchanged runs moving out of the execution item
	if paged {
		runs, withItems := c.Changed, c.Items
		if !prevPaged { // the task runs move out of the execution item
			runs, withItems = ex.TaskRuns, nil
			for _, r := range runs {
				if r.Items != nil {
					withItems = append(withItems, r)
				}
			}
		}
		changed := map[string]bool{}
		for _, r := range c.Changed {
			changed[r.ID] = true
		}
		written := map[string]bool{}
		for _, r := range runs {
			i, ok := ex.Position(r.ID)
			if !ok {
				return fmt.Errorf("committing execution %s: changed task run %s is not one of its task runs", ex.ID, r.ID)
			}
			if written[r.ID] {
				continue
			}
			written[r.ID] = true
			item := map[string]types.AttributeValue{attrPK: avS(pkExec + ex.ID), attrSK: avS(runSK(i))}
			plain := *r
			plain.Items = nil // written once, in an item of their own
			if err := s.putDoc(ctx, item, ex.ID, &plain, runBlobFields); err != nil {
				return fmt.Errorf("encoding task run %s of %s: %w", r.ID, ex.ID, err)
			}
			if !prevPaged && !changed[r.ID] {
				moved = append(moved, item)
				continue
			}
			items = append(items, item)
		}
		for _, r := range withItems {
			i, ok := ex.Position(r.ID)
			if !ok {
				return fmt.Errorf("committing execution %s: task run %s with new items is not one of its task runs", ex.ID, r.ID)
			}
			item := map[string]types.AttributeValue{attrPK: avS(pkExec + ex.ID), attrSK: avS(itemsSK(i))}
			if err := s.putDoc(ctx, item, ex.ID, itemsDoc{Items: r.Items}, itemsBlobFields); err != nil {
				return fmt.Errorf("encoding the items of task run %s of %s: %w", r.ID, ex.ID, err)
			}
			items = append(items, item)
		}
	}
	for i, e := range c.Outbox {
		if kept != nil {
			c.Outbox[i].Kept = true
			continue
		}
		item := map[string]types.AttributeValue{attrPK: avS(pkOutbox + e.ID), attrSK: avS(skOutbox), attrGSI1PK: avS(gsiOutbox), attrGSI1SK: avS(fmt.Sprintf("%020d", s.nextSeq()))}
		if err := s.putDoc(ctx, item, e.ExecutionID, e, outboxBlobFields); err != nil {
			return fmt.Errorf("encoding outbox entry %s: %w", e.ID, err)
		}
		items = append(items, item)
	}
	for _, t := range c.Timers {
		items = append(items, s.timerItem(t))
	}
	for _, item := range append(items, moved...) {
		if size := ItemSize(item); size > maxItemSize {
			return fmt.Errorf("committing execution %s: item %s/%s is %d KB, over DynamoDB's 400 KB limit", ex.ID, str(item, attrPK), str(item, attrSK), size/1024)
		}
	}
	if len(items)+len(moved) <= maxTransactItems {
		items, moved = append(items, moved...), nil
	}
	if len(moved) > 0 {
		// Too many for one transaction: the runs that did not change are
		// written first, as they are in the execution item. Until the
		// transaction marks the item paged, reads take the runs from the
		// item and ignore these; a commit that then loses its race leaves
		// them to be written again by the one that pages the execution.
		reqs := make([]types.WriteRequest, len(moved))
		for i, item := range moved {
			reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: item}}
		}
		if err := s.batchWrite(ctx, reqs); err != nil {
			return fmt.Errorf("committing execution %s version %d: moving its task runs out of its item: %w", ex.ID, ex.Version, err)
		}
	}
	if len(items) == 1 {
		out, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(s.table), Item: execItem, ConditionExpression: aws.String(cond), ExpressionAttributeValues: values,
			ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
		})
		if err != nil {
			return fmt.Errorf("committing execution %s version %d: %w", ex.ID, ex.Version, conflict(err))
		}
		s.countWrite(capacities(out.ConsumedCapacity)...)
		s.modes.set(ex.ID, ex.Version, paged)
		return nil
	}
	if len(items) > maxTransactItems {
		return fmt.Errorf("committing execution %s version %d: the transition writes %d items, more than DynamoDB's %d per transaction", ex.ID, ex.Version, len(items), maxTransactItems)
	}
	tx := make([]types.TransactWriteItem, len(items))
	tx[0] = types.TransactWriteItem{Put: &types.Put{TableName: aws.String(s.table), Item: execItem, ConditionExpression: aws.String(cond), ExpressionAttributeValues: values}}
	for i, item := range items[1:] {
		tx[i+1] = types.TransactWriteItem{Put: &types.Put{TableName: aws.String(s.table), Item: item}}
	}
	out, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx, ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal})
	if err != nil {
		return fmt.Errorf("committing execution %s version %d: %w", ex.ID, ex.Version, conflict(err))
	}
	s.countWrite(out.ConsumedCapacity...)
	s.modes.set(ex.ID, ex.Version, paged)
	return nil
}

// nextSeq orders outbox entries: the time in nanoseconds, strictly
// increasing within this process.
func (s *Store) nextSeq() int64 {
	s.seqMu.Lock()
	defer s.seqMu.Unlock()
	seq := s.now().UnixNano()
	if seq <= s.lastSeq {
		seq = s.lastSeq + 1
	}
	s.lastSeq = seq
	return seq
}

// execDoc is an execution item's document: the execution (with its task
// runs while they live in the item) and the outbox entries it keeps.
type execDoc struct {
	*statemachine.Execution
	Outbox []engine.OutboxEntry `json:"outbox,omitempty"`
}

// executionItem builds the execution's item, with its task runs when
// withRuns, else marked paged, and the outbox entries kept; it returns the
// size of its document too.
func (s *Store) executionItem(ctx context.Context, ex *statemachine.Execution, withRuns bool, kept []engine.OutboxEntry) (map[string]types.AttributeValue, int, error) {
	doc := execDoc{Execution: ex, Outbox: kept}
	start := fixedTime(ex.StartDate)
	item := map[string]types.AttributeValue{
		attrPK: avS(pkExec + ex.ID), attrSK: avS(skExec),
		attrVersion: avN(ex.Version), attrState: avS(string(ex.State)), attrNS: avS(ex.Namespace), attrFlow: avS(ex.FlowID), attrStart: avS(start),
		attrGSI2PK: avS(gsiExecs + ex.Namespace + "#" + ex.FlowID), attrGSI2SK: avS(start + "#" + ex.ID),
	}
	if !withRuns {
		doc.Execution = ex.Head()
		item[attrPaged] = avN(1)
	}
	if s.retention > 0 && ex.State.Terminal() {
		end := ex.EndDate
		if end.IsZero() {
			end = s.now()
		}
		item[attrExpires] = avN(end.Add(s.retention).Unix())
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, 0, fmt.Errorf("encoding execution %s: %w", ex.ID, err)
	}
	if err := s.putJSON(ctx, item, ex.ID, b, execBlobFields); err != nil {
		return nil, 0, fmt.Errorf("encoding execution %s: %w", ex.ID, err)
	}
	return item, len(b), nil
}

// itemsDoc is the document of an ITEMS# item: a ForEach run's values.
type itemsDoc struct {
	Items []any `json:"items"`
}

// Execution reads the execution item, its task-run items and the items of
// its ForEach runs in one query.
func (s *Store) Execution(ctx context.Context, id string) (*statemachine.Execution, error) {
	var core json.RawMessage
	var runs []json.RawMessage
	items := map[int]json.RawMessage{}
	var version int64
	paged := false
	err := s.query(ctx, &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": avS(pkExec + id)},
		ConsistentRead:            aws.Bool(true),
	}, 0, func(item map[string]types.AttributeValue) error {
		var raw json.RawMessage
		if err := s.getBody(ctx, item, &raw); err != nil {
			return err
		}
		switch sk := str(item, attrSK); {
		case sk == skExec:
			core, version, paged = raw, num(item, attrVersion), item[attrPaged] != nil
		case strings.HasPrefix(sk, skItems):
			pos, err := strconv.Atoi(strings.TrimPrefix(sk, skItems))
			if err != nil {
				return fmt.Errorf("item %s/%s: bad position", str(item, attrPK), sk)
			}
			items[pos] = raw
		default:
			runs = append(runs, raw)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading execution %s: %w", id, err)
	}
	if core == nil {
		return nil, fmt.Errorf("execution %s: %w", id, engine.ErrNotFound)
	}
	s.modes.set(id, version, paged)
	if !paged {
		runs, items = nil, nil // the item holds them
	}
	return assemble(id, core, runs, items, paged)
}

// ExecutionHead reads the execution item alone.
func (s *Store) ExecutionHead(ctx context.Context, id string) (*statemachine.Execution, error) {
	ex, _, err := s.head(ctx, id)
	if err != nil {
		return nil, err
	}
	ex.TaskRuns = nil
	return ex, nil
}

// head reads the execution item: the execution, with its task runs when
// it is not paged.
func (s *Store) head(ctx context.Context, id string) (*statemachine.Execution, bool, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), ConsistentRead: aws.Bool(true), ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
		Key: map[string]types.AttributeValue{attrPK: avS(pkExec + id), attrSK: avS(skExec)},
	})
	if err != nil {
		return nil, false, fmt.Errorf("reading execution %s: %w", id, err)
	}
	s.countRead(out.ConsumedCapacity)
	if out.Item == nil {
		return nil, false, fmt.Errorf("execution %s: %w", id, engine.ErrNotFound)
	}
	var raw json.RawMessage
	if err := s.getBody(ctx, out.Item, &raw); err != nil {
		return nil, false, err
	}
	paged := out.Item[attrPaged] != nil
	ex, err := assemble(id, raw, nil, nil, false)
	return ex, paged, err
}

// TaskRuns reads a page of task runs: from the execution item while it
// holds them, else a query of their items (and one of their ForEach
// items).
func (s *Store) TaskRuns(ctx context.Context, executionID string, from, limit int) ([]*statemachine.TaskRun, error) {
	from = max(from, 0)
	ex, paged, err := s.head(ctx, executionID)
	if err != nil {
		return nil, err
	}
	if !paged {
		runs := ex.TaskRuns[min(from, len(ex.TaskRuns)):]
		if limit > 0 && len(runs) > limit {
			runs = runs[:limit]
		}
		return runs, nil
	}
	var out []*statemachine.TaskRun
	err = s.query(ctx, &dynamodb.QueryInput{
		KeyConditionExpression: aws.String("PK = :pk AND SK BETWEEN :from AND :to"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": avS(pkExec + executionID), ":from": avS(runSK(from)), ":to": avS(runSK(maxPosition)),
		},
		ConsistentRead: aws.Bool(true),
		Limit:          limit32(limit),
	}, limit, func(item map[string]types.AttributeValue) error {
		r := new(statemachine.TaskRun)
		if err := s.getBody(ctx, item, r); err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	if err != nil || len(out) == 0 {
		if err != nil {
			err = fmt.Errorf("reading task runs of %s: %w", executionID, err)
		}
		return out, err
	}
	err = s.query(ctx, &dynamodb.QueryInput{
		KeyConditionExpression: aws.String("PK = :pk AND SK BETWEEN :from AND :to"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": avS(pkExec + executionID), ":from": avS(itemsSK(from)), ":to": avS(itemsSK(from + len(out) - 1)),
		},
		ConsistentRead: aws.Bool(true),
	}, 0, func(item map[string]types.AttributeValue) error {
		pos, err := strconv.Atoi(strings.TrimPrefix(str(item, attrSK), skItems))
		if err != nil || pos < from || pos >= from+len(out) {
			return fmt.Errorf("item %s/%s: bad position", str(item, attrPK), str(item, attrSK))
		}
		var raw json.RawMessage
		if err := s.getBody(ctx, item, &raw); err != nil {
			return err
		}
		return setItems(out[pos-from], raw)
	})
	if err != nil {
		return nil, fmt.Errorf("reading the ForEach items of %s: %w", executionID, err)
	}
	return out, nil
}

// maxPosition is the largest task-run position a key can hold (8 digits).
const maxPosition = 99_999_999

func limit32(n int) *int32 {
	if n <= 0 || n > 1000 {
		return nil
	}
	return aws.Int32(int32(n))
}

// ExecutionRun reads the execution item and the item of the task run at
// position in one BatchGetItem.
func (s *Store) ExecutionRun(ctx context.Context, executionID string, position int) (*statemachine.Execution, *statemachine.TaskRun, error) {
	return s.executionRun(ctx, executionID, position, true)
}

// ExecutionRunLagging is ExecutionRun as an eventually consistent read:
// half the read units, but it may miss the last second or so of commits
// (engine.LaggingReader).
func (s *Store) ExecutionRunLagging(ctx context.Context, executionID string, position int) (*statemachine.Execution, *statemachine.TaskRun, error) {
	return s.executionRun(ctx, executionID, position, false)
}

func (s *Store) executionRun(ctx context.Context, executionID string, position int, consistent bool) (*statemachine.Execution, *statemachine.TaskRun, error) {
	pk := avS(pkExec + executionID)
	keys := []map[string]types.AttributeValue{{attrPK: pk, attrSK: avS(skExec)}}
	if position >= 0 && position <= maxPosition {
		keys = append(keys, map[string]types.AttributeValue{attrPK: pk, attrSK: avS(runSK(position))})
	}
	got := map[string]map[string]types.AttributeValue{}
	for backoff := 10 * time.Millisecond; len(keys) > 0; backoff *= 2 {
		out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
			RequestItems:           map[string]types.KeysAndAttributes{s.table: {Keys: keys, ConsistentRead: aws.Bool(consistent)}},
			ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("reading task run %d of execution %s: %w", position, executionID, err)
		}
		for _, c := range out.ConsumedCapacity {
			s.countRead(&c)
		}
		for _, item := range out.Responses[s.table] {
			got[str(item, attrSK)] = item
		}
		keys = out.UnprocessedKeys[s.table].Keys
		if len(keys) > 0 {
			select {
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			case <-time.After(min(backoff, time.Second)):
			}
		}
	}
	execItem := got[skExec]
	if execItem == nil {
		return nil, nil, fmt.Errorf("execution %s: %w", executionID, engine.ErrNotFound)
	}
	var raw json.RawMessage
	if err := s.getBody(ctx, execItem, &raw); err != nil {
		return nil, nil, err
	}
	ex, err := assemble(executionID, raw, nil, nil, false)
	if err != nil {
		return nil, nil, err
	}
	var run *statemachine.TaskRun
	if execItem[attrPaged] == nil {
		if position >= 0 && position < len(ex.TaskRuns) {
			run = ex.TaskRuns[position]
		}
	} else if item := got[runSK(position)]; item != nil {
		run = new(statemachine.TaskRun)
		if err := s.getBody(ctx, item, run); err != nil {
			return nil, nil, err
		}
	}
	ex.TaskRuns = nil
	if run == nil {
		return nil, nil, fmt.Errorf("task run %d of execution %s: %w", position, executionID, engine.ErrNotFound)
	}
	run.Items = nil
	return ex, run, nil
}

// LastOutbox returns the outbox entries the execution's last commit kept
// in its item (engine.OutboxKeeper).
func (s *Store) LastOutbox(ctx context.Context, executionID string) ([]engine.OutboxEntry, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), ConsistentRead: aws.Bool(true), ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
		Key: map[string]types.AttributeValue{attrPK: avS(pkExec + executionID), attrSK: avS(skExec)},
	})
	if err != nil {
		return nil, fmt.Errorf("reading execution %s: %w", executionID, err)
	}
	s.countRead(out.ConsumedCapacity)
	if out.Item == nil {
		return nil, fmt.Errorf("execution %s: %w", executionID, engine.ErrNotFound)
	}
	var doc struct {
		Outbox []engine.OutboxEntry `json:"outbox"`
	}
	if err := s.getBody(ctx, out.Item, &doc); err != nil {
		return nil, err
	}
	for i := range doc.Outbox {
		doc.Outbox[i].Kept = true
	}
	return doc.Outbox, nil
}

// assemble decodes an execution from its parts: the item's document
// (which holds the task runs of an execution that is not paged), and the
// task-run items and ForEach items of a paged one, by position.
func assemble(id string, core json.RawMessage, runs []json.RawMessage, items map[int]json.RawMessage, paged bool) (*statemachine.Execution, error) {
	var ex statemachine.Execution
	if err := json.Unmarshal(core, &ex); err != nil {
		return nil, fmt.Errorf("decoding execution %s: %w", id, err)
	}
	if paged {
		ex.TaskRuns = make([]*statemachine.TaskRun, len(runs))
		for i, b := range runs {
			ex.TaskRuns[i] = new(statemachine.TaskRun)
			if err := json.Unmarshal(b, ex.TaskRuns[i]); err != nil {
				return nil, fmt.Errorf("decoding task run %d of execution %s: %w", i, id, err)
			}
		}
		for pos, b := range items {
			if pos >= len(ex.TaskRuns) {
				return nil, fmt.Errorf("execution %s: ForEach items of task run %d, which is missing", id, pos)
			}
			if err := setItems(ex.TaskRuns[pos], b); err != nil {
				return nil, fmt.Errorf("execution %s: %w", id, err)
			}
		}
		if (ex.RunCounts == nil || ex.TaskCounts == nil) && len(ex.TaskRuns) > 0 {
			ex.CountRuns()
		}
	}
	if ex.TaskRuns == nil {
		ex.TaskRuns = []*statemachine.TaskRun{}
	}
	return &ex, nil
}

// setItems sets a run's Items from the document of its ITEMS# item.
func setItems(r *statemachine.TaskRun, doc json.RawMessage) error {
	var d struct {
		Items json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return fmt.Errorf("decoding the items of %s: %w", r.ID, err)
	}
	items, err := statemachine.DecodeItems(d.Items)
	if err != nil {
		return fmt.Errorf("the items of %s: %w", r.ID, err)
	}
	r.Items = items
	return nil
}

// Executions lists executions newest first (the task runs of paged
// executions left out). With a namespace and a flow id it queries the
// flow's index and reads the items it names; otherwise it scans the
// table's execution items (an operator's listing, not a hot path).
func (s *Store) Executions(ctx context.Context, f engine.ExecutionFilter) ([]*statemachine.Execution, error) {
	var out []*statemachine.Execution
	collect := func(item map[string]types.AttributeValue) error {
		if f.State != "" && str(item, attrState) != string(f.State) {
			return nil
		}
		var raw json.RawMessage
		if err := s.getBody(ctx, item, &raw); err != nil {
			return err
		}
		ex, err := assemble(str(item, attrPK), raw, nil, nil, false)
		if err != nil {
			return err
		}
		out = append(out, ex)
		return nil
	}
	if f.Namespace != "" && f.FlowID != "" {
		if err := s.flowExecutions(ctx, f, &out, collect); err != nil {
			return nil, fmt.Errorf("listing executions of %s/%s: %w", f.Namespace, f.FlowID, err)
		}
		return out, nil
	}
	values := map[string]types.AttributeValue{}
	var filters []string
	names := map[string]string{}
	if f.State != "" {
		filters = append(filters, "#state = :state")
		names["#state"] = attrState
		values[":state"] = avS(string(f.State))
	}
	filters = append(filters, "SK = :exec", "begins_with(PK, :execpk)") // records may use any SK
	values[":exec"] = avS(skExec)
	values[":execpk"] = avS(pkExec)
	if f.Namespace != "" {
		filters = append(filters, "ns = :ns")
		values[":ns"] = avS(f.Namespace)
	}
	if f.FlowID != "" {
		filters = append(filters, "flowId = :flow")
		values[":flow"] = avS(f.FlowID)
	}
	scan := &dynamodb.ScanInput{
		TableName: aws.String(s.table), FilterExpression: aws.String(strings.Join(filters, " AND ")),
		ExpressionAttributeValues: values, ConsistentRead: aws.Bool(true), ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	}
	if len(names) > 0 {
		scan.ExpressionAttributeNames = names
	}
	p := dynamodb.NewScanPaginator(s.db, scan)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing executions: %w", err)
		}
		s.countRead(page.ConsumedCapacity)
		for _, item := range page.Items {
			if err := collect(item); err != nil {
				return nil, err
			}
		}
	}
	slices.SortStableFunc(out, func(a, b *statemachine.Execution) int {
		if c := b.StartDate.Compare(a.StartDate); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}
