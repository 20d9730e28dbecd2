#!/usr/bin/env bash
# Runs the same three workloads with `relay run` and with Prefect 3.9.1 in
# its default local mode (an ephemeral API server in the process, SQLite),
# RUNS times each, alternating, and prints the median wall time of each and
# their ratio. Whole processes are timed, as a user runs them.
#
#   bash bench/prefect/run.sh [RUNS]       (default 5; needs bin/relay: make build)
#
# Prefect goes into .cache/prefect/venv (Python 3.12 or newer: pyenv's when
# the machine's python3 is older). docs/benchmarks.md has the figures.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS="${1:-5}"
HERE=bench/prefect
CACHE=.cache/prefect
RELAY=bin/relay
[[ -x $RELAY ]] || { echo "build bin/relay first: make build" >&2; exit 2; }

python=""
for p in python3.13 python3.12 "$HOME"/.pyenv/versions/3.13*/bin/python "$HOME"/.pyenv/versions/3.12*/bin/python python3; do
	if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
		python="$p"
		break
	fi
done
[[ -n $python ]] || { echo "Prefect 3.9 needs Python 3.12 or newer" >&2; exit 2; }
if [[ ! -x $CACHE/venv/bin/python ]]; then
	"$python" -m venv "$CACHE/venv"
	"$CACHE/venv/bin/pip" install --quiet --disable-pip-version-check prefect==3.9.1
fi
export PREFECT_HOME="$PWD/$CACHE/home" DO_NOT_TRACK=1 PREFECT_SERVER_ANALYTICS_ENABLED=false \
	PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=300 PREFECT_LOGGING_LEVEL=WARNING
data="$(mktemp -d)"
trap 'rm -rf "$data"' EXIT
"$CACHE/venv/bin/python" "$HERE/seq100.py" >/dev/null 2>&1 # the first run creates Prefect's database

seconds() { # runs a command, prints its wall time in seconds
	local start end
	start=$(date +%s.%N)
	"$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
	end=$(date +%s.%N)
	echo "$end - $start" | bc
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

printf '%-22s %10s %10s %8s\n' workload relay-s prefect-s ratio
for w in seq100 retry fanout; do
	rs=() ps=()
	for _ in $(seq "$RUNS"); do
		args=()
		if [[ $w == retry ]]; then args=(--input "count_file=$data/count"); fi
		rs+=("$(seconds "$RELAY" run --data-dir "$data/relay" --progress plain "${args[@]}" "$HERE/$w.yaml")")
		ps+=("$(seconds "$CACHE/venv/bin/python" "$HERE/$w.py")")
	done
	r=$(printf '%s\n' "${rs[@]}" | median)
	p=$(printf '%s\n' "${ps[@]}" | median)
	printf '%-22s %10.3f %10.3f %7.1fx\n' "$w" "$r" "$p" "$(echo "$p / $r" | bc -l)"
done
