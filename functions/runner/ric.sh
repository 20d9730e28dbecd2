#!/usr/bin/env bash
# Installs the Lambda runtime interface clients that the runner functions'
# tests run under (functions/runner_test.go), as Lambda's managed runtimes
# run a handler: awslambdaric from PyPI for python3.13, aws-lambda-ric from
# npm for nodejs22.x. Into .cache/ric (RELAY_RIC_CACHE), once; a stamp
# names the versions, so changing one here installs again.
#
#   functions/runner/ric.sh        install what is missing, print the paths
#
# aws-lambda-ric builds a native module (curl and aws-lambda-cpp) when it
# installs: it needs make, cmake, g++, autoconf, automake and libtool, which
# are installed from Debian's packages when missing and this runs as root.
# Its 4.x releases need Node.js 22; 3.3.0 runs on the Node.js 20 of this
# project's machines and speaks the same Runtime API.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${RELAY_RIC_CACHE:-$ROOT/.cache/ric}"
PY_RIC=awslambdaric==4.2.2
NODE_RIC=aws-lambda-ric@3.3.0

log() { printf 'ric: %s\n' "$*" >&2; }

python_ric() {
	local dir="$CACHE/python"
	if [[ -f $dir/.stamp && $(cat "$dir/.stamp") == "$PY_RIC" ]]; then
		return
	fi
	log "installing $PY_RIC into $dir"
	rm -rf "$dir"
	python3 -m venv "$dir"
	"$dir/bin/pip" install --quiet --disable-pip-version-check "$PY_RIC"
	echo "$PY_RIC" >"$dir/.stamp"
}

build_tools() {
	local missing=() tool
	for tool in make cmake g++ autoreconf libtoolize; do
		command -v "$tool" >/dev/null || missing+=("$tool")
	done
	((${#missing[@]} == 0)) && return
	if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
		log "aws-lambda-ric needs ${missing[*]}: install make cmake g++ autoconf automake libtool"
		exit 1
	fi
	log "installing the build tools aws-lambda-ric needs (${missing[*]}) from Debian"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq make cmake g++ autoconf automake libtool >/dev/null ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq make cmake g++ autoconf automake libtool >/dev/null; }
}

node_ric() {
	local dir="$CACHE/node"
	if [[ -f $dir/.stamp && $(cat "$dir/.stamp") == "$NODE_RIC" ]]; then
		return
	fi
	build_tools
	log "installing $NODE_RIC into $dir (builds a native module: a few minutes)"
	rm -rf "$dir"
	mkdir -p "$dir"
	(cd "$dir" && npm init -y >/dev/null && MAKEFLAGS="-j$(nproc)" npm install --no-audit --no-fund --loglevel=error "$NODE_RIC" >/dev/null)
	echo "$NODE_RIC" >"$dir/.stamp"
}

mkdir -p "$CACHE"
python_ric
node_ric
echo "$CACHE/python/bin/python -m awslambdaric"
echo "node $CACHE/node/node_modules/aws-lambda-ric/bin/index.mjs"
