#!/usr/bin/env bash
# bench_answer.sh - what reading results row by row costs (db.h, "Answers held"): two uncached
# keels of one build side by side on the reference app,
#   A: KEEL_MAX_ANSWER=0   every result held whole, as libpq returns it (no bound)
#   B: the default         rows read one at a time and held to KEEL_MAX_ANSWER, except where
#                          the route's own LIMIT allows at most 1,000 rows
# on four routes, keel-bench -t1 and -t2, 50 connections, ROUNDS alternating rounds (A first
# in odd rounds):
#   by id, LIMIT 1       GET /api/bounties/{random id}: the reference app's (B reads it whole)
#   by id, no LIMIT      the same statement without its LIMIT 1 (B: row by row; batched)
#   list, LIMIT :limit   GET /api/bounties?limit=20 from a random keyset page (max 100: whole)
#   list, no max         the same with its @query limit's max removed (B: row by row)
# Prints req/s, p99, CPU microseconds per request of keel and of PostgreSQL (all its
# processes; nothing else queries it meanwhile); medians, and the per-round ratios B/A.
# Then the bound itself: a route answering BIG_ROWS (2,000,000) rows of ~123 bytes of JSON
# (no LIMIT), one request and then 8 at once, against a keel with KEEL_MAX_ANSWER=0 and one
# with the default; keel's peak RSS (sampled every 10 ms), its RSS 10 s after, the statuses.
# With 0 this takes about 2.5 GB.
# Asserts nothing but that A and B answer the same bytes.
#   bench/bench_answer.sh                3 rounds of 3 s per cell (about 4 minutes)
#   ROUNDS=5 DUR=5 bench/bench_answer.sh
#   ROUNDS=0 bench/bench_answer.sh      the bound alone
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
need_tools bench_answer python3 curl "$KEEL_BIN" "$KB"
ulimit -n 65536 2>/dev/null || true
bash scripts/pg.sh start
bash scripts/pg.sh load
URL=$(bash scripts/pg.sh url unix)

bench_scratch answer

uncached_routes "$tmp/routes"
sed -e 's#^-- @route .*#-- @route   GET /bench/bounties/{id:int}#' -e '/^LIMIT 1;$/d' -e 's/^\(WHERE id = :id::bigint\)$/\1;/' \
  "$tmp/routes/bounties_get.sql" > "$tmp/routes/zz_get_nolimit.sql"
sed -e 's#^-- @route .*#-- @route   GET /bench/bounties#' -e 's/^\(-- @query   limit int default 20 min 1\) max 100$/\1/' \
  "$tmp/routes/bounties_list.sql" > "$tmp/routes/zz_list_nomax.sql"
grep -q 'LIMIT' "$tmp/routes/zz_get_nolimit.sql" && { echo "bench_answer: bounties_get.sql changed shape" >&2; exit 2; }
grep -q 'max 100' "$tmp/routes/zz_list_nomax.sql" && { echo "bench_answer: bounties_list.sql changed shape" >&2; exit 2; }
PA=$(free_port); PB=$(free_port)
env PORT="$PA" KEEL_ROUTES="$tmp/routes" DATABASE_URL="$URL" KEEL_SLOW_QUERY_MS=0 KEEL_MAX_ANSWER=0 "$KEEL_BIN" >/dev/null 2>"$tmp/a.err" &
pa=$!; pids+=($pa)
env PORT="$PB" KEEL_ROUTES="$tmp/routes" DATABASE_URL="$URL" KEEL_SLOW_QUERY_MS=0 "$KEEL_BIN" >/dev/null 2>"$tmp/b.err" &
pb=$!; pids+=($pb)
wait_ready "http://127.0.0.1:$PA/ready" || { cat "$tmp/a.err" >&2; exit 2; }
wait_ready "http://127.0.0.1:$PB/ready" || { cat "$tmp/b.err" >&2; exit 2; }
for p in /api/bounties/1 /bench/bounties/99999 "/api/bounties?limit=20&before=5000" "/bench/bounties?limit=100&before=77777"; do
  curl -sf "http://127.0.0.1:$PA$p" > "$tmp/a.out"
  curl -sf "http://127.0.0.1:$PB$p" > "$tmp/b.out"
  cmp -s "$tmp/a.out" "$tmp/b.out" || { echo "bench_answer: A and B differ on $p" >&2; exit 1; }
done
printf 'request 1 GET /api/bounties/{int:1:100000}\n' > "$tmp/byid.scenario"
printf 'request 1 GET /bench/bounties/{int:1:100000}\n' > "$tmp/byid_rows.scenario"
printf 'request 1 GET /api/bounties?limit=20&before={int:1000:100000}\n' > "$tmp/list.scenario"
printf 'request 1 GET /bench/bounties?limit=20&before={int:1000:100000}\n' > "$tmp/list_rows.scenario"
scenarios="byid byid_rows list list_rows"

run() { # name pid port threads scenario
  local name=$1 pid=$2 port=$3 k0 g0
  k0=$(proc_ticks "$pid"); g0=$(pg_ticks)
  timeout $((DUR + 60)) "$KB" -q -t "$4" -c 50 -d "${DUR}s" --json "$tmp/$name.json" -s "$tmp/$5.scenario" \
    "http://127.0.0.1:$port" >/dev/null 2>&1 || true
  echo "$(( $(proc_ticks "$pid") - k0 )) $(( $(pg_ticks) - g0 ))" > "$tmp/$name.cpu"
}
echo "bench_answer: $ROUNDS rounds of ${DUR}s per cell, $(nproc) CPUs" >&2
for r in $(seq "$ROUNDS"); do
  for s in $scenarios; do
    for t in 1 2; do
      if [ $((r % 2)) = 1 ]; then
        run "A.$s.t$t.$r" "$pa" "$PA" "$t" "$s"; run "B.$s.t$t.$r" "$pb" "$PB" "$t" "$s"
      else
        run "B.$s.t$t.$r" "$pb" "$PB" "$t" "$s"; run "A.$s.t$t.$r" "$pa" "$PA" "$t" "$s"
      fi
    done
  done
done

[ "$ROUNDS" = 0 ] || python3 - "$tmp" "$ROUNDS" <<'PY'
import json, os, statistics as st, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
hz = os.sysconf("SC_CLK_TCK")
def one(name):
    t = json.load(open(os.path.join(tmp, name + ".json")))["total"]
    k, g = (int(x) for x in open(os.path.join(tmp, name + ".cpu")).read().split())
    n = max(1, t["responses"])
    return t["rps"], t["latency_ms"]["p99"], k / hz * 1e6 / n, g / hz * 1e6 / n
print("| route | keel-bench | A (0: whole) req/s, p99 | B (default) req/s, p99 | B / A (per round) | keel us/req A -> B | PostgreSQL us/req A -> B |")
print("|---|---|---|---|---|---|---|")
names = {"byid": "by id, LIMIT 1", "byid_rows": "by id, no LIMIT", "list": "list of 20, LIMIT :limit (max 100)",
         "list_rows": "list of 20, LIMIT :limit (no max)"}
for s in ("byid", "byid_rows", "list", "list_rows"):
    for t in (1, 2):
        a = [one("A.%s.t%d.%d" % (s, t, r)) for r in range(1, rounds + 1)]
        b = [one("B.%s.t%d.%d" % (s, t, r)) for r in range(1, rounds + 1)]
        m = lambda xs, i: st.median(x[i] for x in xs)
        ratios = [y[0] / x[0] if x[0] else 0 for x, y in zip(a, b)]
        print("| %s | -t%d -c50 | %.0f, %.2f ms | %.0f, %.2f ms | %.3fx (%s) | %.2f -> %.2f | %.2f -> %.2f |" % (
            names[s], t, m(a, 0), m(a, 1), m(b, 0), m(b, 1), st.median(ratios), " ".join("%.2f" % x for x in ratios),
            m(a, 2), m(b, 2), m(a, 3), m(b, 3)))
PY

# ---- the bound: one answer of BIG_ROWS rows ----------------------------------------------
mkdir -p "$tmp/big"
printf -- "-- @route GET /big\n-- @returns many\nSELECT g AS id, repeat('x', 100) AS pad FROM generate_series(1, %d) g\n" \
  "${BIG_ROWS:-2000000}" > "$tmp/big/big.sql"
for cap in 0 default; do
  PC=$(free_port)
  if [ "$cap" = default ]; then capenv=(); else capenv=(KEEL_MAX_ANSWER="$cap"); fi
  env PORT="$PC" KEEL_ROUTES="$tmp/big" DATABASE_URL="$URL" KEEL_SHARDS=2 "${capenv[@]}" "$KEEL_BIN" >/dev/null 2>"$tmp/c.err" &
  pc=$!; pids+=($pc)
  wait_ready "http://127.0.0.1:$PC/ready" || { cat "$tmp/c.err" >&2; exit 2; }
  python3 - "$pc" "$PC" "$cap" <<'PY'
import subprocess, sys, threading, time
pid, port, cap = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def rss():
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
for n in (1, 8):
    base, peak, done, res = rss(), [0], threading.Event(), []
    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(0.01)
    def one():
        t0 = time.monotonic()
        out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-m", "120", "-w", "%{http_code} %{size_download}",
                              "http://127.0.0.1:%d/big" % port], capture_output=True, text=True).stdout.split()
        res.append((out[0] if out else "none", int(out[1]) if len(out) > 1 else 0, time.monotonic() - t0))
    s = threading.Thread(target=sample)
    s.start()
    ts = [threading.Thread(target=one) for _ in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    done.set()
    s.join()
    time.sleep(10)
    print("KEEL_MAX_ANSWER=%s, %d at once: RSS %d MB before, peak %d MB, %d MB 10 s after; answers %s in %.2f-%.2f s" % (
        cap, n, base, peak[0], rss(), " ".join(sorted(set("%s (%d bytes)" % (st, b) for st, b, _ in res))),
        min(r[2] for r in res), max(r[2] for r in res)))
PY
  kill "$pc" 2>/dev/null || true
  wait "$pc" 2>/dev/null || true
done
