#!/usr/bin/env bash
# make bench-backstage: Backstage's own catalog backend and Atrium through the gateway, side by
# side on this machine, with the same synthetic catalog and the same REST queries
# (docs/BENCHMARKS.md, "Catalog against Backstage").
#
#  1. npm ci of the pinned Backstage packages (package-lock.json) into $STATE/backstagebench;
#  2. the internal/synth catalog (seed 42) written as YAML (services/catalog/cmd/synthcatalog);
#  3. a fresh database bench_backstage_catalog, Backstage's backend started on it with the
#     YAML files as file Locations; ingest timed until every entity is visible over REST;
#  4. VACUUM ANALYZE of Backstage's database (Postgres here runs without autovacuum);
#  5. BenchmarkBackstage (devstack/e2e; under flock $BENCH_LOCK when set, so benchmarks sharing
#     a machine take turns), which
#     starts Atrium's stack, loads the same files into a tenant through the gateway, analyzes
#     it, and runs the queries against both in alternating blocks;
#  6. Backstage stopped, its database dropped (BACKSTAGE_KEEP=1 keeps both; a later run with
#     BACKSTAGE_REUSE=1 measures again against them, e.g. after Atrium changed).
#
# Settings: ATRIUM_BENCH_ENTITIES (10000), ATRIUM_BENCH_CALLS (per query and side, 300),
# BACKSTAGE_PORT (7007), PGHOST/PGPORT/PGUSER (127.0.0.1/5432/postgres), BENCH_LOCK,
# BACKSTAGE_KEEP, BACKSTAGE_REUSE.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
state=${ATRIUM_STATE_DIR:-$root/.atrium}/backstagebench
n=${ATRIUM_BENCH_ENTITIES:-10000}
export BACKSTAGE_PORT=${BACKSTAGE_PORT:-7007}
export BACKSTAGE_TOKEN=${BACKSTAGE_TOKEN:-atrium-bench-static-token-0123456789}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
lock=${BENCH_LOCK:-}
db=bench_backstage_catalog
url=http://127.0.0.1:$BACKSTAGE_PORT/api/catalog

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# 1. Backstage, pinned.
mkdir -p "$state"
if ! cmp -s "$here/package-lock.json" "$state/package-lock.json" || [ ! -d "$state/node_modules" ]; then
	log "npm ci (Backstage backend-defaults, plugin-catalog-backend) into $state"
	cp "$here/package.json" "$here/package-lock.json" "$state/"
	(cd "$state" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
fi
cp "$here/backend.js" "$here/app-config.yaml" "$state/"

# 2. The catalog.
catdir=$state/catalog-$n
log "synthetic catalog of $n entities into $catdir"
(cd "$root" && go run ./services/catalog/cmd/synthcatalog -n "$n" -out "$catdir")
{
	echo "catalog:"
	echo "  locations:"
	for f in "$catdir"/entities-*.yaml; do
		echo "    - type: file"
		echo "      target: $f"
	done
} >"$state/app-config.locations.yaml"

# Ingested: every synthetic entity is in the catalog's answers (Location entities aside).
count() {
	curl -fsS -H "Authorization: Bearer $BACKSTAGE_TOKEN" \
		"$url/entities/by-query?limit=0&filter=kind=component&filter=kind=api&filter=kind=resource&filter=kind=system&filter=kind=domain&filter=kind=group&filter=kind=user" 2>/dev/null |
		sed -n 's/.*"totalItems":\([0-9]*\).*/\1/p'
}

# Without BACKSTAGE_KEEP the backend stops and its database goes when this script ends, a
# reused one too.
cleanup() {
	if [ -n "${pid:-}" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
}
if [ -z "${BACKSTAGE_KEEP:-}" ]; then trap cleanup EXIT; fi

# BACKSTAGE_REUSE=1: measure again against the backend a BACKSTAGE_KEEP=1 run left running
# (same catalog), without a new ingest.
if [ -n "${BACKSTAGE_REUSE:-}" ]; then
	pid=$(cat "$state/backend.pid")
	c=$(count || true)
	if ! kill -0 "$pid" 2>/dev/null || [ "${c:-0}" -ne "$n" ]; then
		log "BACKSTAGE_REUSE: no Backstage with $n entities at $url (pid $pid, count ${c:-none})"; exit 1
	fi
	ingest="(reused; see the run that ingested)"
else

# 3. Backstage on a fresh database.
psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
log "starting Backstage's backend on :$BACKSTAGE_PORT (log: $state/backend.log)"
t0=$(date +%s.%N)
(cd "$state" && NODE_ENV=production LOG_LEVEL=${LOG_LEVEL:-warn} exec node backend.js \
	--config app-config.yaml --config app-config.locations.yaml) >"$state/backend.log" 2>&1 &
pid=$!
echo "$pid" >"$state/backend.pid"
shown=0
while :; do
	if ! kill -0 "$pid" 2>/dev/null; then
		log "Backstage's backend exited:"; tail -50 "$state/backend.log" >&2; exit 1
	fi
	c=$(count || true)
	if [ "${c:-0}" -ge "$n" ]; then break; fi
	if [ $((SECONDS - shown)) -ge 30 ]; then log "ingested ${c:-0}/$n ($(cut -d' ' -f1-3 /proc/loadavg))"; shown=$SECONDS; fi
	sleep 1
done
t1=$(date +%s.%N)
ingest=$(echo "$t1 - $t0" | bc)
log "Backstage ingested $n entities in ${ingest}s (from process start)"
psql -qX -d "$db" -c "VACUUM ANALYZE"
fi

# 5. The measurement (under the bench lock when there is one).
log "uptime: $(uptime)"
log "building the benchmark"
(cd "$root/devstack/e2e" && go test -c -o "$state/e2e.test" .)
cd "$root/devstack/e2e"
ATRIUM_BENCH_BACKSTAGE_URL=$url ATRIUM_BENCH_BACKSTAGE_TOKEN=$BACKSTAGE_TOKEN \
	ATRIUM_BENCH_BACKSTAGE_CATALOG=$catdir ATRIUM_BENCH_BACKSTAGE_INGEST=$ingest \
	ATRIUM_BENCH_BACKSTAGE_PID=$pid ATRIUM_BENCH_BACKSTAGE_DB=$db \
	${lock:+flock "$lock"} "$state/e2e.test" -test.run '^$' -test.bench '^BenchmarkBackstage$' -test.benchtime 1x \
	-test.timeout 30m -test.v
