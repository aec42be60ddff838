#!/usr/bin/env bash
# bench_shared.sh - issue 13's benchmark, one run: keel on a box it shares with the load
# generator and PostgreSQL, against nginx and pgbench on the same box in the same run.
# Both generator layouts (keel-bench -t1 and -t2), 50 and 200 connections, ROUNDS alternating
# rounds (keel first in odd rounds, the other side first in even ones); the table shows
# medians, and each ratio is the median of per-round ratios (rounds on a shared machine move
# together, so a ratio is steadier than either side). Prints figures; asserts nothing.
#   - GET /health vs nginx `return 200`;
#   - cached GET /api/bounties/{random id in 1..100,000}, after a warm walk of every id
#     through every shard, vs nginx serving the same bytes as static files (written here);
#     the hit ratio is counted by PostgreSQL (pg_stat_statements calls vs responses);
#   - uncached GET by id (KEEL_CACHE_MB=0) vs `pgbench -S -M prepared` and vs pgbench
#     running the route's own query, both with as many PostgreSQL connections as keel holds;
#   - CPU per request split between the generator, keel and the rest (PostgreSQL, nginx's
#     workers, kernel work nobody else was charged for), from bench/cpu_split.py.
#
#   bench/bench_shared.sh            3 rounds of 5 s per cell (about 8 minutes)
#   bench/bench_shared.sh --quick    2 rounds of 3 s per cell (about 3 minutes)
#   KEEL_BIN=/tmp/old/zig-out/bin/keel bench/bench_shared.sh    another build of keel
#   KEEL_CACHE_MB=487 bench/bench_shared.sh   the cached keel's budget (default: keel's own)
# Other keel settings (KEEL_PIN, KEEL_SHARDS, ...) pass through the environment to both keels.
# Bounded: every run is under `timeout`; servers started here are stopped by PID.
set -euo pipefail
# several keels may run at once here: the admin listener (default 127.0.0.1:9180) is off
export KEEL_ADMIN_LISTEN=${KEEL_ADMIN_LISTEN:-off}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
ROUNDS=${ROUNDS:-3}
DUR=${DUR:-5}
if [ "${1:-}" = "--quick" ]; then ROUNDS=${QUICK_ROUNDS:-2}; DUR=${QUICK_DUR:-3}; fi
KEEL_BIN=${KEEL_BIN:-$root/zig-out/bin/keel}
KB=${KEEL_BENCH_BIN:-$root/zig-out/bin/keel-bench}
PGBENCH=${PGBENCH:-/usr/lib/postgresql/15/bin/pgbench}
CACHE_MB=${KEEL_CACHE_MB:-}
unset KEEL_CACHE_MB
. "$root/bench/lib.sh"
need_tools bench_shared nginx python3 "$KEEL_BIN" "$KB" "$PGBENCH"
ulimit -n 65536 2>/dev/null || true
bash scripts/pg.sh start
bash scripts/pg.sh load
URL=$(bash scripts/pg.sh url unix)
psql_() { bash scripts/pg.sh psql -qAtX -c "$1"; }

bench_scratch shared

# The uncached keel serves the example routes without their cache annotations; the cached
# one serves them as they are, except that GET /api/bounties/{id} is cached for 1h instead of
# 180s, so that no entry of the warm walk expires during the run (expiry is not what is
# measured: the budget and the hit path are).
uncached_routes "$tmp/uncached"
mkdir -p "$tmp/cached"
for f in examples/bounties/routes/*.sql; do
  sed 's/^-- @cache   180s$/-- @cache   1h/' "$f" > "$tmp/cached/$(basename "$f")"
done
KC=$(free_port); KU=$(free_port); NP=$(free_port)
env PORT="$KC" KEEL_ROUTES="$tmp/cached" DATABASE_URL="$URL" KEEL_SLOW_QUERY_MS=0 \
  ${CACHE_MB:+KEEL_CACHE_MB=$CACHE_MB} "$KEEL_BIN" >/dev/null 2>"$tmp/kc.err" &
kc_pid=$!; pids+=($kc_pid)
env PORT="$KU" KEEL_ROUTES="$tmp/uncached" DATABASE_URL="$URL" KEEL_SLOW_QUERY_MS=0 KEEL_CACHE_MB=0 \
  "$KEEL_BIN" >/dev/null 2>"$tmp/ku.err" &
ku_pid=$!; pids+=($ku_pid)
wait_ready "http://127.0.0.1:$KC/ready" || { cat "$tmp/kc.err" >&2; exit 2; }
wait_ready "http://127.0.0.1:$KU/ready" || { cat "$tmp/ku.err" >&2; exit 2; }
shards=$(shards_of "$kc_pid")
[ "$shards" -gt 0 ] || shards=$(nproc)
dbconns=$((shards * ${KEEL_DB_CONNS_PER_SHARD:-2}))

# nginx: `return 200` on /health and every bounty's bytes as a static file, exactly as keel
# sends them (row_to_json of the route's columns, which keel writes the same way; checked
# against keel on one id).
mkdir -p "$tmp/www/api/bounties"
psql_ "SELECT id || chr(9) || row_to_json(b) FROM (SELECT id, user_id, title, description, amount_cents, location, status, views, created_at FROM bounties WHERE id BETWEEN 1 AND 100000) AS b" |
  python3 -c '
import sys, os
d = sys.argv[1]
for line in sys.stdin:
    i, body = line.rstrip("\n").split("\t", 1)
    with open(os.path.join(d, i), "w") as f:
        f.write(body)
' "$tmp/www/api/bounties"
curl -sf "http://127.0.0.1:$KC/api/bounties/7" > "$tmp/keel7.json"
cmp -s "$tmp/keel7.json" "$tmp/www/api/bounties/7" || echo "bench_shared: note: nginx's file for id 7 differs from keel's body" >&2
nginx_conf "$tmp" "$NP" "try_files \$uri =404; } location = /health { return 200 'ok';"
nginx -e "$tmp/nginx.err" -c "$tmp/nginx.conf" -p "$tmp" &
pids+=($!)
wait_ready "http://127.0.0.1:$NP/health" || { cat "$tmp/nginx.err" >&2; exit 2; }


printf 'request 1 GET /api/bounties/{int:1:100000}\n' > "$tmp/byid.scenario"
cat > "$tmp/route.sql" <<'SQL'
\set id random(1, 100000)
SELECT id, user_id, title, description, amount_cents, location, status, views, created_at FROM bounties WHERE id = :id;
SQL
"$PGBENCH" -i -s 1 -q "$URL" >/dev/null 2>&1

# Lookups of the by-id statement so far: its calls, and the rows of its batch form (one call
# answers many lookups there).
calls() { psql_ "SELECT coalesce(sum(CASE WHEN query LIKE '%keel_ord%' THEN rows ELSE calls END),0) FROM pg_stat_statements WHERE query LIKE '%FROM bounties%WHERE id = %'"; }
t0=$(date +%s)
walk_bad=$(warm_walk "$KC" "$shards" /api/bounties)
walk_s=$(( $(date +%s) - t0 ))
cache_rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$kc_pid/status)

split() { # name server-pid rate-regex -- command...: one run under cpu_split into $tmp/NAME.{out,split}
  local name=$1 spid=$2 re=$3
  shift 4
  python3 bench/cpu_split.py --server "$spid" "$re" -- timeout $((DUR + 60)) "$@" \
    >"$tmp/$name.split" 2>"$tmp/$name.out" || true
}
kb() { # name server-pid threads conns url [args]
  local name=$1 spid=$2 t=$3 c=$4 url=$5
  shift 5
  split "$name" "$spid" 'rate\s+([\d.]+) req/s' -- "$KB" -q -t "$t" -c "$c" -d "${DUR}s" --json "$tmp/$name.json" "$@" "$url"
}
pgb() { # name threads pgbench-args...
  local name=$1 t=$2
  shift 2
  split "$name" 0 'tps = ([\d.]+)' -- "$PGBENCH" -n -M prepared -c "$dbconns" -j "$t" -T "$DUR" "$@" "$URL"
}

echo "bench_shared: keel $KEEL_BIN, $shards shards, $(nproc) CPUs, $ROUNDS rounds of ${DUR}s per cell" >&2
cached_requests=0
for r in $(seq "$ROUNDS"); do
  for t in 1 2; do
    for c in 50 200; do
      k="t$t.c$c.r$r"
      keel_side() {
        kb "kh.$k" "$kc_pid" "$t" "$c" "http://127.0.0.1:$KC/health"
        # the by-id lookups during the cached run are its misses (the uncached keel runs the
        # same statement, but never at the same time)
        local q0; q0=$(calls)
        kb "kc.$k" "$kc_pid" "$t" "$c" "http://127.0.0.1:$KC" -s "$tmp/byid.scenario"
        echo $(( $(calls) - q0 )) >> "$tmp/misses"
        kb "ku.$k" "$ku_pid" "$t" "$c" "http://127.0.0.1:$KU" -s "$tmp/byid.scenario"
      }
      other_side() {
        kb "nh.$k" 0 "$t" "$c" "http://127.0.0.1:$NP/health"
        kb "nc.$k" 0 "$t" "$c" "http://127.0.0.1:$NP" -s "$tmp/byid.scenario"
        if [ "$c" = 50 ]; then # pgbench's clients are keel's connections, whatever keel's clients
          pgb "pS.t$t.r$r" "$t" -S
          pgb "pR.t$t.r$r" "$t" -f "$tmp/route.sql"
        fi
      }
      if [ $((r % 2)) -eq 1 ]; then keel_side; other_side; else other_side; keel_side; fi
    done
  done
done
misses=$(awk '{s += $1} END {print s + 0}' "$tmp/misses")

{
  echo "shards=$shards dbconns=$dbconns rounds=$ROUNDS dur=$DUR walk_bad=$walk_bad walk_s=$walk_s"
  echo "misses=$misses cache_rss_kb=$cache_rss_kb cache_mb=${CACHE_MB:-default}"
  echo "keel_err_cached=$(grep -c . "$tmp/kc.err" || true) keel_err_uncached=$(grep -c . "$tmp/ku.err" || true)"
} > "$tmp/meta"
python3 - "$tmp" "$ROUNDS" <<'PY'
import json, os, re, statistics, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
meta = dict(kv.split("=", 1) for kv in open(os.path.join(tmp, "meta")).read().split())
med = statistics.median

def tot(n):
    try:
        return json.load(open(os.path.join(tmp, n + ".json")))["total"]
    except Exception:
        return None

def tps(n):
    try:
        return float(re.search(r"tps = ([\d.]+)", open(os.path.join(tmp, n + ".out")).read()).group(1))
    except Exception:
        return 0.0

def split(n):
    try:
        line = open(os.path.join(tmp, n + ".split")).read()
        return {k: float(v) for k, v in re.findall(r"(\w+)=([-\d.]+)", line)}
    except Exception:
        return None

def rates(prefix, t, c):
    out = []
    for r in range(1, rounds + 1):
        x = tot("%s.t%d.c%d.r%d" % (prefix, t, c, r))
        out.append(x["rps"] if x and x["responses"] else 0.0)
    return out

def p99(prefix, t, c):
    v = [tot("%s.t%d.c%d.r%d" % (prefix, t, c, r)) for r in range(1, rounds + 1)]
    return med(x["latency_ms"]["p99"] for x in v if x and x["responses"]) if any(x and x["responses"] for x in v) else float("nan")

def failed(prefix, t, c):
    return sum((tot("%s.t%d.c%d.r%d" % (prefix, t, c, r)) or {"failed": 0})["failed"] for r in range(1, rounds + 1))

def ratio(a, b):
    rs = [x / y for x, y in zip(a, b) if y]
    return (med(rs), " ".join("%.2f" % x for x in rs)) if rs else (float("nan"), "-")

print("keel vs nginx and pgbench, one run; %s CPUs shared by the load generator (keel-bench), keel, nginx and"
      " PostgreSQL, and on this machine by other people's work too: compare ratios within this run only." % os.cpu_count())
print("keel: %s shards; PostgreSQL connections: %s (keel's and pgbench's); %d rounds of %ss per cell, alternating." %
      (meta["shards"], meta["dbconns"], rounds, meta["dur"]))
print()
print("| measure | generator | conns | keel req/s | keel p99 | other req/s (or tps) | other p99 | keel/other (per round) | target |")
print("|---|---|---|---|---|---|---|---|---|")
for t in (1, 2):
    for c in (50, 200):
        for label, kp, op, target in (("/health vs nginx return 200", "kh", "nh", ">= 1.0x"),
                                      ("cached GET by id vs nginx static files", "kc", "nc",
                                       ">= 1.0x" + (", p99 < 5 ms" if c == 200 else ""))):
            k, o = rates(kp, t, c), rates(op, t, c)
            m, per = ratio(k, o)
            f = failed(kp, t, c) + failed(op, t, c)
            print("| %s | -t%d | %d | %.0f | %.2f ms | %.0f | %.2f ms | **%.2fx** (%s) | %s |%s" % (
                label, t, c, med(k), p99(kp, t, c), med(o), p99(op, t, c), m, per, target,
                " (%d failed)" % f if f else ""))
        k = rates("ku", t, c)
        for label, pp, target in (("uncached GET by id vs pgbench -S -M prepared", "pS", ">= 1.3x"),
                                  ("uncached GET by id vs pgbench, the route's query", "pR", ">= 1.0x")):
            o = [tps("%s.t%d.r%d" % (pp, t, r)) for r in range(1, rounds + 1)]
            m, per = ratio(k, o)
            f = failed("ku", t, c)
            print("| %s | -t%d | %d | %.0f | %.2f ms | %.0f tps | | **%.2fx** (%s) | %s%s |%s" % (
                label, t, c, med(k), p99("ku", t, c), med(o), m, per, target,
                ", p99 <= 10 ms" if c == 200 else "", " (%d failed)" % f if f else ""))

print()
print("CPU microseconds per request (medians over rounds): all CPUs | load generator | server (keel; nginx's"
      " workers are not counted there but in rest) | rest (PostgreSQL and kernel work charged to nobody else)")
print()
print("| load | generator | conns | all | generator | server | rest |")
print("|---|---|---|---|---|---|---|")
rows = [("keel /health", "kh"), ("nginx /health", "nh"), ("keel cached by id", "kc"), ("nginx static by id", "nc"),
        ("keel uncached by id", "ku")]
for t in (1, 2):
    for c in (50, 200):
        for label, p in rows:
            s = [split("%s.t%d.c%d.r%d" % (p, t, c, r)) for r in range(1, rounds + 1)]
            s = [x for x in s if x]
            if s:
                print("| %s | -t%d | %d | %.1f | %.1f | %.1f | %.1f |" % (label, t, c, *(med(x[k] for x in s) for k in ("total", "tool", "server", "rest"))))
    for label, p in (("pgbench -S", "pS"), ("pgbench route query", "pR")):
        s = [split("%s.t%d.r%d" % (p, t, r)) for r in range(1, rounds + 1)]
        s = [x for x in s if x]
        if s:
            print("| %s (server = PostgreSQL in rest) | -j%d | %s clients | %.1f | %.1f | - | %.1f |" % (
                label, t, meta["dbconns"], med(x["total"] for x in s), med(x["tool"] for x in s), med(x["rest"] for x in s)))

served = sum((tot("kc.t%d.c%d.r%d" % (t, c, r)) or {"responses": 0})["responses"]
             for t in (1, 2) for c in (50, 200) for r in range(1, rounds + 1))
misses = int(meta["misses"])
print()
print("cache (KEEL_CACHE_MB=%s): warm walk of ids 1..100,000 through each of %s shards in %ss (%s non-200);"
      " keel's RSS after it %.0f MiB; then %d cached responses with %d queries: hit ratio %.4f" % (
          meta["cache_mb"], meta["shards"], meta["walk_s"], meta["walk_bad"], int(meta["cache_rss_kb"]) / 1024,
          served, misses, 1 - misses / served if served else float("nan")))
PY
