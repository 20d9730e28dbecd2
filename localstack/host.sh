#!/usr/bin/env bash
# LocalStack on this machine, without Docker (localstack/README.md, "Host
# mode"), behind the Makefile's localstack-* targets:
#
#   host.sh up      install LocalStack (once, into .tools/localstack) and put
#                   DynamoDB Local where it expects it; start Kafka
#                   (services/) and LocalStack on 127.0.0.1; wait for the init
#                   hooks (init/ready.d); write .cache/localstack/env
#   host.sh deploy  template.yaml, less what the community edition lacks
#                   (community-template), to LocalStack's CloudFormation as
#                   the stack relay-local; write .cache/localstack/deploy.env
#   host.sh dev     bin/relay dev with those settings (arguments go to it)
#   host.sh down    stop LocalStack, and Kafka if `up` started it; their state
#                   goes with them
#   host.sh status  what runs
#   host.sh install only install LocalStack into .tools/localstack
#
# Environment:
#   RELAY_LOCALSTACK_PORT           LocalStack's gateway (default 4566)
#   RELAY_LOCALSTACK_DYNAMODB_PORT  the DynamoDB Local that LocalStack starts
#                                   (default 18002)
#   RELAY_LOCALSTACK_PYTHON         a Python 3.13 (default: pyenv's newest
#                                   3.13, else python3.13 on the PATH)
#   RELAY_LOCALSTACK_TIMEOUT        seconds to wait for LocalStack (default 300)
#   RELAY_KAFKA_PORT, RELAY_KAFKA_SASL_PORT, ...  Kafka's ports (services/)
#
# Relay reaches LocalStack through the standard AWS_ENDPOINT_URL only.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
cache=${RELAY_LOCALSTACK_CACHE:-$root/.cache/localstack}
venv=$root/.tools/localstack
fsroot=$cache/root # LocalStack's FILESYSTEM_ROOT
pid_file=$cache/localstack.pid
log_file=$cache/localstack.log
kafka_mark=$cache/kafka-started-by-up
services=(bash "$root/services/services.sh")

port=${RELAY_LOCALSTACK_PORT:-4566}
dynamodb_port=${RELAY_LOCALSTACK_DYNAMODB_PORT:-18002}
timeout=${RELAY_LOCALSTACK_TIMEOUT:-300}
endpoint=http://127.0.0.1:$port
region=us-east-1
stack=relay-local

# What is installed: requirements.txt, LocalStack 4.14.0 and what it runs on
# (moto, the SAM translator, the AWS CLI, which deploy uses), pinned as
# resolved with the dependencies of LocalStack's release. Byte-compiling
# the 500 MB at install time cost minutes; Python compiles what it imports
# at the first start instead.
pip_version=26.0.1 # the first pip with --uploaded-prior-to
uploaded_before=2026-02-27T00:00:00Z
requirements=$here/requirements.txt

# The services LocalStack loads (at start: EAGER_SERVICE_LOADING). ec2 is for
# init/ready.d/30-network.py, sqs for the schedule's queue (community-template).
localstack_services=dynamodb,s3,sqs,events,iam,sts,cloudformation,secretsmanager,logs,ec2

say() { printf 'localstack: %s\n' "$*" >&2; }
die() {
	say "$*"
	exit 1
}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# find_python sets python to a Python 3.13: under 3.11 LocalStack 4.14 fails
# at every call with a syntax error. pyenv's shims are skipped (a shim of a
# version that is not selected fails).
python=""
find_python() {
	local c candidates=()
	if [[ -n ${RELAY_LOCALSTACK_PYTHON:-} ]]; then
		candidates=("$RELAY_LOCALSTACK_PYTHON")
	else
		local pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
		if command -v pyenv >/dev/null 2>&1; then pyenv_root=$(pyenv root); fi
		mapfile -t candidates < <(ls -d "$pyenv_root"/versions/3.13*/bin/python3.13 2>/dev/null | sort -rV)
		if c=$(command -v python3.13 2>/dev/null) && [[ $c != */shims/* ]]; then candidates+=("$c"); fi
	fi
	for c in "${candidates[@]}"; do
		if "$c" -c 'import sys, venv; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then
			python=$c
			return
		fi
	done
	die "LocalStack 4.14 runs here on Python 3.13, and none was found (${candidates[*]:-no pyenv 3.13, no python3.13 on the PATH}): install it (pyenv install 3.13) or set RELAY_LOCALSTACK_PYTHON"
}

# install_localstack makes .tools/localstack once; a change of the
# requirements or of the Python installs again.
install_localstack() {
	local stamp=$venv/.installed want t0
	find_python
	want=$({ printf '%s\n' "$("$python" -VV)" "$pip_version" "$uploaded_before" && cat "$requirements"; } | sha256sum | cut -d' ' -f1)
	if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
		return
	fi
	t0=$(now)
	say "installing LocalStack 4.14.0 with $python into $venv (once; about two minutes)"
	rm -rf "$venv"
	mkdir -p "$cache"
	local pip=(env PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 "$venv/bin/python" -m pip)
	if ! {
		"$python" -m venv "$venv" &&
			"${pip[@]}" install -q "pip==$pip_version" &&
			"${pip[@]}" install -q --no-compile --uploaded-prior-to "$uploaded_before" -r "$requirements"
	} >"$cache/pip.log" 2>&1; then
		tail -n 30 "$cache/pip.log" >&2
		rm -rf "$venv"
		die "installing LocalStack failed (full output: $cache/pip.log)"
	fi
	echo "$want" >"$stamp"
	say "LocalStack installed in $(since "$t0")s"
}

# install_dynamodb puts DynamoDB Local where LocalStack looks for it
# (<var_libs>/dynamodb-local/2), since LocalStack's own download of it is
# not reachable from every machine: services/ fetches DynamoDB Local 3.3.1
# from Maven Central and compiles services/dynamodb/LoopbackDynamoDB.java,
# which binds it to 127.0.0.1. DynamoDBLocal.jar here is that launcher, its
# manifest naming the fetched jars; LocalStack runs it with `java
# -javaagent:ddb-local-loader-0.1.jar -Djava.library.path=DynamoDBLocal_lib
# -jar DynamoDBLocal.jar -port N -inMemory`. The agent it names is a patch
# LocalStack downloads from GitHub to allow over 20 indexes per table
# (Relay's table has two); the launcher's no-op premain stands in for it.
install_dynamodb() {
	local svc=$root/.cache/services/dynamodb dir jar javac f manifest
	"${services[@]}" fetch dynamodb
	[[ -f $svc/classes/LoopbackDynamoDB.class ]] ||
		die "services/ did not compile the DynamoDB Local launcher (a JDK, with javac and jar, is needed)"
	javac=$(readlink -f "$(command -v javac)")
	jar=${javac%/*}/jar
	[[ -x $jar ]] || die "no jar tool beside $javac"
	dir=$fsroot/var/lib/localstack/lib/dynamodb-local/2
	rm -rf "$dir"
	mkdir -p "$dir/DynamoDBLocal_lib"
	manifest=$cache/dynamodb-manifest.txt
	{
		echo "Main-Class: LoopbackDynamoDB"
		echo "Premain-Class: LoopbackDynamoDB"
		echo "Class-Path: DynamoDBLocal_lib/"
		for f in "$svc"/lib/*.jar; do
			ln -s "$f" "$dir/DynamoDBLocal_lib/"
			echo "  DynamoDBLocal_lib/${f##*/}" # a continuation line: a space, then " name"
		done
	} >"$manifest"
	ln -s "$svc/native/libsqlite4java-linux-amd64.so" "$dir/DynamoDBLocal_lib/"
	"$jar" --create --file "$dir/DynamoDBLocal.jar" --manifest "$manifest" -C "$svc/classes" .
	ln -s DynamoDBLocal.jar "$dir/ddb-local-loader-0.1.jar"
}

running() {
	local pid
	pid=$(cat "$pid_file" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
		tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$venv/bin/python -m localstack.runtime.main"
}

port_open() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

get() { curl -fsS --max-time 5 "$1"; }

# kafka_env prints the Kafka settings of services/ (.cache/services/env).
kafka_env() {
	local f=$root/.cache/services/env
	[[ -f $f ]] || die "no $f: Kafka is not running"
	# shellcheck source=/dev/null
	(. "$f" && printf '%s\n' "${!1:?$1 is not in $f}")
}

start_kafka() {
	if "${services[@]}" running | grep -qx kafka; then
		say "Kafka (services/) is already running: using it"
		return
	fi
	"${services[@]}" up kafka
	: >"$kafka_mark"
}

start_localstack() {
	local user password t0 hooks
	user=$(kafka_env RELAY_TEST_KAFKA_SASL_USERNAME)
	password=$(kafka_env RELAY_TEST_KAFKA_SASL_PASSWORD)
	for p in "$port" "$dynamodb_port"; do
		port_open "$p" && die "127.0.0.1:$p is in use: another LocalStack? (set RELAY_LOCALSTACK_PORT or RELAY_LOCALSTACK_DYNAMODB_PORT)"
	done
	mkdir -p "$fsroot/etc/localstack"
	ln -sfn "$here/init" "$fsroot/etc/localstack/init"
	t0=$(now)
	# In a session of its own, so that a Ctrl-C meant for make does not
	# reach it; it stops through `down`. Only the settings below reach it,
	# none of the shell's AWS_* variables.
	(
		cd "$cache"
		exec setsid env -i HOME="$HOME" PATH="$venv/bin:$PATH" LANG=C.UTF-8 \
			OVERRIDE_IN_DOCKER=0 FILESYSTEM_ROOT="$fsroot" \
			GATEWAY_LISTEN="127.0.0.1:$port" GATEWAY_SERVER=hypercorn LOCALSTACK_HOST="127.0.0.1:$port" \
			DNS_ADDRESS=0 SKIP_SSL_CERT_DOWNLOAD=1 DISABLE_EVENTS=1 \
			SERVICES="$localstack_services" EAGER_SERVICE_LOADING=1 \
			DYNAMODB_LOCAL_PORT="$dynamodb_port" DYNAMODB_IN_MEMORY=1 SQS_ENDPOINT_STRATEGY=path \
			RELAY_KAFKA_USERNAME="$user" RELAY_KAFKA_PASSWORD="$password" \
			"$venv/bin/python" -m localstack.runtime.main
	) >"$log_file" 2>&1 </dev/null &
	echo $! >"$pid_file"
	say "LocalStack starting (pid $!, log $log_file)"
	local deadline=$((SECONDS + timeout)) up=""
	while :; do
		kill -0 "$(cat "$pid_file")" 2>/dev/null || {
			tail -n 40 "$log_file" >&2
			die "LocalStack exited while starting (log: $log_file)"
		}
		if [[ -z $up ]] && get "$endpoint/_localstack/health" >/dev/null 2>&1; then
			up=$(since "$t0")
			say "gateway up on $endpoint after ${up}s; waiting for the init hooks"
		fi
		if hooks=$(get "$endpoint/_localstack/init/ready" 2>/dev/null); then
			if grep -Eq '"state": *"ERROR"' <<<"$hooks"; then
				tail -n 60 "$log_file" >&2
				die "an init hook failed: $hooks"
			fi
			grep -Eq '"completed": *true' <<<"$hooks" && break
		fi
		((SECONDS < deadline)) || {
			tail -n 40 "$log_file" >&2
			die "LocalStack not ready after ${timeout}s (log: $log_file)"
		}
		sleep 0.5
	done
	say "LocalStack ready after $(since "$t0")s (services loaded, hooks run); memory: $(memory)"
}

# memory is the resident memory of LocalStack and of what it started
# (DynamoDB Local).
memory() {
	local pid
	pid=$(cat "$pid_file")
	# shellcheck disable=SC2046 # one pid per word
	ps -o rss=,args= -p "$pid" $(descendants "$pid" | sed 's/^/-p /') | awk '{ if ($0 ~ /java/) j += $1; else p += $1 }
		END { printf "%d MB (LocalStack %d MB, DynamoDB Local %d MB)", (p + j) / 1024, p / 1024, j / 1024 }'
}

aws_env() {
	unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL_DYNAMODB AWS_ENDPOINT_URL_S3 \
		AWS_ENDPOINT_URL_SECRETS_MANAGER AWS_ENDPOINT_URL_CLOUDFORMATION
	export AWS_ENDPOINT_URL=$endpoint AWS_REGION=$region AWS_DEFAULT_REGION=$region
	export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
}

awscli() { "$venv/bin/aws" --endpoint-url "$endpoint" --region "$region" --output text "$@"; }

secret_arn() { awscli secretsmanager describe-secret --secret-id relay/kafka --query ARN; }

write_env() {
	local brokers arn
	brokers=$(kafka_env RELAY_TEST_KAFKA_SASL_BROKERS)
	arn=$(aws_env && secret_arn)
	mkdir -p "$cache"
	cat >"$cache/env" <<EOF
# Written by \`make localstack-up\`: LocalStack on this machine and the Kafka of
# services/. \`. .cache/localstack/env\` to use them from a shell; after
# \`make localstack-deploy\`, \`. .cache/localstack/deploy.env\` as well for the
# stack's table and bucket. Relay signs in to Kafka (SASL/SCRAM-SHA-512) with
# the credentials of the secret relay/kafka, read from LocalStack's Secrets
# Manager as the functions read it on AWS.
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL_DYNAMODB AWS_ENDPOINT_URL_S3 AWS_ENDPOINT_URL_SECRETS_MANAGER
unset RELAY_KAFKA_USERNAME RELAY_KAFKA_PASSWORD RELAY_TOPIC_PREFIX
export AWS_ENDPOINT_URL=$endpoint
export AWS_REGION=$region
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export RELAY_KAFKA_BROKERS=$brokers
export RELAY_KAFKA_TLS=false
export RELAY_KAFKA_SASL=scram-sha-512
export RELAY_KAFKA_SECRET=$arn
export RELAY_TABLE=relay
export RELAY_BUCKET=relay-large-values
EOF
}

cmd_up() {
	mkdir -p "$cache"
	if running && get "$endpoint/_localstack/init/ready" 2>/dev/null | grep -Eq '"completed": *true'; then
		write_env
		say "LocalStack is already running (\`make localstack-down\` first to start afresh); settings in $cache/env"
		return
	fi
	command -v curl >/dev/null || die "curl is needed"
	command -v setsid >/dev/null || die "setsid (util-linux) is needed"
	install_localstack
	install_dynamodb
	start_kafka
	start_localstack
	write_env
	say "table relay, bucket relay-large-values, secret relay/kafka; Kafka at $(kafka_env RELAY_TEST_KAFKA_SASL_BROKERS) (SASL)"
	say "next: \`make localstack-deploy\` (the stack), \`make localstack-dev\` (relay dev); settings in .cache/localstack/env"
}

cmd_deploy() {
	local t0 arn brokers template=$cache/community.yaml
	running || die "LocalStack is not running: \`make localstack-up\` first"
	aws_env
	t0=$(now)
	(cd "$root" && go run ./localstack/community-template template.yaml) >"$template"
	arn=$(secret_arn)
	brokers=$(kafka_env RELAY_TEST_KAFKA_SASL_BROKERS)
	say "deploying the $stack stack ($template)"
	# The parameters of a self-managed cluster: services/' Kafka, the secret
	# and the network of the init hooks (as samconfig.toml's local
	# environment names them); MSKClusterArn is unused with SelfManagedKafka.
	awscli cloudformation deploy --stack-name "$stack" --template-file "$template" \
		--capabilities CAPABILITY_IAM --no-fail-on-empty-changeset --parameter-overrides \
		KafkaSource=SelfManagedKafka "KafkaBootstrapServers=$brokers" "KafkaSecretArn=$arn" \
		MSKClusterArn=arn:aws:kafka:us-east-1:000000000000:cluster/relay-local/00000000-0000-0000-0000-000000000000-1 \
		SubnetIds=subnet-00000000000000a01,subnet-00000000000000a02 SecurityGroupIds=sg-00000000000000a01 >&2
	local table bucket
	table=$(awscli cloudformation describe-stacks --stack-name "$stack" --query "Stacks[0].Outputs[?OutputKey=='TableName'].OutputValue")
	bucket=$(awscli cloudformation describe-stacks --stack-name "$stack" --query "Stacks[0].Outputs[?OutputKey=='BucketName'].OutputValue")
	cat >"$cache/deploy.env" <<EOF
# Written by \`make localstack-deploy\`: the $stack stack on LocalStack.
# Source it after .cache/localstack/env.
export RELAY_TABLE=$table
export RELAY_BUCKET=$bucket
EOF
	say "$stack deployed in $(since "$t0")s: table $table, bucket $bucket; settings in .cache/localstack/deploy.env"
}

cmd_dev() {
	running || die "LocalStack is not running: \`make localstack-up\` first"
	[[ -x $root/bin/relay ]] || die "no bin/relay: \`make build\` first"
	# shellcheck source=/dev/null
	. "$cache/env"
	# shellcheck source=/dev/null
	if [[ -f $cache/deploy.env ]]; then . "$cache/deploy.env"; fi
	exec "$root/bin/relay" dev "$@"
}

# descendants prints the pids of the processes under pid.
descendants() {
	local c
	for c in $(pgrep -P "$1"); do
		echo "$c"
		descendants "$c"
	done
}

cmd_down() {
	local pid i
	if running; then
		pid=$(cat "$pid_file")
		kill -TERM "$pid"
		for ((i = 0; i < 300; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			# A TERM that comes while it starts can leave it running
			# (its shutdown thread fails): kill it and the DynamoDB Local
			# it started, which runs in a session of its own.
			say "LocalStack still running 30s after TERM: killing it"
			kill -KILL $(descendants "$pid") "$pid" 2>/dev/null || true
		fi
		say "LocalStack stopped (pid $pid)"
	fi
	rm -f "$pid_file" "$cache/env" "$cache/deploy.env"
	rm -rf "$fsroot/tmp" "$fsroot/var/lib/localstack/tmp"
	if [[ -f $kafka_mark ]]; then
		"${services[@]}" down kafka
		rm -f "$kafka_mark"
	fi
}

cmd_status() {
	if running; then
		say "LocalStack running (pid $(cat "$pid_file")) at $endpoint; memory: $(memory); log $log_file"
	else
		say "LocalStack stopped"
	fi
	"${services[@]}" status
}

case ${1:-} in
up) cmd_up ;;
deploy) cmd_deploy ;;
dev)
	shift
	cmd_dev "$@"
	;;
down) cmd_down ;;
status) cmd_status ;;
install) install_localstack ;;
*) die "usage: host.sh up|deploy|dev [relay dev flags]|down|status|install (or make localstack-up, localstack-deploy, localstack-dev, localstack-down)" ;;
esac
