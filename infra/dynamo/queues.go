package dynamo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/relayflow/relay/engine"
)

// ------------------------------------------------------------------- logs

// AppendLogs stores log lines. Each execution's counter item hands out a
// block of sequence numbers in one atomic update; the lines follow in
// batches.
func (s *Store) AppendLogs(ctx context.Context, entries []engine.LogEntry) error {
	byExec := map[string][]int{}
	var order []string
	for i, e := range entries {
		if _, ok := byExec[e.ExecutionID]; !ok {
			order = append(order, e.ExecutionID)
		}
		byExec[e.ExecutionID] = append(byExec[e.ExecutionID], i)
	}
	var puts []map[string]types.AttributeValue
	for _, id := range order {
		idx := byExec[id]
		out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 aws.String(s.table),
			Key:                       map[string]types.AttributeValue{attrPK: avS(pkLogs + id), attrSK: avS(skLogSeq)},
			UpdateExpression:          aws.String("ADD #n :k"),
			ExpressionAttributeNames:  map[string]string{"#n": attrSeq},
			ExpressionAttributeValues: map[string]types.AttributeValue{":k": avN(int64(len(idx)))},
			ReturnValues:              types.ReturnValueUpdatedNew,
			ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
		})
		if err != nil {
			return fmt.Errorf("numbering log lines of execution %s: %w", id, err)
		}
		s.countWrite(capacities(out.ConsumedCapacity)...)
		last := num(out.Attributes, attrSeq)
		for k, i := range idx {
			e := entries[i]
			e.Seq = last - int64(len(idx)) + int64(k) + 1
			entries[i].Seq = e.Seq
			item := map[string]types.AttributeValue{attrPK: avS(pkLogs + id), attrSK: avS(logSK(e.Seq))}
			if s.retention > 0 {
				item[attrExpires] = avN(e.Time.Add(s.retention).Unix())
			}
			if err := s.putDoc(ctx, item, id, e, logBlobFields); err != nil {
				return fmt.Errorf("encoding a log line of execution %s: %w", id, err)
			}
			puts = append(puts, item)
		}
	}
	reqs := make([]types.WriteRequest, len(puts))
	for i, item := range puts {
		reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: item}}
	}
	if err := s.batchWrite(ctx, reqs); err != nil {
		return fmt.Errorf("storing log lines: %w", err)
	}
	return nil
}

// batchWrite writes requests 25 at a time, retrying what DynamoDB leaves
// unprocessed.
func (s *Store) batchWrite(ctx context.Context, reqs []types.WriteRequest) error {
	for len(reqs) > 0 {
		batch := reqs[:min(25, len(reqs))]
		reqs = reqs[len(batch):]
		for backoff := 10 * time.Millisecond; len(batch) > 0; backoff *= 2 {
			out, err := s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
				RequestItems:           map[string][]types.WriteRequest{s.table: batch},
				ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
			})
			if err != nil {
				return err
			}
			s.countWrite(out.ConsumedCapacity...)
			batch = out.UnprocessedItems[s.table]
			if len(batch) > 0 {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(min(backoff, time.Second)):
				}
			}
		}
	}
	return nil
}

// Logs returns an execution's lines with Seq > after, in order.
func (s *Store) Logs(ctx context.Context, executionID string, after int64, limit int) ([]engine.LogEntry, error) {
	var out []engine.LogEntry
	err := s.query(ctx, &dynamodb.QueryInput{
		KeyConditionExpression: aws.String("PK = :pk AND SK BETWEEN :from AND :to"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": avS(pkLogs + executionID), ":from": avS(logSK(after + 1)), ":to": avS(skLog + "~"),
		},
		ConsistentRead: aws.Bool(true),
		Limit:          limit32(limit),
	}, limit, func(item map[string]types.AttributeValue) error {
		var e engine.LogEntry
		if err := s.getBody(ctx, item, &e); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading logs of execution %s: %w", executionID, err)
	}
	return out, nil
}

// ----------------------------------------------------------------- outbox

// Outbox returns pending entries in commit order, through the index.
func (s *Store) Outbox(ctx context.Context, limit int) ([]engine.OutboxEntry, error) {
	var out []engine.OutboxEntry
	err := s.query(ctx, &dynamodb.QueryInput{
		IndexName:                 aws.String(indexGSI1),
		KeyConditionExpression:    aws.String("GSI1PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": avS(gsiOutbox)},
	}, limit, func(item map[string]types.AttributeValue) error {
		var e engine.OutboxEntry
		if err := s.getBody(ctx, item, &e); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the outbox: %w", err)
	}
	return out, nil
}

// AckOutbox deletes carried-out entries.
func (s *Store) AckOutbox(ctx context.Context, ids ...string) error {
	reqs := make([]types.WriteRequest, len(ids))
	for i, id := range ids {
		reqs[i] = types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: map[string]types.AttributeValue{attrPK: avS(pkOutbox + id), attrSK: avS(skOutbox)}}}
	}
	if err := s.batchWrite(ctx, reqs); err != nil {
		return fmt.Errorf("acknowledging outbox entries: %w", err)
	}
	return nil
}

// ----------------------------------------------------------------- timers

func (s *Store) timerItem(t engine.Timer) map[string]types.AttributeValue {
	item := map[string]types.AttributeValue{
		attrPK: avS(pkTimer + t.ID), attrSK: avS(skTimer),
		attrGSI1PK: avS(gsiTimers), attrGSI1SK: avS(fixedTime(t.FireAt) + "#" + t.ID),
	}
	putBody(item, t) // a Timer always encodes
	return item
}

// DueTimers returns timers due at now, earliest first, through the index.
func (s *Store) DueTimers(ctx context.Context, now time.Time, limit int) ([]engine.Timer, error) {
	var out []engine.Timer
	err := s.query(ctx, &dynamodb.QueryInput{
		IndexName:              aws.String(indexGSI1),
		KeyConditionExpression: aws.String("GSI1PK = :pk AND GSI1SK < :upto"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": avS(gsiTimers), ":upto": avS(fixedTime(now) + "$"), // '$' sorts right after the '#' separator
		},
	}, limit, func(item map[string]types.AttributeValue) error {
		var t engine.Timer
		if err := s.getBody(ctx, item, &t); err != nil {
			return err
		}
		out = append(out, t)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading due timers: %w", err)
	}
	return out, nil
}

// DeleteTimer removes a timer; removing a missing one is not an error.
func (s *Store) DeleteTimer(ctx context.Context, id string) error {
	out, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:              aws.String(s.table),
		Key:                    map[string]types.AttributeValue{attrPK: avS(pkTimer + id), attrSK: avS(skTimer)},
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	})
	if err != nil {
		return fmt.Errorf("deleting timer %s: %w", id, err)
	}
	s.countWrite(capacities(out.ConsumedCapacity)...)
	return nil
}
