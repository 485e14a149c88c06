#!/usr/bin/env bash
# prereqs.sh: check the tools `make up` and `make test` need, with the versions the README's
# "Prerequisites" list gives, and say all that is missing at once instead of failing later
# in the middle of a build. Postgres and Redis are not checked here: scripts/deps.sh starts
# (or installs) them. Exits 0 when all required tools are there; optional ones only warn.
set -euo pipefail

missing=()
warnings=()

# version_ge A B: A >= B for dotted versions.
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -1)" = "$2" ]; }

# need NAME MIN HOW VERSION-COMMAND...: NAME must be on PATH at MIN or newer.
need() {
	local name=$1 min=$2 how=$3
	shift 3
	if ! command -v "$name" >/dev/null; then
		missing+=("$name >= $min is not installed ($how)")
		return
	fi
	local have
	have=$("$@" 2>/dev/null | grep -oE '[0-9]+(\.[0-9]+)+' | head -1 || true)
	if [ -z "$have" ] || ! version_ge "$have" "$min"; then
		missing+=("$name ${have:-(unknown version)} is too old: need >= $min ($how)")
	fi
}

# want NAME WHY: optional tool, a warning only.
want() {
	command -v "$1" >/dev/null || warnings+=("$1 is not installed: $2")
}

need go 1.26 "https://go.dev/dl/" go version
need node 20.19 "the web app's build (Vite 7); https://nodejs.org/ or nvm" node --version
need npm 10 "comes with node" npm --version
need git 2.30 "apt-get install git" git --version
need curl 7.68 "apt-get install curl; stripe-mock.sh checks the mock with it" curl --version
want jq "only the README's curl example pipes into it (apt-get install jq)"
want psql "scripts/deps.sh installs Postgres 15 when run as root; otherwise install postgresql-15"
want redis-server "scripts/deps.sh installs it when run as root; otherwise install redis-server"

for w in "${warnings[@]}"; do
	echo "prereqs: note: $w" >&2
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "prereqs: Atrium needs these first (see the README's Prerequisites):" >&2
	for m in "${missing[@]}"; do
		echo "  - $m" >&2
	done
	exit 1
fi
