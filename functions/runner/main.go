// Command relay-runner runs script task attempts inside a runner Lambda
// function (python3.13 or nodejs22.x managed runtime): the function's
// handler, relay_runner.py or index.mjs beside it, starts it once per
// execution environment and hands it each invocation as a line on stdin
// (serverless.ServeRunner). Its logs go to stderr, which Lambda sends to
// CloudWatch.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/relayflow/relay/serverless"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With(slog.String("role", "runner"))
	ctx := context.Background()
	r, err := serverless.OpenRunner(ctx, log)
	if err != nil {
		log.Error("starting the runner", slog.Any("error", err))
		os.Exit(1)
	}
	if err := serverless.ServeRunner(ctx, r, os.Stdin, os.Stdout); err != nil {
		log.Error("serving invocations", slog.Any("error", err))
		os.Exit(1)
	}
}
