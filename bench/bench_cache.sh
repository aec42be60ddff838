#!/usr/bin/env bash
# keel's cache vs nginx serving the same bytes as a static file vs keel uncached, same run:
# GET /api/bounties/{random id} with wrk at 200 connections. The hit ratio is measured by
# PostgreSQL itself (pg_stat_statements calls of the route's statement vs requests sent).
# Prints figures; asserts nothing.  usage: bench/bench_cache.sh [duration, default 10s]
set -euo pipefail
# Several keel processes may run at once here: no admin listener unless asked for.
export KEEL_ADMIN_LISTEN=${KEEL_ADMIN_LISTEN:-off}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
DUR=${1:-10s}
CPUS=$(nproc)
ulimit -n 65536 2>/dev/null || true
[ -x zig-out/bin/keel ] || { bash scripts/setup.sh; scripts/zig build install --summary none; }
bash scripts/pg.sh start
bash scripts/pg.sh load
URL=$(bash scripts/pg.sh url)
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
psql_() { bash scripts/pg.sh psql -qAtX -c "$1"; }
. "$root/bench/lib.sh"

tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.3; rm -rf "$tmp"; }
bench_traps cleanup

uncached_routes "$tmp/uncached"
KC=$(free_port); KU=$(free_port); NP=$(free_port)
PORT=$KC KEEL_ROUTES=examples/bounties/routes DATABASE_URL="$URL" KEEL_CACHE_MB=${KEEL_CACHE_MB:-512} \
  KEEL_SLOW_QUERY_MS=0 zig-out/bin/keel >/dev/null 2>"$tmp/kc.err" &
pids+=($!)
PORT=$KU KEEL_ROUTES="$tmp/uncached" DATABASE_URL="$URL" KEEL_SLOW_QUERY_MS=0 zig-out/bin/keel >/dev/null 2>"$tmp/ku.err" &
pids+=($!)
wait_ready "http://127.0.0.1:$KC/ready"; wait_ready "http://127.0.0.1:$KU/ready"

# nginx serves one bounty's exact bytes as a static file, with the same worker count.
mkdir -p "$tmp/www/api/bounties"
curl -sf "http://127.0.0.1:$KC/api/bounties/7" > "$tmp/www/api/bounties/static.json"
nginx_conf "$tmp" "$NP" "try_files /api/bounties/static.json =404;"
"$NGINX" -c "$tmp/nginx.conf" -p "$tmp" &
pids+=($!)
wait_ready "http://127.0.0.1:$NP/api/bounties/1"

wrk_run() { # url script -> "requests rps p50_ms p99_ms errors"
  wrk -t"$CPUS" -c200 -d"$DUR" --latency -s "$2" "$1" > "$tmp/wrk.out" 2>&1 || true
  wrk_summary "$tmp/wrk.out"
}
calls() { psql_ "SELECT coalesce(sum(calls),0) FROM pg_stat_statements WHERE query LIKE '%FROM bounties%WHERE id = \$1%'"; }

psql_ "SELECT pg_stat_statements_reset()" >/dev/null
read -r n_full c_rps c_p50 c_p99 c_err < <(wrk_run "http://127.0.0.1:$KC" bench/lua/random_bounty.lua)
q_full=$(calls)
wrk -t"$CPUS" -c200 -d3s -s bench/lua/random_bounty_hot.lua "http://127.0.0.1:$KC" >/dev/null 2>&1 || true # warm
psql_ "SELECT pg_stat_statements_reset()" >/dev/null
read -r n_hot h_rps h_p50 h_p99 h_err < <(wrk_run "http://127.0.0.1:$KC" bench/lua/random_bounty_hot.lua)
q_hot=$(calls)
read -r _ n_rps n_p50 n_p99 n_err < <(wrk_run "http://127.0.0.1:$NP" bench/lua/random_bounty.lua)
read -r _ u_rps u_p50 u_p99 u_err < <(wrk_run "http://127.0.0.1:$KU" bench/lua/random_bounty.lua)

hit() { python3 -c "print('%.1f%%' % (100.0 * (1 - $2 / $1)))"; }
echo "GET /api/bounties/{random id}: wrk -t$CPUS -c200 -d$DUR, $CPUS CPUs"
echo
echo "| server | req/s | p50 | p99 | errors | hit ratio (1 - DB calls / requests) |"
echo "|---|---|---|---|---|---|"
echo "| keel cached, ids 1..100000 (cold start) | $c_rps | ${c_p50}ms | ${c_p99}ms | $c_err | $(hit "$n_full" "$q_full") ($q_full queries for $n_full requests) |"
echo "| keel cached, ids 1..1000 (after a 3 s warm-up) | $h_rps | ${h_p50}ms | ${h_p99}ms | $h_err | $(hit "$n_hot" "$q_hot") ($q_hot queries for $n_hot requests) |"
echo "| nginx, the same bytes as a static file | $n_rps | ${n_p50}ms | ${n_p99}ms | $n_err | - |"
echo "| keel uncached | $u_rps | ${u_p50}ms | ${u_p99}ms | $u_err | 0% |"
echo
python3 -c "print('cached(1..1000)/nginx static: %.2f   cached(1..100000)/nginx static: %.2f   cached(1..1000)/uncached: %.2f' % ($h_rps/$n_rps, $c_rps/$n_rps, $h_rps/$u_rps))"
