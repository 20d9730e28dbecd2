package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/relayflow/relay/engine"
)

// Leases: CLAIM#<key>, SK CLAIM, with the holder, the end of the lease
// (epoch milliseconds) and expiresAt for TTL.
const (
	pkClaim     = "CLAIM#"
	skClaim     = "CLAIM"
	attrHolder  = "holder"
	attrLeaseTo = "until"
)

// Lease grants holder the lease on key with one conditional PutItem,
// unless another holder's lease is still running (engine.Store). The item
// before the write comes back with the answer, granted or not, so that the
// caller learns who held it. DynamoDB's TTL removes it
// engine.LeaseRetention after the lease ends.
func (s *Store) Lease(ctx context.Context, key, holder string, until time.Time) (engine.LeaseResult, error) {
	now := time.Now()
	out, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item: map[string]types.AttributeValue{
			attrPK: avS(pkClaim + key), attrSK: avS(skClaim), attrHolder: avS(holder), attrLeaseTo: avN(until.UnixMilli()),
			attrExpires: avN(until.Add(engine.LeaseRetention).Unix()),
		},
		ConditionExpression:                 aws.String("attribute_not_exists(#pk) OR #holder = :holder OR #until < :now"),
		ExpressionAttributeNames:            map[string]string{"#pk": attrPK, "#holder": attrHolder, "#until": attrLeaseTo},
		ExpressionAttributeValues:           map[string]types.AttributeValue{":holder": avS(holder), ":now": avN(now.UnixMilli())},
		ReturnValues:                        types.ReturnValueAllOld,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		ReturnConsumedCapacity:              types.ReturnConsumedCapacityTotal,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return leaseOf(ccf.Item), nil
	}
	if err != nil {
		return engine.LeaseResult{}, fmt.Errorf("leasing %s: %w", key, err)
	}
	s.countWrite(capacities(out.ConsumedCapacity)...)
	res := leaseOf(out.Attributes)
	res.Granted = true
	return res, nil
}

// leaseOf reads a lease item (nil: none). An item of an earlier version,
// a claim without holder or end, counts as a lease that ended when its
// TTL says.
func leaseOf(item map[string]types.AttributeValue) engine.LeaseResult {
	if item == nil {
		return engine.LeaseResult{}
	}
	res := engine.LeaseResult{Holder: str(item, attrHolder)}
	if v, ok := item[attrLeaseTo].(*types.AttributeValueMemberN); ok {
		ms, _ := strconv.ParseInt(v.Value, 10, 64)
		res.Until = time.UnixMilli(ms)
	} else {
		res.Until = time.Unix(num(item, attrExpires), 0)
	}
	return res
}
