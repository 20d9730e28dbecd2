#!/usr/bin/env bash
# Prints on stdout the path of a runnable kcat (the Kafka command-line
# client), to look at Relay's topics from outside the Go code:
#
#   "$(services/kcat.sh)" -C -b 127.0.0.1:19092 -t relay.events -f '%h %s\n'
#
# The kcat on PATH when there is one. Otherwise the Debian packages kcat,
# librdkafka1 and libyajl2 (plus any library they need that the machine
# lacks, found with ldd) are downloaded with `apt-get download` into the
# cache and unpacked there with `dpkg -x`: nothing is installed into the
# system. <cache>/bin/kcat runs that kcat with LD_LIBRARY_PATH set to the
# unpacked libraries. Later runs use it and need no network.
# apt-get update runs only when apt cannot find the packages (no package
# lists yet, as on a fresh machine, or outdated ones); when not root, into
# package lists of the cache's own.
# Progress and errors go to stderr. See services/README.md.
#
# Environment:
#   RELAY_KCAT_CACHE=DIR   cache (default: <repo>/.cache/kcat)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
CACHE="${RELAY_KCAT_CACHE:-$ROOT/.cache/kcat}"
if [[ $CACHE != /* ]]; then CACHE="$PWD/$CACHE"; fi
DEBS="$CACHE/debs"     # the downloaded .deb files, kept for re-extraction
UNPACKED="$CACHE/root" # what dpkg -x unpacked
WRAPPER="$CACHE/bin/kcat"
APT_LOG="$CACHE/apt.log"
PACKAGES=(kcat librdkafka1 libyajl2)
MAX_ROUNDS=5 # rounds of "ldd finds missing libraries, fetch their packages"

log() { printf 'kcat: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
	exit 2
}

# Serialises runs sharing the cache (tests running at once).
lock() {
	mkdir -p "$CACHE" || die "cannot create the cache directory $CACHE"
	command -v flock >/dev/null || return 0
	exec 9>"$CACHE/lock"
	if ! flock -n 9; then
		log "waiting for another kcat.sh using $CACHE"
		flock 9
	fi
}

# True when the wrapper exists and kcat starts (-V prints its version).
wrapper_works() {
	[[ -x $WRAPPER ]] && "$WRAPPER" -V >/dev/null 2>&1
}

# ------------------------------------------------------------------ apt

# Extra options for apt-get/apt-cache: set to package lists of the cache's
# own when the system's do not do and we are not root (apt-get update cannot
# write /var/lib/apt/lists then).
APT_OPTS=()

use_private_lists() {
	mkdir -p "$CACHE/apt/lists/partial" "$CACHE/apt/cache/archives/partial"
	APT_OPTS=(
		-o "Dir::State::Lists=$CACHE/apt/lists"
		-o "Dir::Cache=$CACHE/apt/cache"
	)
}

apt_update() {
	local t0=$SECONDS
	if ((EUID != 0)); then
		use_private_lists
		log "package lists missing or out of date for $*; downloading Debian's lists into $CACHE/apt (not root: the system's stay as they are)"
	else
		log "package lists missing or out of date for $*; running apt-get update"
	fi
	if ! apt-get "${APT_OPTS[@]}" -q update >>"$APT_LOG" 2>&1; then
		tail -n 20 "$APT_LOG" >&2
		die "apt-get update failed (full output: $APT_LOG)"
	fi
	log "package lists updated in $((SECONDS - t0))s"
}

# The .deb of package $1 in DEBS, if downloaded (the last one in name order
# when there are several versions).
deb_of() {
	local f found=""
	for f in "$DEBS/$1"_*.deb; do
		if [[ -f $f ]]; then found="$f"; fi
	done
	[[ -n $found ]] && echo "$found"
}

# Downloads the packages not already in DEBS. apt-get update runs only when
# the download fails for want of lists (none yet, as on a fresh machine, or
# outdated ones).
download() {
	local want=() p
	for p in "$@"; do
		deb_of "$p" >/dev/null || want+=("$p")
	done
	((${#want[@]})) || return 0
	mkdir -p "$DEBS"
	local sandbox=()
	# As root, apt downloads as the user _apt, which cannot write to a
	# directory only root can: download as root instead of warning.
	if ((EUID == 0)); then sandbox=(-o APT::Sandbox::User=root); fi
	local t0=$SECONDS attempt
	log "downloading ${want[*]} with apt-get download into $DEBS"
	for attempt in 1 2; do
		if (cd "$DEBS" && apt-get "${APT_OPTS[@]}" "${sandbox[@]}" -q download "${want[@]}") >>"$APT_LOG" 2>&1; then
			log "downloaded in $((SECONDS - t0))s"
			return 0
		fi
		# No lists (a fresh machine), or lists naming versions the archive
		# no longer has.
		if ((attempt == 1)) && tail -n 5 "$APT_LOG" | grep -qE 'Unable to locate package|has no candidate|No packages found|404 +Not Found'; then
			apt_update "${want[*]}"
			continue
		fi
		break
	done
	tail -n 20 "$APT_LOG" >&2
	die "apt-get download ${want[*]} failed (full output: $APT_LOG)"
}

# ------------------------------------------------------------------ unpack

EXTRACTED=() # packages unpacked into UNPACKED

extract() {
	local p deb
	for p in "$@"; do
		deb="$(deb_of "$p")" || die "no .deb for $p in $DEBS after downloading it"
		dpkg -x "$deb" "$UNPACKED" || die "dpkg -x $deb failed"
		EXTRACTED+=("$p")
	done
}

# The directories under UNPACKED holding shared libraries, relative to it.
lib_dirs() {
	(cd "$UNPACKED" && find . \( -type f -o -type l \) -name 'lib*.so*' -printf '%h\n') |
		sed 's|^\./||' | sort -u
}

# LD_LIBRARY_PATH for the unpacked libraries, under directory $1.
lib_path() {
	local dir out=""
	while IFS= read -r dir; do
		out+="${out:+:}$1/$dir"
	done < <(lib_dirs)
	echo "$out"
}

# The shared libraries kcat needs that neither the unpacked packages nor
# the system provide, one soname a line.
missing_libs() {
	local out
	if ! out="$(LD_LIBRARY_PATH="$(lib_path "$UNPACKED")" ldd "$UNPACKED/usr/bin/kcat" 2>&1)"; then
		printf '%s\n' "$out" >&2
		die "ldd $UNPACKED/usr/bin/kcat failed"
	fi
	awk '/=> not found/ {print $1}' <<<"$out"
}

installed() {
	[[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" == installed ]]
}

# The packages the unpacked ones depend on that are neither installed nor
# unpacked yet: where missing libraries can come from.
uninstalled_deps() {
	local p dep seen=" ${EXTRACTED[*]} "
	for p in "${EXTRACTED[@]}"; do
		while read -r dep; do
			dep="${dep%%:*}" # an architecture qualifier
			if [[ $seen == *" $dep "* ]]; then continue; fi
			seen+="$dep "
			installed "$dep" || echo "$dep"
		done < <(apt-cache "${APT_OPTS[@]}" depends --no-recommends --no-suggests --no-conflicts \
			--no-breaks --no-replaces --no-enhances "$p" 2>/dev/null |
			awk '$1 ~ /^\|?(Pre)?Depends:$/ && $2 !~ /^</ {print $2}')
	done
}

write_wrapper() {
	mkdir -p "$(dirname "$WRAPPER")"
	# shellcheck disable=SC2016 # expanded when the wrapper runs
	{
		echo '#!/bin/sh'
		echo '# Written by services/kcat.sh: kcat unpacked from Debian packages in ../root.'
		echo 'here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd) || exit 1'
		echo 'root=${here%/*}/root'
		printf 'LD_LIBRARY_PATH="%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"\n' "$(lib_path '$root')"
		echo 'export LD_LIBRARY_PATH'
		echo 'exec "$root/usr/bin/kcat" "$@"'
	} >"$WRAPPER.tmp"
	chmod 755 "$WRAPPER.tmp"
	mv "$WRAPPER.tmp" "$WRAPPER"
}

build() {
	local t0=$SECONDS tool
	for tool in apt-get apt-cache dpkg dpkg-query ldd; do
		command -v "$tool" >/dev/null || die "$tool not found: kcat.sh fetches kcat from Debian's packages (or put kcat on PATH)"
	done
	log "no kcat on PATH; fetching it from Debian's packages into $CACHE (first run only)"
	rm -rf "$UNPACKED" "$WRAPPER"
	mkdir -p "$UNPACKED"
	: >"$APT_LOG"
	download "${PACKAGES[@]}"
	extract "${PACKAGES[@]}"
	[[ -x $UNPACKED/usr/bin/kcat ]] || die "the kcat package has no usr/bin/kcat (unpacked in $UNPACKED)"

	local round missing more
	for ((round = 1; ; round++)); do
		missing="$(missing_libs)"
		[[ -n $missing ]] || break
		more="$(uninstalled_deps)"
		if [[ -z $more ]] || ((round > MAX_ROUNDS)); then
			die "kcat needs libraries that no package fetched provides: $(echo "$missing" | tr '\n' ' ')"
		fi
		log "missing on this machine: $(echo "$missing" | tr '\n' ' ')"
		# shellcheck disable=SC2086 # one package name a line
		download $more
		# shellcheck disable=SC2086
		extract $more
	done

	write_wrapper
	local out
	if ! out="$("$WRAPPER" -V 2>&1)"; then
		printf '%s\n' "$out" >&2
		rm -f "$WRAPPER"
		die "the unpacked kcat does not start ($WRAPPER -V)"
	fi
	log "ready in $((SECONDS - t0))s: $WRAPPER (packages: ${EXTRACTED[*]})"
}

main() {
	case "${1:-}" in
	"") ;;
	-h | --help | help) usage ;;
	*)
		log "unknown argument '$1'"
		usage
		;;
	esac
	local found
	if found="$(command -v kcat)"; then
		echo "$found"
		return
	fi
	lock
	if ! wrapper_works; then
		build
	fi
	echo "$WRAPPER"
}

main "$@"
