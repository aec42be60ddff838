#!/usr/bin/env bash
# bench_row_json.sh - what a route gains by selecting plain columns and letting keel write the
# object (README "Rows as objects"), on this box shared with the generator and PostgreSQL:
# two uncached keels of one build side by side, GET /api/bounties/{random id in 1..100,000},
#   A: SELECT row_to_json(b) FROM (SELECT <the route's columns> ...) AS b
#   B: SELECT <the route's columns> ... (the reference app's route)
# keel-bench -t1 and -t2, 50 and 200 connections, ROUNDS alternating rounds (A first in odd
# rounds). Prints req/s, p99, and CPU microseconds per request of keel and of PostgreSQL (all
# its processes, from /proc; nothing else queries it meanwhile); medians, and per-round
# ratios B/A. Asserts nothing but that A and B answer the same bytes.
#   bench/bench_row_json.sh             3 rounds of 3 s per cell (about 2 minutes)
#   ROUNDS=5 DUR=5 bench/bench_row_json.sh
# Bounded: every run is under `timeout`; the keels started here are stopped by PID.
set -euo pipefail
export KEEL_ADMIN_LISTEN=${KEEL_ADMIN_LISTEN:-off} KEEL_CACHE_MB=0
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
ROUNDS=${ROUNDS:-3}
DUR=${DUR:-3}
KEEL_BIN=${KEEL_BIN:-$root/zig-out/bin/keel}
KB=${KEEL_BENCH_BIN:-$root/zig-out/bin/keel-bench}
. "$root/bench/lib.sh"
need_tools bench_row_json python3 curl "$KEEL_BIN" "$KB"
ulimit -n 65536 2>/dev/null || true
bash scripts/pg.sh start
bash scripts/pg.sh load
URL=$(bash scripts/pg.sh url unix)

bench_scratch row-json

uncached_routes "$tmp/a"
uncached_routes "$tmp/b"
cols=$(sed -n 's/^SELECT \(id, .*\)$/\1/p' examples/bounties/routes/bounties_get.sql)
[ -n "$cols" ] || { echo "bench_row_json: cannot read the columns of bounties_get.sql" >&2; exit 2; }
printf -- '-- @route   GET /api/bounties/{id:int}\n-- @returns one\nSELECT row_to_json(b) FROM (SELECT %s FROM bounties WHERE id = :id::bigint) AS b;\n' \
  "$cols" > "$tmp/a/bounties_get.sql"
printf -- '-- @route   GET /api/bounties/{id:int}\n-- @returns one\nSELECT %s FROM bounties WHERE id = :id::bigint;\n' \
  "$cols" > "$tmp/b/bounties_get.sql"
PA=$(free_port); PB=$(free_port)
env PORT="$PA" KEEL_ROUTES="$tmp/a" DATABASE_URL="$URL" KEEL_SLOW_QUERY_MS=0 "$KEEL_BIN" >/dev/null 2>"$tmp/a.err" &
pa=$!; pids+=($pa)
env PORT="$PB" KEEL_ROUTES="$tmp/b" DATABASE_URL="$URL" KEEL_SLOW_QUERY_MS=0 "$KEEL_BIN" >/dev/null 2>"$tmp/b.err" &
pb=$!; pids+=($pb)
wait_ready "http://127.0.0.1:$PA/ready" || { cat "$tmp/a.err" >&2; exit 2; }
wait_ready "http://127.0.0.1:$PB/ready" || { cat "$tmp/b.err" >&2; exit 2; }
for i in 1 7 4242 99999; do
  curl -sf "http://127.0.0.1:$PA/api/bounties/$i" > "$tmp/a.$i"
  curl -sf "http://127.0.0.1:$PB/api/bounties/$i" > "$tmp/b.$i"
  cmp -s "$tmp/a.$i" "$tmp/b.$i" || { echo "bench_row_json: A and B differ on id $i" >&2; exit 1; }
done
printf 'request 1 GET /api/bounties/{int:1:100000}\n' > "$tmp/byid.scenario"

run() { # name pid port threads conns
  local name=$1 pid=$2 port=$3 k0 g0
  k0=$(proc_ticks "$pid"); g0=$(pg_ticks)
  timeout $((DUR + 60)) "$KB" -q -t "$4" -c "$5" -d "${DUR}s" --json "$tmp/$name.json" -s "$tmp/byid.scenario" \
    "http://127.0.0.1:$port" >/dev/null 2>&1 || true
  echo "$(( $(proc_ticks "$pid") - k0 )) $(( $(pg_ticks) - g0 ))" > "$tmp/$name.cpu"
}
echo "bench_row_json: $ROUNDS rounds of ${DUR}s per cell, $(nproc) CPUs" >&2
for r in $(seq "$ROUNDS"); do
  for t in 1 2; do
    for c in 50 200; do
      if [ $((r % 2)) = 1 ]; then
        run "A.t$t.c$c.$r" "$pa" "$PA" "$t" "$c"; run "B.t$t.c$c.$r" "$pb" "$PB" "$t" "$c"
      else
        run "B.t$t.c$c.$r" "$pb" "$PB" "$t" "$c"; run "A.t$t.c$c.$r" "$pa" "$PA" "$t" "$c"
      fi
    done
  done
done

python3 - "$tmp" "$ROUNDS" <<'PY'
import json, os, statistics as st, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
hz = os.sysconf("SC_CLK_TCK")
def one(name):
    t = json.load(open(os.path.join(tmp, name + ".json")))["total"]
    k, g = (int(x) for x in open(os.path.join(tmp, name + ".cpu")).read().split())
    n = max(1, t["responses"])
    return t["rps"], t["latency_ms"]["p99"], k / hz * 1e6 / n, g / hz * 1e6 / n
print("| keel-bench | conns | A req/s, p99 | B req/s, p99 | B / A (per round) | keel us/req A -> B | PostgreSQL us/req A -> B |")
print("|---|---|---|---|---|---|---|")
for t in (1, 2):
    for c in (50, 200):
        a = [one("A.t%d.c%d.%d" % (t, c, r)) for r in range(1, rounds + 1)]
        b = [one("B.t%d.c%d.%d" % (t, c, r)) for r in range(1, rounds + 1)]
        m = lambda xs, i: st.median(x[i] for x in xs)
        ratios = [y[0] / x[0] if x[0] else 0 for x, y in zip(a, b)]
        print("| -t%d | %d | %.0f, %.2f ms | %.0f, %.2f ms | %.2fx (%s) | %.2f -> %.2f | %.2f -> %.2f |" % (
            t, c, m(a, 0), m(a, 1), m(b, 0), m(b, 1), st.median(ratios), " ".join("%.2f" % x for x in ratios),
            m(a, 2), m(b, 2), m(a, 3), m(b, 3)))
PY
