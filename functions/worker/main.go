// Command worker is the worker Lambda function: Kafka batches from
// relay.taskruns, each a task attempt run here.
// `relay dev --role worker` runs the same handler as a long-lived consumer.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/relayflow/relay/serverless"
)

func main() {
	h, err := serverless.LambdaHandler(context.Background(), serverless.RoleWorker)
	if err != nil {
		serverless.ExitInit("starting the worker", err)
	}
	lambda.Start(h)
}
