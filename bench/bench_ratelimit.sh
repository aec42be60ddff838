#!/usr/bin/env bash
# What @rate costs a request: requests/s of a cached route with a limit no client reaches
# (@rate 1000000/s) against the same route without @rate, served by one keel, measured with
# keel-bench from one address (so every request of the limited route counts against one
# key, in one slot that both shards update: the worst case for the shared table). ROUNDS
# alternating rounds (limited, unlimited), medians reported. Also: the 429 path (a route
# whose limit is spent), to show a refusal is cheaper than an answer. Next to requests/s
# (which other load on the machine moves), keel's own CPU time per response, from
# /proc/PID/stat around each run: the cost figure that noise moves least.
# Prints figures; asserts nothing (target: limited within 5% of unlimited).
# usage: bench/bench_ratelimit.sh [duration per run, default 5s]   (ROUNDS=5, VUS=50)
set -euo pipefail
# Several keel processes may run at once here: no admin listener unless asked for.
export KEEL_ADMIN_LISTEN=${KEEL_ADMIN_LISTEN:-off}
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
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.3; rm -rf "$tmp"; }
bench_traps cleanup

mkdir -p "$tmp/routes"
route() { # file path extra-annotation
  printf -- '-- @route   GET %s\n-- @returns one\n-- @cache   60s\n%sSELECT json_build_object('"'"'id'"'"', 42, '"'"'title'"'"', '"'"'a cached answer of about a hundred bytes, like a small row'"'"');\n' \
    "$2" "$3" > "$tmp/routes/$1.sql"
}
route limited /b/limited '-- @rate    1000000/s\n'
route unlimited /b/unlimited ''
route spent /b/spent '-- @rate    1/hour\n'
sed -i 's/\\n/\n/' "$tmp/routes/limited.sql" "$tmp/routes/spent.sql"

port=$(free_port)
PORT=$port KEEL_ROUTES="$tmp/routes" DATABASE_URL="$URL" KEEL_SLOW_QUERY_MS=0 zig-out/bin/keel >/dev/null 2>"$tmp/keel.err" &
pids+=($!)
kpid=$!
wait_ready "http://127.0.0.1:$port/ready" || { echo "bench_ratelimit: keel did not start:" >&2; tail -5 "$tmp/keel.err" >&2; exit 1; }
base="http://127.0.0.1:$port"
curl -sf "$base/b/spent" >/dev/null # its one request: every later one is a 429

run() { measure "$1" "$kpid" "$base$2"; } # name path
# warm-up: caches filled, connections' buffers touched
run warm /b/limited
run warm /b/unlimited

for i in $(seq "$ROUNDS"); do
  run "limited.$i" /b/limited
  run "unlimited.$i" /b/unlimited
done
run spent.1 /b/spent

PYTHONPATH="$root/bench" python3 - "$tmp" "$ROUNDS" "$DUR" "$VUS" "$(nproc)" <<'PY'
import sys
from rounds import Rounds, ratios
tmp, rounds, dur, vus, cpus = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
r = Rounds(tmp, rounds)
print("cached GET, keel-bench -c %s -d %s from one address, %s CPUs, median of %d alternating rounds" % (vus, dur, cpus, rounds))
print()
r.header()
lim, lcpu = r.row("@rate 1000000/s (never reached)", "limited")
unl, ucpu = r.row("no @rate", "unlimited")
r.row("@rate 1/hour, spent: every answer a 429", "spent", rounds=1)
print()
print("limited / unlimited req/s: median of the per-round ratios %.3f (rounds: %s); target >= 0.95" % ratios(lim, unl))
print("limited / unlimited keel CPU per response: median of the per-round ratios %.3f (rounds: %s)" % ratios(lcpu, ucpu))
PY
