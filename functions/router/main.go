// Command router is the router Lambda function: Kafka batches from
// relay.events. An execution.finished event starts the flows whose flow
// triggers match it; any other CloudEvent the flows whose event triggers
// match it. `relay dev --role router` runs the same handler as a
// long-lived consumer.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/relayflow/relay/serverless"
)

func main() {
	h, err := serverless.LambdaHandler(context.Background(), serverless.RoleRouter)
	if err != nil {
		serverless.ExitInit("starting the router", err)
	}
	lambda.Start(h)
}
