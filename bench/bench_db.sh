#!/usr/bin/env bash
# keel's uncached database path vs pgbench, same database, same run: GET /api/bounties/{random id}
# with wrk at 50 and 200 connections, against `pgbench -S -M prepared` (built-in select-only)
# and a pgbench script running the route's own query, both with as many PostgreSQL
# connections as keel holds (shards x KEEL_DB_CONNS_PER_SHARD). Prints figures; asserts nothing.
# usage: bench/bench_db.sh [duration, default 10s]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
DUR=${1:-10s}
SECS=${DUR%s}
CPUS=$(nproc)
CONNS_PER_SHARD=${KEEL_DB_CONNS_PER_SHARD:-2}
DBCONNS=$((CPUS * CONNS_PER_SHARD))
[ -x zig-out/bin/keel ] || { bash scripts/setup.sh; scripts/zig build install --summary none; }
bash scripts/pg.sh start
bash scripts/pg.sh load
URL=$(bash scripts/pg.sh url)
PGBENCH=/usr/lib/postgresql/15/bin/pgbench
. "$root/bench/lib.sh"

tmp=$(mktemp -d)
kpid=
cleanup() { [ -n "$kpid" ] && kill "$kpid" 2>/dev/null; sleep 0.3; rm -rf "$tmp"; }
trap cleanup EXIT

# The uncached route: the example routes without their cache annotations.
mkdir -p "$tmp/routes"
for f in examples/bounties/routes/*.sql; do
  grep -vE '^-- @(cache|tags|rate|invalidates)' "$f" > "$tmp/routes/$(basename "$f")"
done
port=$(free_port)
PORT=$port KEEL_LISTEN=127.0.0.1 KEEL_ROUTES="$tmp/routes" DATABASE_URL="$URL" KEEL_SLOW_QUERY_MS=0 \
  zig-out/bin/keel >/dev/null 2>"$tmp/keel.err" &
kpid=$!
wait_ready "http://127.0.0.1:$port/ready"

wrk_run() { # conns -> "rps p50_ms p99_ms errors"
  wrk -t"$CPUS" -c"$1" -d"$DUR" --latency -s bench/lua/random_bounty.lua "http://127.0.0.1:$port" > "$tmp/wrk.out" 2>&1 || true
  wrk_summary "$tmp/wrk.out" | cut -d' ' -f2-
}

# pgbench: built-in select-only needs its tables (scale 1 = 100,000 accounts, like the bounties).
PGOPTS=(-h 127.0.0.1 -p "${KEEL_PG_PORT:-54329}" -U keel bounties)
"$PGBENCH" -i -s 1 -q "${PGOPTS[@]}" >/dev/null 2>&1
cat > "$tmp/route.sql" <<'SQL'
\set id random(1, 100000)
SELECT row_to_json(b) FROM (SELECT id, user_id, title, description, amount_cents, location, status, views, created_at FROM bounties WHERE id = :id) AS b;
SQL
pgb() { "$PGBENCH" -n -M prepared -c "$DBCONNS" -j "$CPUS" -T "$SECS" "$@" "${PGOPTS[@]}" 2>&1 | sed -n 's/^tps = \([0-9.]*\).*/\1/p'; }

read -r k50 k50p50 k50p99 k50e < <(wrk_run 50)
read -r k200 k200p50 k200p99 k200e < <(wrk_run 200)
tps_s=$(pgb -S)
tps_r=$(pgb -f "$tmp/route.sql")

echo "keel GET /api/bounties/{random id} (uncached) vs pgbench, $CPUS CPUs, $DBCONNS PostgreSQL connections each, $DUR runs"
echo
echo "| load | req/s or tps | p50 | p99 | errors |"
echo "|---|---|---|---|---|"
echo "| keel, wrk 50 connections | $k50 | ${k50p50}ms | ${k50p99}ms | $k50e |"
echo "| keel, wrk 200 connections | $k200 | ${k200p50}ms | ${k200p99}ms | $k200e |"
echo "| pgbench -S -M prepared -c $DBCONNS | $tps_s | | | |"
echo "| pgbench -M prepared, the route's query, -c $DBCONNS | $tps_r | | | |"
echo
python3 -c "print('keel(50)/pgbench -S: %.2f   keel(50)/pgbench route query: %.2f   keel(200)/pgbench -S: %.2f' % ($k50/$tps_s, $k50/$tps_r, $k200/$tps_s))"
