#!/usr/bin/env bash
# deps.sh: make sure the Postgres of ATRIUM_DATABASE_URL (and of ATRIUM_TEST_DATABASE_URL) and
# the Redis of ATRIUM_REDIS_URL (and ATRIUM_TEST_REDIS_URL) answer; their defaults are
# 127.0.0.1:$ATRIUM_PG_PORT (5432) and 127.0.0.1:$ATRIUM_REDIS_PORT (6379) (scripts/env.sh):
#   1. servers already answering are used as they are;
#   2. else, on a loopback address, a local copy made earlier under $ATRIUM_STATE_DIR
#      (.atrium/pg, or .atrium/pg-<port> for another port; .atrium/redis) is started;
#   3. else an installed Debian cluster configured for the port or redis-server is started,
#      and when the binaries are missing and we are root with apt-get, Debian's packages are
#      installed first. A server on another machine is never started: it must answer.
# Then the roles postgres and root must log in with trust over loopback, and the control
# database (the one ATRIUM_DATABASE_URL names, "atrium" by default) must exist. Safe to run
# again and again; prints what it starts or creates, and exits non-zero with the reason when
# it cannot get a server up.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=env.sh
. "$ROOT/scripts/env.sh"
STATE=${ATRIUM_STATE_DIR:-$ROOT/.atrium}
# Set per server by use_pg / use_redis below.
PG_HOST=127.0.0.1
PG_PORT=5432
PG_DATA=$STATE/pg
REDIS_HOST=127.0.0.1
REDIS_PORT=6379
REDIS_DIR=$STATE/redis
CONTROL_DB=atrium

say() { printf 'deps: %s\n' "$*" >&2; }
die() {
	say "$*"
	exit 1
}
is_root() { [ "$(id -u)" = 0 ]; }

# tcp_open reports whether anything accepts a TCP connection on host:port.
tcp_open() { timeout 3 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

# wait_for polls a check once a second up to a number of seconds.
wait_for() {
	local check=$1 secs=$2 i
	for ((i = 0; i < secs; i++)); do
		"$check" && return 0
		sleep 1
	done
	"$check"
}

# ---------------------------------------------------------------- Postgres

# pg_state: 0 accepting connections, 1 up but rejecting (starting or stopping),
# 2 nothing that speaks Postgres answers.
pg_state() {
	if command -v pg_isready >/dev/null; then
		local rc=0
		pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 3 || rc=$?
		case $rc in
		0) return 0 ;;
		1) return 1 ;;
		*) return 2 ;;
		esac
	fi
	# Without the client tools an open port is the best we can tell.
	tcp_open "$PG_HOST" "$PG_PORT" && return 0
	return 2
}
pg_up() { pg_state; }

# pg_bindir prints the directory holding pg_ctl and initdb: of the given major version when
# one is asked for, else 15 (what the project targets), else the newest installed.
pg_bindir() {
	local want=${1:-} d
	if [ -n "$want" ]; then
		d=/usr/lib/postgresql/$want/bin
		[ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
	else
		# shellcheck disable=SC2012 # Debian's version directories are plain numbers
		for d in /usr/lib/postgresql/15/bin $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
			[ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
		done
	fi
	if command -v pg_ctl >/dev/null; then
		d=$(dirname "$(command -v pg_ctl)")
		if [ -z "$want" ] || "$d/pg_ctl" --version | grep -Eq " $want(\.|$)"; then
			echo "$d"
			return 0
		fi
	fi
	return 1
}

# psql_bin prints a psql to talk to the server with.
psql_bin() {
	local d
	if command -v psql >/dev/null; then
		command -v psql
	elif d=$(pg_bindir) && [ -x "$d/psql" ]; then
		echo "$d/psql"
	else
		return 1
	fi
}

# as_pg runs a server command as the postgres system user when we are root: the server
# refuses to run as root.
as_pg() {
	if is_root; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# debian_cluster prints "version name" of the Debian cluster configured for our port.
debian_cluster() {
	command -v pg_lsclusters >/dev/null || return 1
	local line
	line=$(pg_lsclusters -h 2>/dev/null | awk -v p="$PG_PORT" '$3 == p { print $1, $2; exit }')
	[ -n "$line" ] && echo "$line"
}

start_debian_cluster() {
	local ver=$1 name=$2
	say "starting Postgres cluster $ver/$name"
	pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start 9>&- ||
		die "pg_ctlcluster $ver $name start failed; see /var/log/postgresql/postgresql-$ver-$name.log"
}

init_local_pg() {
	local bindir=$1
	say "creating a Postgres cluster in $PG_DATA with $bindir"
	mkdir -p "$PG_DATA"
	chmod 700 "$PG_DATA"
	if is_root; then
		id postgres >/dev/null 2>&1 || die "no postgres system user to run the server as"
		chown postgres: "$PG_DATA"
		# The server, running as postgres, must be able to reach its data directory.
		chmod o+x "$STATE"
	fi
	as_pg "$bindir/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 --no-locale \
		>"$STATE/initdb.log" 2>&1 || {
		rm -rf "$PG_DATA"
		die "initdb failed; see $STATE/initdb.log"
	}
	cat >>"$PG_DATA/postgresql.conf" <<EOF

# written by scripts/deps.sh: loopback TCP only, so no socket directory has to exist
listen_addresses = '$PG_HOST'
port = $PG_PORT
unix_socket_directories = ''
# a development server: losing the last commits on a crash is fine, waiting on fsync is not
synchronous_commit = off
max_connections = 200
EOF
}

start_local_pg() {
	local ver bindir log=$PG_DATA.log
	ver=$(cat "$PG_DATA/PG_VERSION")
	bindir=$(pg_bindir "$ver") ||
		die "$PG_DATA was made by Postgres $ver but its binaries are gone (install postgresql-$ver, or remove $PG_DATA)"
	say "starting Postgres $ver from $PG_DATA"
	touch "$log"
	if is_root; then chown postgres: "$log"; fi
	as_pg "$bindir/pg_ctl" -D "$PG_DATA" -l "$log" -o "-p $PG_PORT" -w -t 60 start >/dev/null 9>&- ||
		die "Postgres in $PG_DATA did not start; see $log"
}

# install_pkgs installs Debian packages when we may: as root with apt-get.
install_pkgs() {
	is_root || return 1
	command -v apt-get >/dev/null || return 1
	mkdir -p "$STATE"
	local log=$STATE/apt.log
	say "installing $* from Debian's packages (log: $log)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q "$@" >"$log" 2>&1 9>&- && return 0
	# A fresh machine may have no package lists yet.
	apt-get update -q >>"$log" 2>&1 && apt-get install -y -q "$@" >>"$log" 2>&1 9>&-
}

install_pg() {
	install_pkgs postgresql-15 || install_pkgs postgresql
}

ensure_pg_running() {
	local rc=0
	pg_state || rc=$?
	case $rc in
	0) return 0 ;;
	1)
		# A server is starting or stopping: give it time before doing anything.
		wait_for pg_up 30 && return 0
		die "Postgres on $PG_HOST:$PG_PORT answers but keeps rejecting connections"
		;;
	esac
	is_loopback "$PG_HOST" ||
		die "Postgres at $PG_HOST:$PG_PORT (ATRIUM_DATABASE_URL) does not answer, and deps only starts servers on this machine's loopback"
	if tcp_open "$PG_HOST" "$PG_PORT"; then
		die "something that is not Postgres listens on $PG_HOST:$PG_PORT"
	fi

	local cluster bindir
	if [ -f "$PG_DATA/PG_VERSION" ]; then
		start_local_pg
	elif cluster=$(debian_cluster); then
		# shellcheck disable=SC2086 # "version name"
		start_debian_cluster $cluster
	else
		if ! bindir=$(pg_bindir); then
			install_pg || die "Postgres is not running on $PG_HOST:$PG_PORT and not installed; install PostgreSQL 15 (as root this script does it with apt-get)"
		fi
		# Debian's package makes and starts a cluster of its own; use it when it did.
		if pg_up; then
			:
		elif cluster=$(debian_cluster); then
			# shellcheck disable=SC2086
			start_debian_cluster $cluster
		else
			bindir=$(pg_bindir) || die "installed Postgres, but found no pg_ctl"
			init_local_pg "$bindir"
			start_local_pg
		fi
	fi
	wait_for pg_up 30 || die "Postgres did not come up on $PG_HOST:$PG_PORT"
}

# hba_file prints the pg_hba.conf of the server we manage, if we know it.
hba_file() {
	local cluster
	if [ -f "$PG_DATA/PG_VERSION" ]; then
		echo "$PG_DATA/pg_hba.conf"
	elif cluster=$(debian_cluster); then
		# shellcheck disable=SC2086 # "version name"
		set -- $cluster
		echo "/etc/postgresql/$1/$2/pg_hba.conf"
	else
		return 1
	fi
}

reload_pg() {
	local cluster bindir
	if [ -f "$PG_DATA/PG_VERSION" ]; then
		bindir=$(pg_bindir "$(cat "$PG_DATA/PG_VERSION")") && as_pg "$bindir/pg_ctl" -D "$PG_DATA" reload >/dev/null
	elif cluster=$(debian_cluster); then
		# shellcheck disable=SC2086
		pg_ctlcluster --skip-systemctl-redirect $cluster reload
	fi
}

# trust_loopback puts trust lines for loopback connections first in pg_hba.conf (the
# first matching line wins) and reloads the server.
trust_loopback() {
	local hba marker='# atrium scripts/deps.sh: trust on loopback for local development'
	hba=$(hba_file) || return 1
	[ -w "$hba" ] || return 1
	grep -qF "$marker" "$hba" && return 1
	say "adding trust for loopback logins to $hba"
	{
		echo "$marker"
		echo "local all all trust"
		echo "host all all 127.0.0.1/32 trust"
		echo "host all all ::1/128 trust"
		echo
		cat "$hba"
	} >"$hba.atrium" && cat "$hba.atrium" >"$hba" && rm -f "$hba.atrium"
	reload_pg
	sleep 1
}

psql_as() {
	local user=$1
	shift
	PGCONNECT_TIMEOUT=5 "$PSQL" -X -q -w -h "$PG_HOST" -p "$PG_PORT" -U "$user" -d postgres \
		-v ON_ERROR_STOP=1 "$@"
}

ensure_pg_logins() {
	PSQL=$(psql_bin) || die "no psql client found"
	if ! psql_as postgres -tAc 'select 1' >/dev/null 2>&1; then
		trust_loopback || true
		psql_as postgres -tAc 'select 1' >/dev/null 2>&1 ||
			die "role postgres cannot log in on $PG_HOST:$PG_PORT without a password; allow trust for loopback in pg_hba.conf"
	fi
	local root_role
	root_role=$(psql_as postgres -tAc "select count(*) from pg_roles where rolname = 'root'")
	if [ "$root_role" = 0 ]; then
		say "creating role root"
		psql_as postgres -c 'create role root superuser login' >/dev/null 2>&1 ||
			[ "$(psql_as postgres -tAc "select count(*) from pg_roles where rolname = 'root'")" = 1 ] ||
			die "could not create role root"
	fi
	if ! psql_as root -tAc 'select 1' >/dev/null 2>&1; then
		trust_loopback || true
		psql_as root -tAc 'select 1' >/dev/null 2>&1 || die "role root cannot log in on $PG_HOST:$PG_PORT with trust"
	fi
}

ensure_control_db() {
	local have
	have=$(psql_as postgres -tAc "select count(*) from pg_database where datname = '$CONTROL_DB'")
	[ "$have" = 1 ] && return 0
	say "creating database $CONTROL_DB"
	# Another run may create it at the same moment: only its absence afterwards is an error.
	psql_as postgres -c "create database $CONTROL_DB" >/dev/null 2>&1 ||
		[ "$(psql_as postgres -tAc "select count(*) from pg_database where datname = '$CONTROL_DB'")" = 1 ] ||
		die "could not create database $CONTROL_DB"
}

# ---------------------------------------------------------------- Redis

# A server that wants a password (NOAUTH) is up too: the credentials are in ATRIUM_REDIS_URL,
# for the processes; deps must not start a second server beside it.
redis_up() {
	if command -v redis-cli >/dev/null; then
		case "$(timeout 3 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" in
		PONG | NOAUTH*) return 0 ;;
		*) return 1 ;;
		esac
	else
		# shellcheck disable=SC2016 # the inner shell expands $0 and $1
		timeout 3 bash -c '
			exec 3<>"/dev/tcp/$0/$1" || exit 1
			printf "PING\r\n" >&3
			IFS= read -r line <&3
			[[ $line == +PONG* || $line == -NOAUTH* ]]' "$REDIS_HOST" "$REDIS_PORT" 2>/dev/null
	fi
}

# redis_bin prints the redis-server to start: a local copy under .atrium/ first.
redis_bin() {
	local c
	for c in "$REDIS_DIR/redis-server" "$REDIS_DIR/bin/redis-server" "$STATE/bin/redis-server"; do
		[ -x "$c" ] && { echo "$c"; return 0; }
	done
	command -v redis-server
}

ensure_redis() {
	redis_up && return 0
	is_loopback "$REDIS_HOST" ||
		die "Redis at $REDIS_HOST:$REDIS_PORT (ATRIUM_REDIS_URL) does not answer, and deps only starts servers on this machine's loopback"
	if tcp_open "$REDIS_HOST" "$REDIS_PORT"; then
		# Give a server that is loading or starting a moment before calling it foreign.
		wait_for redis_up 10 && return 0
		die "something on $REDIS_HOST:$REDIS_PORT does not answer PING with PONG (a password? not Redis?)"
	fi
	local bin
	if ! bin=$(redis_bin); then
		install_pkgs redis-server || die "Redis is not running on $REDIS_HOST:$REDIS_PORT and not installed; install redis-server (as root this script does it with apt-get)"
		# The package may have started its own server.
		redis_up && return 0
		bin=$(redis_bin) || die "installed redis-server, but found no redis-server binary"
	fi
	mkdir -p "$REDIS_DIR"
	say "starting Redis ($bin) on $REDIS_HOST:$REDIS_PORT"
	"$bin" --daemonize yes --bind "$REDIS_HOST" --port "$REDIS_PORT" --save "" --appendonly no \
		--dir "$REDIS_DIR" --logfile "$REDIS_DIR/redis.log" --pidfile "$REDIS_DIR/redis.pid" 9>&- ||
		die "redis-server failed to start; see $REDIS_DIR/redis.log"
	wait_for redis_up 15 || die "Redis did not answer on $REDIS_HOST:$REDIS_PORT; see $REDIS_DIR/redis.log"
}

# ---------------------------------------------------------------- main

# use_pg URL points the Postgres functions at the server of URL. The default port keeps the
# data directory .atrium/pg it always had; another port gets its own, so two ports can run.
use_pg() {
	PG_HOST=$(url_host "$1")
	PG_PORT=$(url_port "$1" 5432)
	if [ "$PG_PORT" = 5432 ]; then PG_DATA=$STATE/pg; else PG_DATA=$STATE/pg-$PG_PORT; fi
}

use_redis() {
	REDIS_HOST=$(url_host "$1")
	REDIS_PORT=$(url_port "$1" 6379)
	if [ "$REDIS_PORT" = 6379 ]; then REDIS_DIR=$STATE/redis; else REDIS_DIR=$STATE/redis-$REDIS_PORT; fi
}

main() {
	mkdir -p "$STATE"
	# make up and make test may both call this at once; let one do the work. Every server
	# this script starts is started with fd 9 closed ("9>&-"): a daemon that inherited it
	# would hold the lock for as long as it runs.
	if command -v flock >/dev/null; then
		exec 9>"$STATE/deps.lock"
		flock -w 300 9 || die "another deps.sh holds $STATE/deps.lock"
	fi
	local test_pg test_redis
	test_pg="$(url_host "$ATRIUM_TEST_DATABASE_URL"):$(url_port "$ATRIUM_TEST_DATABASE_URL" 5432)"
	test_redis="$(url_host "$ATRIUM_TEST_REDIS_URL"):$(url_port "$ATRIUM_TEST_REDIS_URL" 6379)"

	use_pg "$ATRIUM_DATABASE_URL"
	CONTROL_DB=$(url_path "$ATRIUM_DATABASE_URL")
	CONTROL_DB=${CONTROL_DB:-atrium}
	ensure_pg_running
	ensure_pg_logins
	ensure_control_db
	if [ "$test_pg" != "$PG_HOST:$PG_PORT" ]; then
		use_pg "$ATRIUM_TEST_DATABASE_URL"
		ensure_pg_running
		ensure_pg_logins
	fi

	use_redis "$ATRIUM_REDIS_URL"
	ensure_redis
	if [ "$test_redis" != "$REDIS_HOST:$REDIS_PORT" ]; then
		use_redis "$ATRIUM_TEST_REDIS_URL"
		ensure_redis
	fi
}

main "$@"
