#!/usr/bin/env bash
# bench_pin.sh - shard placement on a box the load generator and PostgreSQL share: keel with
# KEEL_PIN=true vs KEEL_PIN=false (and any other KEEL_* settings given as MODES), driven by
# keel-bench on one thread and on two, 50 and 200 connections, GET /health, uncached
# GET /api/bounties/{random id} and the same query cached (GET /cached/bounties/{id}, every id
# of 1..100,000 warmed on every shard after each start), and GET /health with
# `Connection: close` at 50 connections (every request a new connection: where the acceptor
# puts connections matters there). Modes alternate within every round (each round starts a
# fresh keel per mode), so both see the same box; the table shows medians over rounds and
# the per-round ratio of each mode to the first. Prints figures; asserts nothing.
#   bench/bench_pin.sh                      3 rounds of 3 s per cell
#   ROUNDS=5 DUR=5s bench/bench_pin.sh
#   MODES="KEEL_PIN=true KEEL_PIN=false" KEEL_BIN=/tmp/old/zig-out/bin/keel bench/bench_pin.sh
#   MODES="KEEL_PIN=true KEEL_PIN=true,KEEL_ACCEPT_BY_LOAD=false" bench/bench_pin.sh   (a mode's
#   settings are separated by commas)
#   MODES="KEEL_SHARDS=0 KEEL_SHARDS=1" bench/bench_pin.sh    one shard per CPU vs one shard
#   HOG=1 bench/bench_pin.sh    during every run, a busy loop pinned to the first CPU keel may
#                               use (bounded by the run's length): a neighbour that takes a core
# Bounded: 2 layouts x (2 connection counts x 3 routes + 1) x modes x ROUNDS runs of DUR each,
# plus a warm walk (100,000 requests per shard) after each of the modes x ROUNDS starts.
set -euo pipefail
# several keels may run at once here: the admin listener (default 127.0.0.1:9180) is off
export KEEL_ADMIN_LISTEN=${KEEL_ADMIN_LISTEN:-off}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
ROUNDS=${ROUNDS:-3}
DUR=${DUR:-3s}
MODES=${MODES:-"KEEL_PIN=true KEEL_PIN=false"}
HOG=${HOG:-}
KEEL_BIN=${KEEL_BIN:-zig-out/bin/keel}
ulimit -n 65536 2>/dev/null || true
bash scripts/pg.sh start
bash scripts/pg.sh load
URL=$(bash scripts/pg.sh url unix)
. "$root/bench/lib.sh"

tmp=$(mktemp -d /tmp/keel-bench-pin.XXXXXX)
kpid=
cleanup() { [ -n "$kpid" ] && kill "$kpid" 2>/dev/null; sleep 0.3; rm -rf "$tmp"; }
bench_traps cleanup

uncached_routes "$tmp/routes"
# the by-id query again, cached for longer than the run (the cache budget is keel's default)
sed -e 's|^-- @route   GET /api/bounties/|-- @route   GET /cached/bounties/|' -e 's|^-- @cache   180s$|-- @cache   1h|' \
  examples/bounties/routes/bounties_get.sql > "$tmp/routes/cached_get.sql"
grep -q '^-- @cache   1h$' "$tmp/routes/cached_get.sql" || { echo "bench_pin: bounties_get.sql changed shape" >&2; exit 2; }
printf 'request 1 GET /api/bounties/{int:1:100000}\n' > "$tmp/byid.scenario"
printf 'request 1 GET /cached/bounties/{int:1:100000}\n' > "$tmp/cached.scenario"
port=$(free_port)
start_keel() { # "VAR=value ..." : a fresh keel with those settings
  env PORT="$port" KEEL_ROUTES="$tmp/routes" DATABASE_URL="$URL" KEEL_SLOW_QUERY_MS=0 $1 \
    "$KEEL_BIN" >/dev/null 2>"$tmp/keel.err" &
  kpid=$!
  wait_ready "http://127.0.0.1:$port/ready" || { cat "$tmp/keel.err" >&2; exit 2; }
  local shards
  shards=$(shards_of "$kpid")
  local bad
  bad=$(warm_walk "$port" "$shards" /cached/bounties)
  [ "$bad" = 0 ] || echo "bench_pin: the warm walk had $bad answers other than 200" >&2
}
stop_keel() { kill "$kpid"; wait "$kpid" 2>/dev/null || true; kpid=; }

hog_cpu=$(python3 -c 'import os; print(min(os.sched_getaffinity(0)))')
secs=${DUR%s}
if [ -n "$HOG" ]; then # wraps measure: a busy loop on hog_cpu for as long as the run
  eval "$(declare -f measure | sed '1s/measure/measure_plain/')"
  measure() {
    timeout $((secs + 1)) taskset -c "$hog_cpu" sh -c 'while :; do :; done' &
    local hp=$!
    measure_plain "$@"
    kill "$hp" 2>/dev/null || true
    wait "$hp" 2>/dev/null || true
  }
fi
modes=($MODES)
for r in $(seq "$ROUNDS"); do
  # alternate which mode goes first
  order=("${modes[@]}")
  [ $((r % 2)) -eq 0 ] && order=($(printf '%s\n' "${modes[@]}" | tac))
  for m in "${order[@]}"; do
    start_keel "${m//,/ }"
    mi=0; for x in "${modes[@]}"; do [ "$x" = "$m" ] && break; mi=$((mi + 1)); done
    for t in 1 2; do
      for c in 50 200; do
        VUS=$c measure "m$mi.t$t.c$c.health.$r" "$kpid" "http://127.0.0.1:$port/health" -t "$t"
        VUS=$c measure "m$mi.t$t.c$c.byid.$r" "$kpid" "http://127.0.0.1:$port" -t "$t" -s "$tmp/byid.scenario"
        VUS=$c measure "m$mi.t$t.c$c.cached.$r" "$kpid" "http://127.0.0.1:$port" -t "$t" -s "$tmp/cached.scenario"
      done
      VUS=50 measure "m$mi.t$t.c50.churn.$r" "$kpid" "http://127.0.0.1:$port/health" -t "$t" -H "Connection: close"
    done
    stop_keel
  done
done

echo "keel placement, $(nproc) CPUs shared with keel-bench and PostgreSQL (and, on this machine, other"
echo "people's work: compare ratios from the same run), $ROUNDS rounds of $DUR, keel $KEEL_BIN${HOG:+, a busy loop on CPU $hog_cpu during every run}"
python3 - "$tmp" "$ROUNDS" "$MODES" <<'PY'
import json, statistics, sys
tmp, rounds, modes = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()
def tot(n):
    try:
        return json.load(open("%s/%s.json" % (tmp, n)))["total"]
    except Exception:
        return None
print("| route | layout | conns | " + " | ".join("%s req/s, p99" % m for m in modes) +
      " | " + " | ".join("%s / %s (rounds)" % (m, modes[0]) for m in modes[1:]) + " |")
print("|---|---|---|" + "---|" * (2 * len(modes) - 1))
names = {"health": "/health", "byid": "GET /api/bounties/{id} uncached", "cached": "the same, cached (warm)",
         "churn": "/health, Connection: close"}
for route in ("health", "byid", "cached", "churn"):
    for t in (1, 2):
        for c in ((50, 200) if route != "churn" else (50,)):
            cells, per = [], []
            for mi in range(len(modes)):
                ts = [tot("m%d.t%d.c%d.%s.%d" % (mi, t, c, route, r)) for r in range(1, rounds + 1)]
                ok = [x for x in ts if x]
                per.append([x["rps"] if x else 0 for x in ts])
                if not ok:
                    cells.append("-")
                    continue
                errs = sum(x["failed"] for x in ok)
                cells.append("%.0f, %.1f ms%s" % (statistics.median(x["rps"] for x in ok),
                             statistics.median(x["latency_ms"]["p99"] for x in ok), " (%d errors)" % errs if errs else ""))
            rat = []
            for mi in range(1, len(modes)):
                rs = [a / b for a, b in zip(per[mi], per[0]) if b]
                rat.append("%.2fx (%s)" % (statistics.median(rs), " ".join("%.2f" % x for x in rs)) if rs else "-")
            print("| %s | -t%d | %d | %s | %s |" % (names[route], t, c, " | ".join(cells), " | ".join(rat)))
PY
