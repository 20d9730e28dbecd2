#!/usr/bin/env bash
# Runs a command with Relay's test services: starts Kafka and DynamoDB Local
# (services.sh up; a service whose endpoint the environment already points
# elsewhere is not started), exports their endpoints and
# RELAY_REQUIRE_SERVICES=1, runs the command, and always stops what it started,
# whether the command passes, fails or is interrupted. Exits with the
# command's status.
#
#   services/with-services.sh go test -count=1 ./...
#
# Services that were already running (`make services-up`) are used and left
# running. Several of these wrappers may run at once from one checkout: each
# holds a lease in the cache, and the last one to finish stops what they
# started.

# Functions called only from traps look unreachable to shellcheck.
# shellcheck disable=SC2317
set -euo pipefail

if (($# == 0)); then
	echo "usage: ${0##*/} CMD [ARG...]" >&2
	exit 2
fi

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SERVICES_SH="$HERE/services.sh"
CACHE="${RELAY_SERVICES_CACHE:-$(dirname "$HERE")/.cache/services}"
if [[ $CACHE != /* ]]; then CACHE="$PWD/$CACHE"; fi
ENV_FILE="$CACHE/env"
LEASES="$CACHE/leases"
STARTED="$CACHE/started-by-wrapper" # services a wrapper started

log() { printf 'with-services: %s\n' "$*" >&2; }
services() { RELAY_SERVICES_CACHE="$CACHE" bash "$SERVICES_SH" "$@"; }

# The lock services.sh takes; held here around starting and stopping so that
# wrappers running at once agree on who stops what. Closed (fd 9) before
# anything long-lived starts.
lock() {
	mkdir -p "$LEASES"
	if command -v flock >/dev/null; then
		exec 9>"$CACHE/lock"
		if ! flock -n 9; then
			log "waiting for another services.sh or with-services.sh in $CACHE"
			flock 9
		fi
		export RELAY_SERVICES_LOCK_HELD=1
	fi
}
unlock() {
	exec 9>&-
	unset RELAY_SERVICES_LOCK_HELD
}

# Other wrappers alive; leases of those that died without cleaning up are
# removed.
other_leases() {
	local f pid
	for f in "$LEASES"/*; do
		[[ -e $f ]] || continue
		pid="${f##*/}"
		if [[ $pid == "$$" ]]; then
			continue
		elif [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
			echo "$pid"
		else
			rm -f "$f"
		fi
	done
}

# Notes in $STARTED the services that run now and did not before this
# wrapper's `up`.
record_started() {
	local svc
	for svc in $(services running); do
		if [[ $before != *" $svc "* ]]; then
			echo "$svc" >>"$STARTED"
		fi
	done
}

cleanup() {
	local rc=$? others mine=()
	trap '' INT TERM HUP
	lock
	# Again, in case `up` was interrupted before the list was made.
	record_started
	rm -f "$LEASES/$$"
	others="$(other_leases | tr '\n' ' ')"
	if [[ -n $others ]]; then
		log "services left running for the other with-services.sh still running (pid ${others% })"
	elif [[ -f $STARTED ]]; then
		mapfile -t mine < <(sort -u "$STARTED")
		if ((${#mine[@]})) && ! services down "${mine[@]}" && ((rc == 0)); then
			rc=1
		fi
		rm -f "$STARTED"
	fi
	unlock
	exit "$rc"
}

lock
before=" $(services running | tr '\n' ' ')"
touch "$LEASES/$$"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
up_status=0
services up || up_status=$?
record_started
unlock
if ((up_status != 0)); then
	exit "$up_status"
fi

if [[ -f $ENV_FILE ]]; then
	# shellcheck source=/dev/null
	. "$ENV_FILE"
fi
export RELAY_REQUIRE_SERVICES=1

# The command runs in the background so that a TERM, HUP or INT sent to this
# script is passed on to it at once; like a foreground command it keeps stdin
# and takes Ctrl-C from the terminal itself.
(
	trap - INT QUIT
	exec "$@"
) <&0 &
child=$!
forward() { kill "-$1" "$child" 2>/dev/null || true; }
trap 'forward INT' INT
trap 'forward TERM' TERM
trap 'forward HUP' HUP
status=0
wait "$child" || status=$?
# A trapped signal interrupts wait; wait again until the command has exited.
while kill -0 "$child" 2>/dev/null; do
	status=0
	wait "$child" || status=$?
done
exit "$status"
