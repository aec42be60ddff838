#!/usr/bin/env bash
# keel's uncached database path vs pgbench, same database, same run: GET /api/bounties/{random id}
# with wrk at 50 and 200 connections, against `pgbench -S -M prepared` (built-in select-only)
# and a pgbench script running the route's own query, both with as many PostgreSQL
# connections as keel holds (shards x KEEL_DB_CONNS_PER_SHARD), plus the route's query with
# one connection per wrk connection (what a pool sized to the users does). Every run also
# says where the machine's CPU went per request (bench/cpu_split.py): the load generator,
# keel, and the rest (PostgreSQL's backends, kernel work charged to nobody else). On a box
# where all three share the CPUs, that split is what bounds the ratio. Prints figures;
# asserts nothing.
# usage: bench/bench_db.sh [duration, default 10s]
#   PG_TRANSPORT=unix (default: the cluster's socket, as scripts/run.sh uses) or tcp
set -euo pipefail
# Several keel processes may run at once here: no admin listener unless asked for.
export KEEL_ADMIN_LISTEN=${KEEL_ADMIN_LISTEN:-off}
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
TRANSPORT=${PG_TRANSPORT:-unix}
URL=$(bash scripts/pg.sh url "$TRANSPORT")
PGBENCH=/usr/lib/postgresql/15/bin/pgbench
. "$root/bench/lib.sh"

tmp=$(mktemp -d)
kpid=
cleanup() { [ -n "$kpid" ] && kill "$kpid" 2>/dev/null; sleep 0.3; rm -rf "$tmp"; }
bench_traps cleanup

# The uncached route: the example routes without their cache annotations.
uncached_routes "$tmp/routes"
port=$(free_port)
PORT=$port KEEL_LISTEN=127.0.0.1 KEEL_ROUTES="$tmp/routes" DATABASE_URL="$URL" KEEL_SLOW_QUERY_MS=0 \
  zig-out/bin/keel >/dev/null 2>"$tmp/keel.err" &
kpid=$!
wait_ready "http://127.0.0.1:$port/ready"

split() { # label cpu_split-args... : runs one load under bench/cpu_split.py, keeps its line
  local label=$1; shift
  bench/cpu_split.py "$@" 2>"$tmp/$label.out" | sed 's/^/'"$label"' /' >> "$tmp/cpu"
}
wrk_run() { # conns -> "rps p50_ms p99_ms errors"
  split "keel$1" --server "$kpid" 'Requests/sec:\s+([\d.]+)' -- \
    wrk -t"$CPUS" -c"$1" -d"$DUR" --latency -s bench/lua/random_bounty.lua "http://127.0.0.1:$port"
  wrk_summary "$tmp/keel$1.out" | cut -d' ' -f2-
}

# pgbench: built-in select-only needs its tables (scale 1 = 100,000 accounts, like the bounties).
# pgbench takes keel's DATABASE_URL as its database argument: same server, same transport.
"$PGBENCH" -i -s 1 -q "$URL" >/dev/null 2>&1
cat > "$tmp/route.sql" <<'SQL'
\set id random(1, 100000)
SELECT id, user_id, title, description, amount_cents, location, status, views, created_at FROM bounties WHERE id = :id;
SQL
pgb() { # label clients pgbench-args... -> tps
  local label=$1 clients=$2; shift 2
  split "$label" 'tps = ([\d.]+)' -- "$PGBENCH" -n -M prepared -c "$clients" -j "$CPUS" -T "$SECS" "$@" "$URL"
  sed -n 's/^tps = \([0-9]*\).*/\1/p' "$tmp/$label.out"
}

read -r k50 k50p50 k50p99 k50e < <(wrk_run 50)
read -r k200 k200p50 k200p99 k200e < <(wrk_run 200)
tps_s=$(pgb pgS "$DBCONNS" -S)
tps_r=$(pgb pgR "$DBCONNS" -f "$tmp/route.sql")
tps_r50=$(pgb pgR50 50 -f "$tmp/route.sql")

echo "keel GET /api/bounties/{random id} (uncached) vs pgbench, $CPUS CPUs, PostgreSQL over $TRANSPORT, $DUR runs"
echo
cpu() { # label -> "total | load generator | keel | rest" (CPU us per request)
  sed -n "s/^$1 rate=[0-9]* total=\([0-9.]*\) tool=\([0-9.]*\) server=\([0-9.]*\) rest=\([-0-9.]*\)/\1 | \2 | \3 | \4/p" "$tmp/cpu"
}
echo "| load | PostgreSQL connections | req/s or tps | p50 | p99 | errors | CPU us/request: all | load generator | keel | PostgreSQL + rest |"
echo "|---|---|---|---|---|---|---|---|---|---|"
echo "| keel, wrk 50 connections | $DBCONNS | $k50 | ${k50p50}ms | ${k50p99}ms | $k50e | $(cpu keel50) |"
echo "| keel, wrk 200 connections | $DBCONNS | $k200 | ${k200p50}ms | ${k200p99}ms | $k200e | $(cpu keel200) |"
echo "| pgbench -S -M prepared | $DBCONNS | $tps_s | | | | $(cpu pgS) |"
echo "| pgbench -M prepared, the route's query | $DBCONNS | $tps_r | | | | $(cpu pgR) |"
echo "| pgbench -M prepared, the route's query | 50 | $tps_r50 | | | | $(cpu pgR50) |"
echo
python3 -c "print('keel(50)/pgbench -S: %.2f   keel(50)/pgbench route query: %.2f   keel(200)/pgbench -S: %.2f   keel(50)/pgbench route query with 50 connections: %.2f' % ($k50/$tps_s, $k50/$tps_r, $k200/$tps_s, $k50/$tps_r50))"
