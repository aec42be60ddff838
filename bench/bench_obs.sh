#!/usr/bin/env bash
# What observability costs: requests/s of a cached route with the access log on (pino JSON
# lines to a file) and /metrics scraped from the admin listener every second, against the
# same route with both off; and the same observed setup with the log going to /dev/null,
# which separates keel's own cost (building lines, the writer thread) from the file system's.
# Three keel processes on the same route folder, measured in turn with keel-bench, ROUNDS
# alternating rounds (file, devnull, off), medians reported, with
# keel's own CPU time per response (bench/lib.sh measure). Also the size of one scrape and
# how long the shard serving it took (curl's time_total over 20 scrapes, median).
# Prints figures; asserts nothing (target: observed within 10% of plain).
# usage: bench/bench_obs.sh [duration per run, default 5s]   (ROUNDS=5, VUS=50)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
DUR=${1:-5s}
ROUNDS=${ROUNDS:-5}
VUS=${VUS:-50}
ulimit -n 65536 2>/dev/null || true
[ -x zig-out/bin/keel ] || { bash scripts/setup.sh; scripts/zig build install --summary none; }
bash scripts/pg.sh start >/dev/null
URL=$(bash scripts/pg.sh url)
. "$root/bench/lib.sh"

tmp=$(mktemp -d)
pids=()
scraper=""
cleanup() {
  [ -n "$scraper" ] && kill "$scraper" 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.3; rm -rf "$tmp"
}
bench_traps cleanup

mkdir -p "$tmp/routes"
printf -- '-- @route   GET /b/cached\n-- @returns one\n-- @cache   60s\nSELECT json_build_object('"'"'id'"'"', 42, '"'"'title'"'"', '"'"'a cached answer of about a hundred bytes, like a small row'"'"');\n' \
  > "$tmp/routes/cached.sql"

pon=$(free_port); aon=$(free_port); poff=$(free_port); pnull=$(free_port); anull=$(free_port)
# observed: access log (O_APPEND, so it can be emptied between rounds) and the admin listener
PORT=$pon KEEL_ADMIN_LISTEN=127.0.0.1:$aon KEEL_ACCESS_LOG=true KEEL_ROUTES="$tmp/routes" DATABASE_URL="$URL" \
  KEEL_SLOW_QUERY_MS=0 zig-out/bin/keel >>"$tmp/access.log" 2>"$tmp/on.err" &
pids+=($!)
kon=$!
PORT=$pnull KEEL_ADMIN_LISTEN=127.0.0.1:$anull KEEL_ACCESS_LOG=true KEEL_ROUTES="$tmp/routes" DATABASE_URL="$URL" \
  KEEL_SLOW_QUERY_MS=0 zig-out/bin/keel >/dev/null 2>"$tmp/null.err" &
pids+=($!)
knull=$!
PORT=$poff KEEL_ADMIN_LISTEN=off KEEL_ACCESS_LOG=false KEEL_ROUTES="$tmp/routes" DATABASE_URL="$URL" \
  KEEL_SLOW_QUERY_MS=0 zig-out/bin/keel >/dev/null 2>"$tmp/off.err" &
pids+=($!)
koff=$!
wait_ready "http://127.0.0.1:$pon/ready" || { echo "bench_obs: keel did not start:" >&2; tail -5 "$tmp/on.err" >&2; exit 1; }
wait_ready "http://127.0.0.1:$pnull/ready" || { echo "bench_obs: keel did not start:" >&2; tail -5 "$tmp/null.err" >&2; exit 1; }
wait_ready "http://127.0.0.1:$poff/ready" || { echo "bench_obs: keel did not start:" >&2; tail -5 "$tmp/off.err" >&2; exit 1; }

# One scrape a second while a measured run lasts (bounded: at most 600 scrapes).
scrape_loop() { # admin port
  for _ in $(seq 600); do curl -s -o /dev/null "http://127.0.0.1:$1/metrics" || true; sleep 1; done
}
run_on() {
  scrape_loop "$aon" & scraper=$!
  measure "$1" "$kon" "http://127.0.0.1:$pon/b/cached"
  kill "$scraper" 2>/dev/null || true; wait "$scraper" 2>/dev/null || true; scraper=""
  wc -l < "$tmp/access.log" > "$tmp/$1.lines"
  : > "$tmp/access.log"
}
run_null() {
  scrape_loop "$anull" & scraper=$!
  measure "$1" "$knull" "http://127.0.0.1:$pnull/b/cached"
  kill "$scraper" 2>/dev/null || true; wait "$scraper" 2>/dev/null || true; scraper=""
}
run_off() { measure "$1" "$koff" "http://127.0.0.1:$poff/b/cached"; }

run_on warm
run_null warm
run_off warm
for i in $(seq "$ROUNDS"); do
  run_on "on.$i"
  run_null "null.$i"
  run_off "off.$i"
done
# a scrape: size and time, on an idle server and during load
for i in $(seq 20); do curl -s -o "$tmp/scrape.txt" -w '%{time_total}\n' "http://127.0.0.1:$aon/metrics"; done > "$tmp/scrape_idle.t"
( timeout 120 zig-out/bin/keel-bench -q -c "$VUS" -d 4s "http://127.0.0.1:$pon/b/cached" >/dev/null 2>&1 || true ) &
lp=$!
sleep 1
for i in $(seq 20); do curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$aon/metrics"; sleep 0.1; done > "$tmp/scrape_load.t"
wait "$lp" || true
dropped=$(curl -s "http://127.0.0.1:$aon/metrics" | awk '/^keel_access_log_dropped_total/ {print $2}')
dropped_null=$(curl -s "http://127.0.0.1:$anull/metrics" | awk '/^keel_access_log_dropped_total/ {print $2}')

PYTHONPATH="$root/bench" python3 - "$tmp" "$ROUNDS" "$DUR" "$VUS" "$(nproc)" "$dropped" "$dropped_null" <<'PY'
import os, statistics, sys
from rounds import Rounds, ratios
tmp, rounds, dur, vus, cpus, dropped, dropped_null = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7]
r = Rounds(tmp, rounds)
print("cached GET, keel-bench -c %s -d %s, %s CPUs, median of %d alternating rounds" % (vus, dur, cpus, rounds))
print()
r.header()
on, ocpu = r.row("access log to a file + /metrics scraped every 1 s", "on")
nul, ncpu = r.row("access log to /dev/null + /metrics scraped every 1 s", "null")
off, fcpu = r.row("both off", "off")
print()
lines = [int(open(os.path.join(tmp, "on.%d.lines" % i)).read()) for i in range(1, rounds + 1)]
resp = [r.total("on.%d" % i)["responses"] for i in range(1, rounds + 1)]
print("access-log lines written to the file per round: %s (responses: %s); lines dropped in all: %s (/dev/null: %s)" % (
    " ".join(map(str, lines)), " ".join(map(str, resp)), dropped or "?", dropped_null or "?"))
print("on / off req/s: median of the per-round ratios %.3f (rounds: %s); target >= 0.90" % ratios(on, off))
print("on / off keel CPU per response: median of the per-round ratios %.3f (rounds: %s)" % ratios(ocpu, fcpu))
print("/dev/null / off req/s: median of the per-round ratios %.3f (rounds: %s)" % ratios(nul, off))
print("/dev/null / off keel CPU per response: median of the per-round ratios %.3f (rounds: %s)" % ratios(ncpu, fcpu))
def ms(f):
    return [float(x) * 1000 for x in open(os.path.join(tmp, f)).read().split()]
print("one scrape: %d bytes; curl time_total median %.2f ms idle, %.2f ms during load (max %.2f ms)" % (
    os.path.getsize(os.path.join(tmp, "scrape.txt")), statistics.median(ms("scrape_idle.t")),
    statistics.median(ms("scrape_load.t")), max(ms("scrape_load.t"))))
PY
