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
trap cleanup EXIT

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
cpu_ticks() { awk '{print $14 + $15}' "/proc/$kpid/stat"; }
wait_ready "http://127.0.0.1:$port/ready" || { echo "bench_ratelimit: keel did not start:" >&2; tail -5 "$tmp/keel.err" >&2; exit 1; }
base="http://127.0.0.1:$port"
curl -sf "$base/b/spent" >/dev/null # its one request: every later one is a 429

run() { # name path -> $tmp/name.json, $tmp/name.cpu (keel's CPU ticks during the run)
  local t0; t0=$(cpu_ticks)
  timeout 120 zig-out/bin/keel-bench -q -c "$VUS" -d "$DUR" --json "$tmp/$1.json" "$base$2" >/dev/null 2>&1 || true
  echo $(( $(cpu_ticks) - t0 )) > "$tmp/$1.cpu"
}
# warm-up: caches filled, connections' buffers touched
run warm /b/limited
run warm /b/unlimited

for i in $(seq "$ROUNDS"); do
  run "limited.$i" /b/limited
  run "unlimited.$i" /b/unlimited
done
run spent.1 /b/spent

python3 - "$tmp" "$ROUNDS" "$DUR" "$VUS" "$(nproc)" <<'PY'
import json, os, statistics, sys
tmp, rounds, dur, vus, cpus = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
hz = os.sysconf("SC_CLK_TCK")
def total(name):
    with open(os.path.join(tmp, name + ".json")) as f:
        return json.load(f)["total"]
def cpu_us(name):  # keel's CPU per response in the run
    with open(os.path.join(tmp, name + ".cpu")) as f:
        ticks = int(f.read())
    return ticks / hz * 1e6 / max(1, total(name)["responses"])
def row(label, names):
    ts = [total(n) for n in names]
    cpu = statistics.median(cpu_us(n) for n in names)
    rps = statistics.median(t["rps"] for t in ts)
    p50 = statistics.median(t["latency_ms"]["p50"] for t in ts)
    p99 = statistics.median(t["latency_ms"]["p99"] for t in ts)
    codes = {}
    for t in ts:
        for k, v in (t.get("status") or {}).items():
            codes[k] = codes.get(k, 0) + v
    print("| %s | %.0f | %.2f us | %.3f ms | %.3f ms | %s | %s |" % (
        label, rps, cpu, p50, p99, " ".join("%.0f" % t["rps"] for t in ts), ", ".join("%s: %d" % kv for kv in sorted(codes.items()))))
    return [t["rps"] for t in ts], [cpu_us(n) for n in names]
print("cached GET, keel-bench -c %s -d %s from one address, %s CPUs, median of %d alternating rounds" % (vus, dur, cpus, rounds))
print()
print("| route | req/s | keel CPU per response | p50 | p99 | req/s per round | statuses |")
print("|---|---|---|---|---|---|---|")
lim, lcpu = row("@rate 1000000/s (never reached)", ["limited.%d" % i for i in range(1, rounds + 1)])
unl, ucpu = row("no @rate", ["unlimited.%d" % i for i in range(1, rounds + 1)])
row("@rate 1/hour, spent: every answer a 429", ["spent.1"])
ratios = [a / b for a, b in zip(lim, unl)]
cratios = [a / b for a, b in zip(lcpu, ucpu)]
print()
print("limited / unlimited req/s: median of the per-round ratios %.3f (rounds: %s); target >= 0.95"
      % (statistics.median(ratios), " ".join("%.3f" % r for r in ratios)))
print("limited / unlimited keel CPU per response: median of the per-round ratios %.3f (rounds: %s)"
      % (statistics.median(cratios), " ".join("%.3f" % r for r in cratios)))
PY
