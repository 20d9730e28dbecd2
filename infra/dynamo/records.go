package dynamo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/relayflow/relay/engine"
)

// Records (engine.RecordStore): REC#<kind>, SK <key>, with the value, the
// version and, while the record has a Due, the due time and GSI1 keys
// DUE#<kind> / <due, fixed width>#<key>: a sparse index of the kind's due
// records, earliest first and then by key.
const (
	pkRecord  = "REC#"
	gsiDue    = "DUE#"
	attrValue = "value" // a record's value (VALUE is a reserved word: use #value in expressions)
	attrDue   = "due"   // a record's Due, fixed width (see fixedTime)
)

func recordKey(kind, key string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: avS(pkRecord + kind), attrSK: avS(key)}
}

// recordOf decodes a record item (from the table or GSI1, which projects
// everything).
func recordOf(item map[string]types.AttributeValue) (engine.Record, error) {
	r := engine.Record{
		Kind:    strings.TrimPrefix(str(item, attrPK), pkRecord),
		Key:     str(item, attrSK),
		Version: num(item, attrVersion),
	}
	if v, ok := item[attrValue].(*types.AttributeValueMemberB); ok {
		r.Value = v.Value
	}
	if d := str(item, attrDue); d != "" {
		due, err := time.Parse(time.RFC3339Nano, d)
		if err != nil {
			return engine.Record{}, fmt.Errorf("record %s/%s: decoding its due time: %w", r.Kind, r.Key, err)
		}
		r.Due = due
	}
	return r, nil
}

// Record reads a record with a strongly consistent GetItem.
func (s *Store) Record(ctx context.Context, kind, key string) (engine.Record, error) {
	if err := engine.CheckRecordName(kind, key); err != nil {
		return engine.Record{}, fmt.Errorf("reading record %q/%q: %w", kind, key, err)
	}
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), ConsistentRead: aws.Bool(true), ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
		Key: recordKey(kind, key),
	})
	if err != nil {
		return engine.Record{}, fmt.Errorf("reading record %s/%s: %w", kind, key, err)
	}
	s.countRead(out.ConsumedCapacity)
	if out.Item == nil {
		return engine.Record{}, fmt.Errorf("record %s/%s: %w", kind, key, engine.ErrNotFound)
	}
	return recordOf(out.Item)
}

// Records queries the kind's partition, by key.
func (s *Store) Records(ctx context.Context, kind, prefix string) ([]engine.Record, error) {
	if err := engine.CheckRecordKind(kind); err != nil {
		return nil, fmt.Errorf("listing records %q: %w", kind, err)
	}
	cond := "PK = :pk"
	values := map[string]types.AttributeValue{":pk": avS(pkRecord + kind)}
	if prefix != "" {
		cond += " AND begins_with(SK, :prefix)"
		values[":prefix"] = avS(prefix)
	}
	out, err := s.queryRecords(ctx, &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String(cond),
		ExpressionAttributeValues: values,
		ConsistentRead:            aws.Bool(true),
	}, 0)
	if err != nil {
		return nil, fmt.Errorf("listing records %s: %w", kind, err)
	}
	return out, nil
}

// PutRecord writes the record with one conditional PutItem: on
// attribute_not_exists(PK) for expected 0, on its version otherwise. With
// expected -1 the new version depends on the stored one, so it is one
// UpdateItem that replaces the record's attributes and adds 1 to its
// version atomically.
func (s *Store) PutRecord(ctx context.Context, r engine.Record, expected int64) (int64, error) {
	if err := engine.CheckRecordName(r.Kind, r.Key); err != nil {
		return 0, fmt.Errorf("putting record %q/%q: %w", r.Kind, r.Key, err)
	}
	if expected < -1 {
		return 0, fmt.Errorf("putting record %s/%s: expected version %d: want -1, 0 or a version", r.Kind, r.Key, expected)
	}
	item := recordItem(r, expected+1)
	if size := ItemSize(item); size > maxItemSize {
		return 0, fmt.Errorf("putting record %s/%s: the item is %d KB, over DynamoDB's 400 KB limit", r.Kind, r.Key, size/1024)
	}
	if expected == -1 {
		return s.putRecordAnyVersion(ctx, r, item)
	}
	version := expected + 1
	cond, values := "attribute_not_exists(PK)", map[string]types.AttributeValue(nil)
	if expected > 0 {
		cond, values = "version = :expected", map[string]types.AttributeValue{":expected": avN(expected)}
	}
	out, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table), Item: item, ConditionExpression: aws.String(cond), ExpressionAttributeValues: values,
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	})
	if err != nil {
		return 0, fmt.Errorf("putting record %s/%s version %d: %w", r.Kind, r.Key, version, conflict(err))
	}
	s.countWrite(capacities(out.ConsumedCapacity)...)
	return version, nil
}

// recordItem is the item of r at version.
func recordItem(r engine.Record, version int64) map[string]types.AttributeValue {
	item := recordKey(r.Kind, r.Key)
	item[attrVersion] = avN(version)
	if len(r.Value) > 0 {
		item[attrValue] = &types.AttributeValueMemberB{Value: r.Value}
	}
	if !r.Due.IsZero() {
		due := fixedTime(r.Due)
		item[attrDue] = avS(due)
		item[attrGSI1PK] = avS(gsiDue + r.Kind)
		item[attrGSI1SK] = avS(due + "#" + r.Key)
	}
	return item
}

// putRecordAnyVersion writes r over whatever is stored (PutRecord with
// expected -1): it sets the attributes of item (recordItem's), removes
// the record's others and adds 1 to the stored version, in one UpdateItem.
func (s *Store) putRecordAnyVersion(ctx context.Context, r engine.Record, item map[string]types.AttributeValue) (int64, error) {
	names := map[string]string{"#version": attrVersion}
	values := map[string]types.AttributeValue{":one": avN(1)}
	var set, remove []string
	for i, name := range []string{attrValue, attrDue, attrGSI1PK, attrGSI1SK} {
		ref := fmt.Sprintf("#a%d", i)
		names[ref] = name
		if v, ok := item[name]; ok {
			set = append(set, fmt.Sprintf("%s = :a%d", ref, i))
			values[fmt.Sprintf(":a%d", i)] = v
		} else {
			remove = append(remove, ref)
		}
	}
	update := ""
	if len(set) > 0 {
		update += "SET " + strings.Join(set, ", ") + " "
	}
	if len(remove) > 0 {
		update += "REMOVE " + strings.Join(remove, ", ") + " "
	}
	update += "ADD #version :one"
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: recordKey(r.Kind, r.Key),
		UpdateExpression: aws.String(update), ExpressionAttributeNames: names, ExpressionAttributeValues: values,
		ReturnValues: types.ReturnValueUpdatedNew, ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	})
	if err != nil {
		return 0, fmt.Errorf("putting record %s/%s: %w", r.Kind, r.Key, err)
	}
	s.countWrite(capacities(out.ConsumedCapacity)...)
	return num(out.Attributes, attrVersion), nil
}

// DeleteRecord deletes a record, on its version when expected > 0; with
// expected 0 only when there is none (which deletes nothing, and
// conflicts with a stored record); with -1 whatever is stored.
func (s *Store) DeleteRecord(ctx context.Context, kind, key string, expected int64) error {
	if err := engine.CheckRecordName(kind, key); err != nil {
		return fmt.Errorf("deleting record %q/%q: %w", kind, key, err)
	}
	in := &dynamodb.DeleteItemInput{
		TableName: aws.String(s.table), Key: recordKey(kind, key),
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	}
	switch {
	case expected < -1:
		return fmt.Errorf("deleting record %s/%s: expected version %d: want -1, 0 or a version", kind, key, expected)
	case expected == 0:
		in.ConditionExpression = aws.String("attribute_not_exists(PK)")
	case expected > 0:
		in.ConditionExpression = aws.String("version = :expected")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":expected": avN(expected)}
	}
	out, err := s.db.DeleteItem(ctx, in)
	if err != nil {
		return fmt.Errorf("deleting record %s/%s version %d: %w", kind, key, expected, conflict(err))
	}
	s.countWrite(capacities(out.ConsumedCapacity)...)
	return nil
}

// DueRecords queries the kind's due records on GSI1, earliest first.
func (s *Store) DueRecords(ctx context.Context, kind string, now time.Time, limit int) ([]engine.Record, error) {
	if err := engine.CheckRecordKind(kind); err != nil {
		return nil, fmt.Errorf("reading due records %q: %w", kind, err)
	}
	q := &dynamodb.QueryInput{
		IndexName:              aws.String(indexGSI1),
		KeyConditionExpression: aws.String("GSI1PK = :pk AND GSI1SK < :upto"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": avS(gsiDue + kind), ":upto": avS(fixedTime(now) + "$"), // '$' sorts right after the '#' separator
		},
	}
	if limit > 0 {
		q.Limit = aws.Int32(int32(min(limit, 1<<30)))
	}
	out, err := s.queryRecords(ctx, q, limit)
	if err != nil {
		return nil, fmt.Errorf("reading due records %s: %w", kind, err)
	}
	return out, nil
}

// queryRecords runs q (up to limit items; 0: all) and decodes the records
// it finds.
func (s *Store) queryRecords(ctx context.Context, q *dynamodb.QueryInput, limit int) ([]engine.Record, error) {
	var out []engine.Record
	err := s.query(ctx, q, limit, func(item map[string]types.AttributeValue) error {
		r, err := recordOf(item)
		if err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	return out, err
}
