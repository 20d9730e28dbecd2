package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Claims: CLAIM#<key>, SK CLAIM, with expiresAt for TTL.
const (
	pkClaim = "CLAIM#"
	skClaim = "CLAIM"
)

// Claim records key once with a conditional put: true for the first
// caller, false afterwards. DynamoDB's TTL removes the claim after ttl;
// until it does, an expired claim can be taken again.
func (s *Store) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	now := time.Now()
	out, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item: map[string]types.AttributeValue{
			attrPK: avS(pkClaim + key), attrSK: avS(skClaim), attrExpires: avN(now.Add(ttl).Unix()),
		},
		ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #exp < :now"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#exp": attrExpires},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": avN(now.Unix())},
		ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claiming %s: %w", key, err)
	}
	s.countWrite(capacities(out.ConsumedCapacity)...)
	return true, nil
}
