// Command api is the HTTP API Lambda function behind API Gateway (payload
// format 2.0): deploy flows, start, inspect, resume and kill executions,
// publish CloudEvents (docs/api.md). `relay dev --role api` serves the same
// handler on a local port.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/relayflow/relay/serverless"
)

func main() {
	h, err := serverless.APILambdaHandler(context.Background())
	if err != nil {
		serverless.ExitInit("starting the API", err)
	}
	lambda.Start(h)
}
