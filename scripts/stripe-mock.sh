#!/usr/bin/env bash
# stripe-mock.sh [start|stop|status]: the pinned stripe-mock (tools/go.mod) on
# 127.0.0.1:$ATRIUM_STRIPE_MOCK_PORT (HTTP, 12111 + ATRIUM_PORT_OFFSET) and
# 127.0.0.1:$ATRIUM_STRIPE_MOCK_HTTPS_PORT (HTTPS, 12112 + offset), for billing's tests and
# `make up`.
# start is idempotent: a stripe-mock already answering is left alone, and the binary in
# .atrium/bin is (re)built when it is missing or not the version tools/go.mod pins.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=env.sh
. "$ROOT/scripts/env.sh"
STATE=${ATRIUM_STATE_DIR:-$ROOT/.atrium}
BIN=$STATE/bin/stripe-mock
PIDFILE=$STATE/stripe-mock-$ATRIUM_STRIPE_MOCK_PORT.pid
LOG=$STATE/stripe-mock.log
HOST=127.0.0.1
HTTP_PORT=$ATRIUM_STRIPE_MOCK_PORT
HTTPS_PORT=$ATRIUM_STRIPE_MOCK_HTTPS_PORT
MODULE=github.com/stripe/stripe-mock

say() { printf 'stripe-mock: %s\n' "$*" >&2; }
die() {
	say "$*"
	exit 1
}

tcp_open() { timeout 3 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

# answering reports whether a stripe-mock serves the API on the HTTP port: any test key is
# accepted by it, so a 200 for a list call tells it from another server on the port.
answering() {
	tcp_open "$HOST" "$HTTP_PORT" || return 1
	command -v curl >/dev/null || return 0
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' -m 3 \
		-H 'Authorization: Bearer sk_test_123' "http://$HOST:$HTTP_PORT/v1/customers") || return 1
	[ "$code" = 200 ]
}

pinned_version() {
	# "require m v" on one line, or "m v" inside a require block (the tool block has no version).
	awk -v m="$MODULE" '
		$1 == "require" && $2 == m && $3 ~ /^v/ { print $3; exit }
		$1 == m && $2 ~ /^v/ { print $2; exit }' "$ROOT/tools/go.mod"
}

# built_version prints the stripe-mock module version compiled into the binary.
built_version() {
	go version -m "$BIN" 2>/dev/null | awk -v m="$MODULE" '$1 == "mod" && $2 == m { print $3; exit }'
}

ensure_binary() {
	local want have
	want=$(pinned_version)
	[ -n "$want" ] || die "tools/go.mod does not pin $MODULE"
	if [ -x "$BIN" ]; then
		have=$(built_version)
		[ "$have" = "$want" ] && return 0
	fi
	command -v go >/dev/null || die "go is needed to build $MODULE $want"
	say "building $MODULE $want into $STATE/bin"
	mkdir -p "$STATE/bin"
	GOWORK=off go -C "$ROOT/tools" build -o "$STATE/bin/" "$MODULE" || die "build of $MODULE failed"
}

start() {
	answering && return 0
	if tcp_open "$HOST" "$HTTP_PORT" || tcp_open "$HOST" "$HTTPS_PORT"; then
		die "ports $HTTP_PORT/$HTTPS_PORT are taken by something that is not stripe-mock"
	fi
	ensure_binary
	# setsid: the server must outlive the make or shell that started it.
	nohup setsid "$BIN" -http-addr "$HOST:$HTTP_PORT" -https-addr "$HOST:$HTTPS_PORT" \
		>"$LOG" 2>&1 </dev/null &
	echo $! >"$PIDFILE"
	local i
	for ((i = 0; i < 30; i++)); do
		answering && return 0
		kill -0 "$(cat "$PIDFILE")" 2>/dev/null || break
		sleep 0.5
	done
	die "did not come up on $HOST:$HTTP_PORT; see $LOG"
}

stop() {
	[ -f "$PIDFILE" ] || return 0
	local pid
	pid=$(cat "$PIDFILE")
	# Only ever signal the process we started, never one that reused the pid.
	if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q stripe-mock; then
		kill "$pid"
	fi
	rm -f "$PIDFILE"
}

case ${1:-start} in
start) start ;;
stop) stop ;;
status)
	if answering; then
		echo "stripe-mock answers on http://$HOST:$HTTP_PORT"
	else
		echo "stripe-mock is not running"
		exit 1
	fi
	;;
*) die "usage: $0 [start|stop|status]" ;;
esac
