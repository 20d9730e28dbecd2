// Command executor is the executor Lambda function: Kafka batches from
// relay.executions, applied to their executions with one conditional write each.
// `relay dev --role executor` runs the same handler as a long-lived consumer.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/relayflow/relay/serverless"
)

func main() {
	h, err := serverless.LambdaHandler(context.Background(), serverless.RoleExecutor)
	if err != nil {
		serverless.ExitInit("starting the executor", err)
	}
	lambda.Start(h)
}
