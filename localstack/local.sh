#!/usr/bin/env bash
# Relay on LocalStack and Kafka in Docker (localstack/README.md), behind the
# Makefile's localstack-docker-* targets:
#
#   local.sh up       docker compose up --wait; check the init hooks; write
#                     .cache/localstack/env
#   local.sh deploy   sam build and sam deploy --config-env local to
#                     LocalStack; write .cache/localstack/deploy.env
#   local.sh dev      bin/relay dev on LocalStack's DynamoDB and S3 and the
#                     Kafka beside it (arguments go to relay dev)
#   local.sh down     docker compose down: LocalStack's and Kafka's state go
#
# Everything reaches LocalStack through the standard AWS_ENDPOINT_URL.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
cache=${RELAY_LOCALSTACK_CACHE:-$root/.cache/localstack}
venv=${VENV:-$root/.tools/venv}
compose_file=$here/docker-compose.yml
# 127.0.0.1 rather than localhost: an address, not a name, makes the AWS
# SDK for Python (sam) put bucket names in the path, as the Go SDK does with
# a custom endpoint (RELAY_S3_PATH_STYLE).
endpoint=http://127.0.0.1:4566
brokers=127.0.0.1:9092
region=us-east-1
stack=relay-local # samconfig.toml's local stack_name
network=relay-localstack

say() { printf 'localstack: %s\n' "$*" >&2; }
die() {
	say "$*"
	exit 1
}

# compose runs Docker Compose v2 on docker-compose.yml (need_docker chose
# the command).
compose_cmd=()
compose() { "${compose_cmd[@]}" -f "$compose_file" "$@"; }

# need_docker checks for the docker command, Docker Compose v2 and a
# daemon that answers, and says everything that is missing.
need_docker() {
	local problems=() err
	if ! command -v docker >/dev/null 2>&1; then
		problems+=("the docker command is not installed: install Docker Engine (https://docs.docker.com/engine/install/) or Docker Desktop")
	else
		if docker compose version >/dev/null 2>&1; then
			compose_cmd=(docker compose)
		elif command -v docker-compose >/dev/null 2>&1 && [[ $(docker-compose version --short 2>/dev/null) == 2.* ]]; then
			compose_cmd=(docker-compose)
		else
			problems+=("Docker Compose v2 is missing (\`docker compose version\` fails): install the Compose plugin (the docker-compose-plugin package of Docker's apt or rpm repository: https://docs.docker.com/compose/install/linux/), or use Docker Desktop, which has it")
		fi
		if ! err=$(docker info 2>&1 >/dev/null); then
			err=$(printf '%s\n' "$err" | grep -v '^[[:space:]]*$' | tail -n 1)
			problems+=("no Docker daemon answers (docker info: ${err:-it failed}): start one (sudo systemctl start docker, or open Docker Desktop), or point DOCKER_HOST at one; the Lambda functions run as containers of that daemon too")
		fi
	fi
	if ((${#problems[@]})); then
		say "cannot run LocalStack and Kafka here:"
		printf '  - %s\n' "${problems[@]}" >&2
		say "localstack/README.md lists what is needed."
		exit 1
	fi
}

# get prints the body of an HTTP GET, or fails.
get() {
	if command -v curl >/dev/null 2>&1; then
		curl -fsS --max-time 10 "$1"
	else
		python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' "$1"
	fi
}

need_localstack() {
	get "$endpoint/_localstack/health" >/dev/null 2>&1 ||
		die "LocalStack does not answer at $endpoint: start it with \`make localstack-docker-up\`"
}

# aws_env points the AWS SDKs (sam's, relay's) at LocalStack, whatever
# the shell had: service-specific endpoints (such as .cache/services/env's
# AWS_ENDPOINT_URL_S3) would win over AWS_ENDPOINT_URL.
aws_env() {
	unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL_DYNAMODB AWS_ENDPOINT_URL_S3 \
		AWS_ENDPOINT_URL_LAMBDA AWS_ENDPOINT_URL_CLOUDFORMATION AWS_ENDPOINT_URL_SECRETS_MANAGER
	export AWS_ENDPOINT_URL=$endpoint AWS_REGION=$region AWS_DEFAULT_REGION=$region
	export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
}

write_env() {
	mkdir -p "$cache"
	cat >"$cache/env" <<EOF
# Written by \`make localstack-docker-up\`: LocalStack and Kafka of localstack/docker-compose.yml.
# \`. .cache/localstack/env\` to use them from a shell; after \`make localstack-docker-deploy\`,
# \`. .cache/localstack/deploy.env\` as well for the deployed stack's table,
# bucket and API.
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL_DYNAMODB AWS_ENDPOINT_URL_S3
unset RELAY_KAFKA_TLS RELAY_KAFKA_SASL RELAY_KAFKA_SECRET RELAY_KAFKA_USERNAME RELAY_KAFKA_PASSWORD RELAY_TOPIC_PREFIX
export RELAY_KAFKA_BROKERS=$brokers
export AWS_ENDPOINT_URL=$endpoint
export AWS_REGION=$region
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export RELAY_TABLE=relay
export RELAY_BUCKET=relay-large-values
EOF
}

cmd_up() {
	need_docker
	# Running `up` again would re-run kafka-init and could restart
	# LocalStack, which keeps its state in memory: leave a running setup be.
	if compose ps --status running --services 2>/dev/null | grep -qx localstack &&
		get "$endpoint/_localstack/init/ready" 2>/dev/null | grep -Eq '"completed": *true'; then
		write_env
		say "LocalStack and Kafka are already running (\`make localstack-docker-down\` first to start afresh); settings in .cache/localstack/env"
		return
	fi
	say "starting LocalStack and Kafka (the first start pulls the images)"
	if ! compose up -d --wait; then
		compose ps -a >&2 || true
		compose logs --no-color --tail 30 kafka kafka-init localstack >&2 || true
		die "docker compose up failed (the end of the logs is above); \`make localstack-docker-down\` removes what started"
	fi
	local hooks
	hooks=$(get "$endpoint/_localstack/init/ready") || die "LocalStack does not answer at $endpoint"
	if grep -Eq '"state": *"ERROR"' <<<"$hooks"; then
		compose logs --no-color --tail 60 localstack >&2 || true
		die "an init hook failed: $hooks"
	fi
	write_env
	say "LocalStack at $endpoint, Kafka at $brokers: table relay, bucket relay-large-values, secret relay/kafka, Relay's topics"
	say "next: \`make localstack-docker-dev\` (relay dev here), or \`make localstack-docker-deploy\` (the functions into LocalStack); settings in .cache/localstack/env"
}

# lambda_arch is the GOARCH of the Docker host, on which LocalStack runs the
# functions (LAMBDA_IGNORE_ARCHITECTURE).
lambda_arch() {
	local m
	if ! m=$(docker info --format '{{.Architecture}}' 2>/dev/null) || [ -z "${m//[[:space:]]/}" ]; then
		m=$(uname -m)
	fi
	m=${m//[[:space:]]/}
	case $m in
	x86_64 | amd64) echo amd64 ;;
	aarch64 | arm64) echo arm64 ;;
	*) die "the Docker host's architecture $m is neither x86-64 nor arm64" ;;
	esac
}

cmd_deploy() {
	need_localstack
	[ -x "$venv/bin/sam" ] || die "no sam in $venv: \`make localstack-docker-deploy\` installs it (as \`make deploy\` does)"
	aws_env
	export SAM_CLI_TELEMETRY=0
	local arch
	arch=$(lambda_arch)
	cd "$root"
	say "building the functions for linux/$arch"
	LAMBDA_ARCH=$arch "$venv/bin/sam" build --config-env local
	"$venv/bin/python" "$here/deploy.py" prepare .aws-sam/local/build/template.yaml "$endpoint"
	say "deploying the $stack stack to LocalStack"
	"$venv/bin/sam" deploy --config-env local
	mkdir -p "$cache"
	"$venv/bin/python" "$here/deploy.py" finish "$stack" "$cache/deploy.env"
	say "next, the Kafka consumers the community edition lacks (localstack/README.md):"
	say "  . .cache/localstack/env && . .cache/localstack/deploy.env && bin/relay dev --role executor,worker,router"
}

cmd_dev() {
	need_localstack
	[ -x "$root/bin/relay" ] || die "no bin/relay: \`make build\` first"
	aws_env
	unset RELAY_KAFKA_TLS RELAY_KAFKA_SASL RELAY_KAFKA_SECRET RELAY_KAFKA_USERNAME RELAY_KAFKA_PASSWORD RELAY_TOPIC_PREFIX
	export RELAY_KAFKA_BROKERS=$brokers RELAY_TABLE=relay RELAY_BUCKET=relay-large-values
	exec "$root/bin/relay" dev "$@"
}

cmd_down() {
	need_docker
	if ! compose down --volumes --remove-orphans; then
		# Lambda containers that LocalStack could not stop keep the network
		# in use: remove them (they are on this project's network only).
		local left
		left=$(docker ps -aq --filter "network=$network")
		if [ -n "$left" ]; then
			say "removing the containers left on the $network network"
			# shellcheck disable=SC2086 # one id per word
			docker rm -f $left >/dev/null
		fi
		compose down --volumes --remove-orphans
	fi
	rm -f "$cache/deploy.env"
	say "LocalStack and Kafka stopped; their state is gone"
}

case ${1:-} in
up) cmd_up ;;
deploy-check) # before make installs sam: fail early
	need_localstack
	[ -x "$venv/bin/sam" ] || say "installing the SAM CLI into $venv (once; a minute or two)"
	;;
deploy) cmd_deploy ;;
dev)
	shift
	cmd_dev "$@"
	;;
down) cmd_down ;;
*) die "usage: local.sh up|deploy|dev [relay dev flags]|down (or make localstack-docker-up, -deploy, -dev, -down)" ;;
esac
