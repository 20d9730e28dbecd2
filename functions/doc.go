// Package functions holds no code: its subfolders are the main packages of
// Relay's AWS Lambda functions (executor, worker, router, scheduler, api),
// each built by `make build-<Name>Function` into a `bootstrap` binary for
// the provided.al2023 runtime, as `sam build` does (see README.md), and
// runner, the relay-runner binary of the Python and Node.js runner
// functions, which their handler (runner/python, runner/node) starts.
//
// Its test builds those binaries through the Makefile and runs each one as
// Lambda runs a custom runtime, against a local Runtime API
// (internal/lambdaruntime), Kafka and DynamoDB Local: real event JSON in,
// and the response, the table and the topics checked; the runners run under
// the real runtime interface clients (awslambdaric, aws-lambda-ric, installed
// by runner/ric.sh). Nothing here may be
// imported by the functions themselves.
package functions
