#!/usr/bin/env bash
# Local services for Relay's integration tests: Apache Kafka (KRaft, one node
# acting as broker and controller) and DynamoDB Local, run from their Maven
# Central jars with the machine's Java, and an S3 server (moto's, from PyPI in
# a virtualenv, with the machine's Python 3), listening on 127.0.0.1 only.
# See services/README.md.
#
#   services.sh up   [kafka|dynamodb|s3 ...]  start (all by default), wait
#                                             until they answer, write the
#                                             env file
#   services.sh down [kafka|dynamodb|s3 ...]  stop (all by default); Kafka's
#                                             and S3's data is wiped
#   services.sh status                        what runs, where, and the logs
#   services.sh running                       names of the running services
#   services.sh fetch                         only download the jars and the
#                                             Python packages into the cache
#   services.sh broker DIR PORT CTRL SASL     run another single-node Kafka in
#                                             the foreground (exec: its pid is
#                                             the JVM's), on these ports, its
#                                             data in DIR, formatted the first
#                                             time and kept across restarts:
#                                             for tests that kill -9 a broker
#
# Environment:
#   RELAY_KAFKA_BROKERS, AWS_ENDPOINT_URL,  when set to something other than
#   AWS_ENDPOINT_URL_S3                     the local endpoints below, that
#                                           service is not started
#                                           (LocalStack, a cluster, AWS)
#   RELAY_DYNAMODB_DATA=DIR                DynamoDB Local keeps its tables in
#                                          DIR (-dbPath) instead of in memory
#   RELAY_SERVICES_CACHE=DIR               cache (default: <repo>/.cache/services)
#   RELAY_SERVICES_TIMEOUT=SECONDS         readiness timeout (default 90)
#   RELAY_SERVICES_OFFLINE=1               run Maven offline (-o) and pip from
#                                          the cached wheels only
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
CACHE="${RELAY_SERVICES_CACHE:-$ROOT/.cache/services}"
if [[ $CACHE != /* ]]; then CACHE="$PWD/$CACHE"; fi
ENV_FILE="$CACHE/env"
TIMEOUT="${RELAY_SERVICES_TIMEOUT:-90}"
STOP_GRACE=10 # seconds between TERM and KILL

# Ports, each movable by its variable (two checkouts' services side by side);
# kafka/server.properties has the defaults, rewritten at start.
HOST=127.0.0.1
KAFKA_PORT="${RELAY_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${RELAY_KAFKA_CONTROLLER_PORT:-19093}"
KAFKA_SASL_PORT="${RELAY_KAFKA_SASL_PORT:-19094}" # SASL_PLAINTEXT, SCRAM-SHA-512
DYNAMODB_PORT="${RELAY_DYNAMODB_PORT:-18000}"
S3_PORT="${RELAY_S3_PORT:-18001}"
KAFKA_BROKERS="$HOST:$KAFKA_PORT"
KAFKA_SASL_BROKERS="$HOST:$KAFKA_SASL_PORT"
# The SCRAM user of the SASL listener, created when the storage is formatted;
# the env file passes it to the authentication tests. A test password.
KAFKA_SASL_USER=relay
KAFKA_SASL_PASSWORD=relay-secret
DYNAMODB_URL="http://$HOST:$DYNAMODB_PORT"
S3_URL="http://$HOST:$S3_PORT"
# Fixed cluster id: base64url of the 16 bytes "RelayLocalKafka1". The data
# directory is formatted anew at each start, so it never has to change.
KAFKA_CLUSTER_ID=UmVsYXlMb2NhbEthZmthMQ
ALL_SERVICES=(kafka dynamodb s3)

log() { printf 'services: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

pid_file() { printf '%s/%s.pid\n' "$CACHE" "$1"; }
svc_dir() { printf '%s/%s\n' "$CACHE" "$1"; }

# The log to show when a service fails.
svc_log() {
	case "$1" in
	kafka) printf '%s/logs/server.log\n' "$(svc_dir kafka)" ;;
	dynamodb) printf '%s/logs/dynamodb.log\n' "$(svc_dir dynamodb)" ;;
	s3) printf '%s/logs/s3.log\n' "$(svc_dir s3)" ;;
	esac
}

svc_ports() {
	case "$1" in
	kafka) echo "$KAFKA_PORT $KAFKA_CONTROLLER_PORT $KAFKA_SASL_PORT" ;;
	dynamodb) echo "$DYNAMODB_PORT" ;;
	s3) echo "$S3_PORT" ;;
	esac
}

svc_pid() {
	local pid
	pid="$(cat "$(pid_file "$1")" 2>/dev/null)" || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	echo "$pid"
}

# True when the pid file names a live process that is this service (the pid
# may have been reused since: a JVM's command line carries
# -Drelay.service=NAME, the S3 server's the path of the cache's moto_server).
running() {
	local pid marker="-Drelay.service=$1"
	pid="$(svc_pid "$1")" || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	if [[ $1 == s3 ]]; then marker="$(svc_dir s3)/venv/bin/moto_server"; fi
	if [[ -r /proc/$pid/cmdline ]]; then
		tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF -- "$marker"
	fi
}

# Serialises up and down (two `make test` in one checkout at once). Callers
# that hold the lock themselves (with-services.sh) set RELAY_SERVICES_LOCK_HELD.
# The services are started with fd 9 closed so that they never hold it.
lock() {
	mkdir -p "$CACHE"
	if [[ ${RELAY_SERVICES_LOCK_HELD:-} == 1 ]] || ! command -v flock >/dev/null; then
		return
	fi
	exec 9>"$CACHE/lock"
	if ! flock -n 9; then
		log "waiting for another services.sh in $CACHE"
		flock 9
	fi
}

port_open() { (: <"/dev/tcp/$HOST/$1") 2>/dev/null; }

# A service is "external" when its variable already points somewhere else.
external() {
	case "$1" in
	kafka) [[ -n ${RELAY_KAFKA_BROKERS:-} && $RELAY_KAFKA_BROKERS != "$KAFKA_BROKERS" ]] ;;
	dynamodb) [[ -n ${AWS_ENDPOINT_URL:-} && ${AWS_ENDPOINT_URL%/} != "$DYNAMODB_URL" ]] ;;
	s3) [[ -n ${AWS_ENDPOINT_URL_S3:-} && ${AWS_ENDPOINT_URL_S3%/} != "$S3_URL" ]] ;;
	esac
}

# Sets SERVICES to the named services, or to all of them.
SERVICES=()
parse_services() {
	local s
	SERVICES=()
	if (($# == 0)); then
		SERVICES=("${ALL_SERVICES[@]}")
		return
	fi
	for s in "$@"; do
		case "$s" in
		kafka | dynamodb | s3) SERVICES+=("$s") ;;
		*) die "unknown service '$s' (kafka, dynamodb, s3)" ;;
		esac
	done
}

# ---------------------------------------------------------------- java, maven

JAVA=""
find_java() {
	if [[ -n $JAVA ]]; then return; fi
	if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then
		JAVA="$JAVA_HOME/bin/java"
	else
		JAVA="$(command -v java)" || die "java not found: Kafka 4 and DynamoDB Local need Java 17 or newer"
	fi
	local v
	v="$("$JAVA" -XshowSettings:properties -version 2>&1 | awk -F' = ' '/java.specification.version/ {print $2}')"
	if ! [[ $v =~ ^[0-9]+$ ]] || ((v < 17)); then
		die "$JAVA is Java ${v:-?}: Kafka 4 and DynamoDB Local need Java 17 or newer (set JAVA_HOME)"
	fi
}

# Finds what the named services run on: Java for Kafka and DynamoDB Local,
# Python for S3.
find_tools() {
	local svc
	for svc in "$@"; do
		case "$svc" in
		kafka | dynamodb) find_java ;;
		s3) find_python ;;
		esac
	done
}

# javac next to the java in use (for the DynamoDB Local launcher).
find_javac() {
	local real
	real="$(readlink -f "$JAVA")"
	if [[ -x ${real%/*}/javac ]]; then
		echo "${real%/*}/javac"
	else
		command -v javac
	fi
}

# What the lib dir (the virtualenv for s3) was resolved from; a change
# re-resolves.
stamp_of() {
	if [[ $1 == s3 ]]; then
		{
			cat "$HERE/s3/requirements.txt"
			"$PYTHON" -c 'import sys; print(sys.version)'
		} | sha256sum | cut -d' ' -f1
		return
	fi
	local files=("$HERE/$1/pom.xml")
	if [[ $1 == dynamodb ]]; then files+=("$HERE/dynamodb/LoopbackDynamoDB.java"); fi
	cat "${files[@]}" | sha256sum | cut -d' ' -f1
}

# Downloads a service's jars into <cache>/<service>/lib once (for s3, its
# Python packages into a virtualenv); later runs only compare the stamp and
# need no network.
resolve() {
	local svc="$1" dir stamp want
	dir="$(svc_dir "$svc")"
	stamp="$dir/.resolved"
	want="$(stamp_of "$svc")"
	if [[ -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
		return
	fi
	if [[ $svc == s3 ]]; then
		resolve_s3 "$dir"
		echo "$want" >"$stamp"
		return
	fi
	command -v mvn >/dev/null || die "mvn not found: Maven resolves the $svc jars (apt-get install maven)"
	rm -rf "${dir:?}/lib" "$dir/native" "$dir/classes" "$stamp"
	mkdir -p "$dir/logs"
	local t0=$SECONDS
	log "$svc: downloading jars with Maven into $dir/lib (first run only)"
	local flags=(-q -B "-Dmaven.repo.local=$CACHE/m2" -f "$HERE/$svc/pom.xml")
	if [[ ${RELAY_SERVICES_OFFLINE:-} == 1 ]]; then flags+=(-o); fi
	if ! mvn "${flags[@]}" dependency:copy-dependencies "-DoutputDirectory=$dir/lib" >"$dir/logs/mvn.log" 2>&1; then
		tail -n 30 "$dir/logs/mvn.log" >&2
		die "$svc: Maven could not resolve the jars (full output: $dir/logs/mvn.log)"
	fi
	if [[ $svc == dynamodb ]]; then
		prepare_dynamodb "$dir"
	fi
	echo "$want" >"$stamp"
	log "$svc: jars ready in $((SECONDS - t0))s"
}

# The Python that runs the S3 server: python3, 3.9 or newer, with venv.
PYTHON=""
find_python() {
	if [[ -n $PYTHON ]]; then return; fi
	PYTHON="$(command -v python3)" || die "python3 not found: the S3 server (moto) needs Python 3.9 or newer"
	"$PYTHON" -c 'import sys, venv; sys.exit(sys.version_info < (3, 9))' 2>/dev/null ||
		die "$PYTHON is not Python 3.9 or newer with the venv module: the S3 server (moto) needs it (apt-get install python3-venv)"
}

# Installs services/s3/requirements.txt into <cache>/s3/venv. The wheels are
# downloaded into <cache>/s3/wheels first and installed from there, so a
# later rebuild works offline (RELAY_SERVICES_OFFLINE=1).
resolve_s3() {
	local dir="$1" t0=$SECONDS req="$HERE/s3/requirements.txt"
	rm -rf "${dir:?}/venv" "$dir/.resolved"
	mkdir -p "$dir/logs" "$dir/wheels"
	log "s3: installing moto (services/s3/requirements.txt) into $dir/venv (first run only)"
	local pip=(env PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 "$dir/venv/bin/python" -m pip)
	local ok=1
	"$PYTHON" -m venv "$dir/venv" >"$dir/logs/pip.log" 2>&1 || ok=""
	if [[ -n $ok && ${RELAY_SERVICES_OFFLINE:-} != 1 ]]; then
		"${pip[@]}" download -q -d "$dir/wheels" -r "$req" >>"$dir/logs/pip.log" 2>&1 || ok=""
	fi
	if [[ -n $ok ]]; then
		"${pip[@]}" install -q --no-index --find-links "$dir/wheels" -r "$req" >>"$dir/logs/pip.log" 2>&1 || ok=""
	fi
	if [[ -z $ok ]]; then
		tail -n 30 "$dir/logs/pip.log" >&2
		rm -rf "${dir:?}/venv"
		die "s3: installing moto failed (full output: $dir/logs/pip.log)"
	fi
	log "s3: moto ready in $((SECONDS - t0))s"
}

prepare_dynamodb() {
	local dir="$1" so javac
	# sqlite4java loads lib<name>.so by its unversioned name from
	# java.library.path.
	so="$(find "$dir/lib" -maxdepth 1 -name 'libsqlite4java-linux-amd64-*.so' | head -n 1)"
	[[ -n $so ]] || die "dynamodb: libsqlite4java-linux-amd64 not among the resolved files in $dir/lib"
	mkdir -p "$dir/native"
	cp "$so" "$dir/native/libsqlite4java-linux-amd64.so"
	# The launcher that binds DynamoDB Local to 127.0.0.1.
	if javac="$(find_javac)"; then
		mkdir -p "$dir/classes"
		if ! "$javac" --release 17 -nowarn -cp "$dir/lib/*" -d "$dir/classes" \
			"$HERE/dynamodb/LoopbackDynamoDB.java" >"$dir/logs/javac.log" 2>&1; then
			cat "$dir/logs/javac.log" >&2
			die "dynamodb: could not compile services/dynamodb/LoopbackDynamoDB.java"
		fi
	else
		log "dynamodb: warning: no javac (a JDK, not only a JRE, is needed to compile the launcher);" \
			"DynamoDB Local will listen on all interfaces, port $DYNAMODB_PORT"
	fi
}

# ------------------------------------------------------------------ start

# The services run in a session of their own: a Ctrl-C or hang-up meant for
# the command that started them (make, a test run sharing them) does not reach
# them; they stop only through `down`. setsid does not fork here (the
# subshells below are not process-group leaders), so $! stays their pid.
if command -v setsid >/dev/null; then
	DETACH=(setsid)
else
	DETACH=(nohup)
fi

start_kafka() {
	local dir conf data
	dir="$(svc_dir kafka)"
	conf="$dir/server.properties"
	data="$dir/data"
	mkdir -p "$dir/logs"
	# Every start begins with an empty broker.
	rm -rf "$data"
	{
		# The ports of the file are the defaults; RELAY_KAFKA_PORT,
		# RELAY_KAFKA_CONTROLLER_PORT and RELAY_KAFKA_SASL_PORT move them.
		# Through placeholders, so that a port moved onto another's default
		# is not moved again.
		sed -e 's/:19092/:@BROKER_PORT@/g' -e 's/:19093/:@CONTROLLER_PORT@/g' -e 's/:19094/:@SASL_PORT@/g' \
			-e "s/@BROKER_PORT@/$KAFKA_PORT/g" -e "s/@CONTROLLER_PORT@/$KAFKA_CONTROLLER_PORT/g" \
			-e "s/@SASL_PORT@/$KAFKA_SASL_PORT/g" "$HERE/kafka/server.properties"
		printf '\n# Added by services/services.sh\nlog.dirs=%s\n' "${data//\\/\\\\}"
	} >"$conf"
	local jvm_log=("-Dkafka.logs.dir=$dir/logs" "-Dlog4j2.configurationFile=$HERE/kafka/log4j2.xml")
	# The SASL listener's user goes into the metadata log with the format.
	if ! "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 "${jvm_log[@]}" -cp "$dir/lib/*" \
		kafka.tools.StorageTool format --cluster-id "$KAFKA_CLUSTER_ID" --config "$conf" \
		--add-scram "SCRAM-SHA-512=[name=$KAFKA_SASL_USER,password=$KAFKA_SASL_PASSWORD]" \
		>"$dir/logs/format.log" 2>&1; then
		cat "$dir/logs/format.log" >&2
		die "kafka: formatting the storage in $data failed"
	fi
	(
		cd "$dir"
		exec "${DETACH[@]}" "$JAVA" -Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
			-XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
			-Drelay.service=kafka "${jvm_log[@]}" \
			-cp "$dir/lib/*" kafka.Kafka "$conf"
	) >"$dir/logs/stdout.log" 2>&1 </dev/null 9>&- &
	echo "$!" >"$(pid_file kafka)"
}

start_dynamodb() {
	local dir main args
	dir="$(svc_dir dynamodb)"
	mkdir -p "$dir/logs"
	args=(-port "$DYNAMODB_PORT" -disableTelemetry)
	if [[ -n ${RELAY_DYNAMODB_DATA:-} ]]; then
		mkdir -p "$RELAY_DYNAMODB_DATA"
		args+=(-dbPath "$(cd "$RELAY_DYNAMODB_DATA" && pwd)" -sharedDb)
	else
		args+=(-inMemory -sharedDb)
	fi
	if [[ -f $dir/classes/LoopbackDynamoDB.class ]]; then
		main=LoopbackDynamoDB
	else
		main=software.amazon.dynamodb.services.local.main.ServerRunner
		log "dynamodb: warning: launcher not compiled, listening on all interfaces"
	fi
	(
		cd "$dir"
		exec "${DETACH[@]}" "$JAVA" -Xms64m -Xmx512m -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
			-Drelay.service=dynamodb "-Drelay.dynamodb.host=$HOST" "-Djava.library.path=$dir/native" \
			-cp "$dir/classes:$dir/lib/*" "$main" "${args[@]}"
	) >"$dir/logs/dynamodb.log" 2>&1 </dev/null 9>&- &
	echo "$!" >"$(pid_file dynamodb)"
}

start_s3() {
	local dir
	dir="$(svc_dir s3)"
	mkdir -p "$dir/logs"
	# In memory: every start is an empty S3.
	(
		cd "$dir"
		exec "${DETACH[@]}" "$dir/venv/bin/moto_server" -H "$HOST" -p "$S3_PORT"
	) >"$dir/logs/s3.log" 2>&1 </dev/null 9>&- &
	echo "$!" >"$(pid_file s3)"
}

# ------------------------------------------------------------------ readiness

# Whether the running broker has the SASL listener: one started by an older
# services.sh has none until it is restarted.
kafka_has_sasl() {
	grep -q '^listeners=.*SASL_PLAINTEXT://' "$(svc_dir kafka)/server.properties" 2>/dev/null
}

# The broker ports accept connections and a metadata request (listing topics
# through the admin client) answers.
ready_kafka() {
	local dir
	dir="$(svc_dir kafka)"
	port_open "$KAFKA_PORT" || return 1
	if kafka_has_sasl; then
		port_open "$KAFKA_SASL_PORT" || return 1
	fi
	printf 'request.timeout.ms=5000\ndefault.api.timeout.ms=10000\n' >"$dir/probe.properties"
	timeout 30 "$JAVA" -Xmx128m -XX:TieredStopAtLevel=1 -cp "$dir/lib/*" \
		org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA_BROKERS" --list \
		--command-config "$dir/probe.properties" >"$dir/logs/ready.log" 2>&1
}

# ListTables answers 200.
ready_dynamodb() {
	local code
	code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 -X POST \
		-H 'Content-Type: application/x-amz-json-1.0' \
		-H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
		-H 'X-Amz-Date: 20240101T000000Z' \
		-H 'Authorization: AWS4-HMAC-SHA256 Credential=local/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0' \
		--data '{}' "$DYNAMODB_URL/")" || true
	[[ $code == 200 ]]
}

# ListBuckets answers 200.
ready_s3() {
	local code
	code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$S3_URL/")" || true
	[[ $code == 200 ]]
}

show_log_tail() {
	local svc="$1" f
	for f in "$(svc_log "$svc")" "$(svc_dir "$svc")/logs/stdout.log" "$(svc_dir "$svc")/logs/ready.log"; do
		if [[ -s $f ]]; then
			log "---- last lines of $f"
			tail -n 25 "$f" >&2
		elif [[ $f == "$(svc_log "$svc")" ]]; then
			log "---- $f is empty or missing"
		fi
	done
}

# ------------------------------------------------------------------ stop

stop_one() {
	local svc="$1" pid i
	if running "$svc"; then
		pid="$(svc_pid "$svc")"
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < STOP_GRACE * 10; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			log "$svc: still running ${STOP_GRACE}s after TERM, killing pid $pid"
			kill -KILL "$pid" 2>/dev/null || true
			for ((i = 0; i < 50; i++)); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.1
			done
		fi
		log "$svc: stopped (pid $pid)"
	fi
	rm -f "$(pid_file "$svc")"
	if [[ $svc == kafka ]]; then
		rm -rf "$(svc_dir kafka)/data"
	fi
}

# ------------------------------------------------------------------ env file

# The env file exports the endpoints of the local services that run, except
# those the environment already points elsewhere: sourcing it never replaces
# an external endpoint (or real AWS credentials) with local ones. The local
# S3 comes with the local credentials unless DynamoDB is external (its
# credentials then serve both).
write_env() {
	local lines=() creds=""
	if running kafka && ! external kafka; then
		lines+=("export RELAY_KAFKA_BROKERS=$KAFKA_BROKERS")
		if kafka_has_sasl; then
			lines+=(
				"export RELAY_TEST_KAFKA_SASL_BROKERS=$KAFKA_SASL_BROKERS"
				"export RELAY_TEST_KAFKA_SASL_USERNAME=$KAFKA_SASL_USER"
				"export RELAY_TEST_KAFKA_SASL_PASSWORD=$KAFKA_SASL_PASSWORD"
			)
		fi
	fi
	if running dynamodb && ! external dynamodb; then
		lines+=("export AWS_ENDPOINT_URL=$DYNAMODB_URL")
		creds=1
	fi
	if running s3 && ! external s3; then
		lines+=("export AWS_ENDPOINT_URL_S3=$S3_URL")
		if ! external dynamodb; then creds=1; fi
	fi
	if [[ -n $creds ]]; then
		lines+=(
			"export AWS_REGION=us-east-1"
			"export AWS_ACCESS_KEY_ID=local"
			"export AWS_SECRET_ACCESS_KEY=local"
		)
	fi
	if ((${#lines[@]} == 0)); then
		rm -f "$ENV_FILE"
		return
	fi
	mkdir -p "$CACHE"
	{
		echo "# Written by services/services.sh for the services it runs; source it."
		printf '%s\n' "${lines[@]}"
	} >"$ENV_FILE.tmp"
	mv "$ENV_FILE.tmp" "$ENV_FILE"
}

# ------------------------------------------------------------------ commands

cmd_up() {
	local todo=() started=() svc p
	parse_services "$@"
	for svc in "${SERVICES[@]}"; do
		if external "$svc"; then
			case "$svc" in
			kafka) log "kafka: RELAY_KAFKA_BROKERS=$RELAY_KAFKA_BROKERS is set, not starting Kafka" ;;
			dynamodb) log "dynamodb: AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL is set, not starting DynamoDB Local" ;;
			s3) log "s3: AWS_ENDPOINT_URL_S3=$AWS_ENDPOINT_URL_S3 is set, not starting the S3 server" ;;
			esac
		else
			todo+=("$svc")
		fi
	done
	if ((${#todo[@]} == 0)); then
		log "nothing started: the tests use the endpoints already in the environment"
		write_env
		return 0
	fi

	local t0=$SECONDS
	lock
	find_tools "${todo[@]}"
	for svc in "${todo[@]}"; do
		resolve "$svc"
	done
	for svc in "${todo[@]}"; do
		if running "$svc"; then
			continue
		fi
		for p in $(svc_ports "$svc"); do
			if port_open "$p"; then
				die "$svc: port $HOST:$p is already in use by another process" \
					"(services from another checkout? stop them there with 'make services-down')"
			fi
		done
	done
	for svc in "${todo[@]}"; do
		if running "$svc"; then
			log "$svc: already running (pid $(svc_pid "$svc"))"
			if [[ $svc == kafka ]] && ! kafka_has_sasl; then
				log "kafka: started by an older services.sh, without the SASL listener on $KAFKA_SASL_BROKERS:" \
					"the SASL tests need it ('services.sh down kafka', then 'up kafka')"
			fi
			continue
		fi
		"start_$svc"
		started+=("$svc")
		log "$svc: started (pid $(svc_pid "$svc"))"
	done

	# Wait for all of them under one deadline.
	local deadline=$((SECONDS + TIMEOUT)) pending=("${todo[@]}") next failed=""
	while ((${#pending[@]})); do
		next=()
		for svc in "${pending[@]}"; do
			if ! running "$svc"; then
				failed="$svc exited while starting"
				break 2
			fi
			if "ready_$svc"; then
				log "$svc: ready ($((SECONDS - t0))s)"
			else
				next+=("$svc")
			fi
		done
		pending=("${next[@]}")
		((${#pending[@]})) || break
		if ((SECONDS >= deadline)); then
			failed="timed out after ${TIMEOUT}s waiting for ${pending[*]}"
			break
		fi
		sleep 1
	done
	if [[ -n $failed ]]; then
		log "error: $failed"
		for svc in "${pending[@]}"; do
			show_log_tail "$svc"
		done
		for svc in "${started[@]}"; do
			stop_one "$svc"
		done
		write_env
		exit 1
	fi

	write_env
	log "up in $((SECONDS - t0))s: $(describe "${todo[@]}"); env: $ENV_FILE"
}

describe() {
	local out=() svc
	for svc in "$@"; do
		case "$svc" in
		kafka)
			if kafka_has_sasl; then
				out+=("Kafka $KAFKA_BROKERS (SASL/SCRAM $KAFKA_SASL_BROKERS)")
			else
				out+=("Kafka $KAFKA_BROKERS")
			fi
			;;
		dynamodb) out+=("DynamoDB Local $DYNAMODB_URL") ;;
		s3) out+=("S3 (moto) $S3_URL") ;;
		esac
	done
	local joined
	joined="$(printf '%s, ' "${out[@]}")"
	echo "${joined%, }"
}

cmd_down() {
	local svc
	parse_services "$@"
	lock
	for svc in "${SERVICES[@]}"; do
		stop_one "$svc"
	done
	write_env
}

cmd_status() {
	local svc
	for svc in "${ALL_SERVICES[@]}"; do
		if running "$svc"; then
			printf '%-9s running (pid %s), log %s\n' "$svc" "$(svc_pid "$svc")" "$(svc_log "$svc")"
		elif external "$svc"; then
			printf '%-9s external\n' "$svc"
		else
			printf '%-9s stopped\n' "$svc"
		fi
	done
	if [[ -f $ENV_FILE ]]; then
		printf 'env file  %s\n' "$ENV_FILE"
	fi
}

cmd_running() {
	local svc
	for svc in "${ALL_SERVICES[@]}"; do
		if running "$svc"; then echo "$svc"; fi
	done
}

cmd_fetch() {
	local svc
	parse_services "$@"
	lock
	find_tools "${SERVICES[@]}"
	for svc in "${SERVICES[@]}"; do
		resolve "$svc"
	done
}

# An extra broker for tests that kill it: the configuration of start_kafka
# on other ports, its data kept in DIR across restarts.
cmd_broker() {
	(($# == 4)) || die "usage: services.sh broker DIR PORT CONTROLLER_PORT SASL_PORT"
	local dir="$1" port="$2" cport="$3" sport="$4" conf data lib
	[[ $dir == /* ]] || dir="$PWD/$dir"
	find_java
	lib="$(svc_dir kafka)/lib"
	[[ -d $lib ]] || die "kafka: no jars in $lib: run 'services.sh fetch kafka' (or up) first"
	conf="$dir/server.properties"
	data="$dir/data"
	mkdir -p "$dir/logs"
	sed -e 's/:19092/:@BROKER_PORT@/g' -e 's/:19093/:@CONTROLLER_PORT@/g' -e 's/:19094/:@SASL_PORT@/g' \
		-e "s/@BROKER_PORT@/$port/g" -e "s/@CONTROLLER_PORT@/$cport/g" -e "s/@SASL_PORT@/$sport/g" \
		"$HERE/kafka/server.properties" >"$conf"
	printf '\n# Added by services.sh broker\nlog.dirs=%s\n' "${data//\\/\\\\}" >>"$conf"
	local jvm_log=("-Dkafka.logs.dir=$dir/logs" "-Dlog4j2.configurationFile=$HERE/kafka/log4j2.xml")
	if [[ ! -f $data/meta.properties ]]; then
		"$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 "${jvm_log[@]}" -cp "$lib/*" \
			kafka.tools.StorageTool format --cluster-id "$KAFKA_CLUSTER_ID" --config "$conf" \
			--add-scram "SCRAM-SHA-512=[name=$KAFKA_SASL_USER,password=$KAFKA_SASL_PASSWORD]" \
			>"$dir/logs/format.log" 2>&1 || {
			cat "$dir/logs/format.log" >&2
			die "kafka: formatting the storage in $data failed"
		}
	fi
	cd "$dir"
	exec "$JAVA" -Xms128m -Xmx384m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:TieredStopAtLevel=1 \
		-XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true -Drelay.service=kafka-extra \
		"${jvm_log[@]}" -cp "$lib/*" kafka.Kafka "$conf"
}

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
	exit 2
}

main() {
	(($#)) || usage
	local cmd="$1"
	shift
	case "$cmd" in
	up) cmd_up "$@" ;;
	down) cmd_down "$@" ;;
	status) cmd_status ;;
	running) cmd_running ;;
	fetch) cmd_fetch "$@" ;;
	broker) cmd_broker "$@" ;;
	-h | --help | help) usage ;;
	*)
		log "unknown command '$cmd'"
		usage
		;;
	esac
}

main "$@"
