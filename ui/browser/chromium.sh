#!/usr/bin/env bash
# Installs Debian's Chromium, which the web UI's browser tests drive
# (ui/browser), when it is missing. `make test` and `make ui-screenshots`
# run it; set RELAY_CHROMIUM to use another build of Chromium instead.
set -euo pipefail
if [[ -n ${RELAY_CHROMIUM:-} ]] || command -v chromium >/dev/null 2>&1; then
	exit 0
fi
sudo=()
if [[ $(id -u) != 0 ]]; then
	sudo=(sudo)
fi
echo "chromium.sh: installing Debian's chromium for the web UI's browser tests" >&2
start=$SECONDS
# Another apt-get may be running (other tools' installs): wait for its lock.
wait=(-o DPkg::Lock::Timeout=600)
"${sudo[@]}" apt-get "${wait[@]}" update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get "${wait[@]}" install -y -qq --no-install-recommends chromium >/dev/null
echo "chromium.sh: $(chromium --version 2>/dev/null) installed in $((SECONDS - start)) s" >&2
