// Command scheduler is the scheduler Lambda function, invoked every minute
// by an EventBridge schedule: for most of the minute it ticks every second,
// starting due schedules and firing due durable timers (retries, sleeps,
// pauses, timeouts). `relay dev --role scheduler` ticks the same way
// without end.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/relayflow/relay/serverless"
)

func main() {
	h, err := serverless.SchedulerLambdaHandler(context.Background())
	if err != nil {
		serverless.ExitInit("starting the scheduler", err)
	}
	lambda.Start(h)
}
