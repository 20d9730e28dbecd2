#!/usr/bin/env bash
# `make test-localstack`: Relay against LocalStack on this machine, from a
# clean clone (localstack/README.md, "What make test-localstack runs"):
#
#   1. host.sh up: LocalStack (installed into .tools/localstack the first
#      time) and Kafka (services/), the init hooks' table, bucket and secret;
#   2. the Store (records included) and blob conformance suites, and the
#      rest of infra/dynamo's and infra/blob's tests, on LocalStack's
#      DynamoDB and S3;
#   3. host.sh deploy: template.yaml, through community-template, to
#      LocalStack's CloudFormation;
#   4. the tests of onlocalstack_test.go: the stack, relay dev on it, the
#      stack's schedule reaching the scheduler function.
#
# LocalStack and Kafka are stopped at the end, whatever happened, unless
# they were running before (then they are left as they were).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
cd "$root"
host=(bash "$here/host.sh")
go=${GO:-go}

started=""
cleanup() {
	local rc=$?
	if [[ -n $started ]]; then
		"${host[@]}" down || rc=1
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

t0=$SECONDS
if [[ -f .cache/localstack/localstack.pid ]] && kill -0 "$(cat .cache/localstack/localstack.pid)" 2>/dev/null; then
	echo "test-localstack: LocalStack is already running: using it, and leaving it running" >&2
else
	started=1
fi
"${host[@]}" up
t_up=$SECONDS
# shellcheck source=/dev/null
. .cache/localstack/env

echo "test-localstack: conformance suites on LocalStack's DynamoDB and S3" >&2
AWS_ENDPOINT_URL_S3=$AWS_ENDPOINT_URL RELAY_REQUIRE_SERVICES=1 \
	"$go" test -count=1 ./infra/dynamo ./infra/blob
t_suites=$SECONDS

"${host[@]}" deploy
t_deploy=$SECONDS

echo "test-localstack: the stack, relay dev on it, the schedule" >&2
RELAY_LOCALSTACK_TEST=1 "$go" test -count=1 -timeout 15m -v -run '^TestOnLocalStack$' ./localstack/ 2>&1 |
	grep -Ev '^=== (RUN|PAUSE|CONT)'
t_end=$SECONDS
"${host[@]}" status 2>&1 | sed -n 1p # LocalStack's memory after the tests (sed reads all: no SIGPIPE)
echo "test-localstack: passed in $((t_end - t0))s (up $((t_up - t0))s, suites $((t_suites - t_up))s," \
	"deploy $((t_deploy - t_suites))s, stack and relay dev $((t_end - t_deploy))s)" >&2
