#!/usr/bin/env bash
# bench_unread.sh - what clients that ask for a large answer and never read it cost keel's
# memory (README, "Hostile clients and memory": --max-output). A route answers ROWS rows
# (100,000: about 12 MB of JSON, under KEEL_MAX_ANSWER); CLIENTS connections (default 60,
# then 200) each send one request for it with a 4 KiB receive buffer and read nothing for
# HOLD seconds (15). Prints keel's RSS before, its peak (sampled every 100 ms) and at the end
# of the hold, and the statuses the clients then find at the head of their answers; for
# this build, and for KEEL_BEFORE=path/to/another/keel when given. Asserts nothing.
#   bench/bench_unread.sh                      CLIENTS="60 200" (about 1 minute per build)
#   CLIENTS=500 KEEL_BEFORE=/path/keel bench/bench_unread.sh
# Bounded: every client socket has a timeout, the hold is HOLD seconds; the keels started
# here are stopped by PID.
set -euo pipefail
export KEEL_ADMIN_LISTEN=${KEEL_ADMIN_LISTEN:-off} KEEL_CACHE_MB=0
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
CLIENTS=${CLIENTS:-60 200}
ROWS=${ROWS:-100000}
HOLD=${HOLD:-15}
KEEL_BIN=${KEEL_BIN:-$root/zig-out/bin/keel}
. "$root/bench/lib.sh"
need_tools bench_unread python3 curl "$KEEL_BIN"
ulimit -n 65536 2>/dev/null || true
bash scripts/pg.sh start
URL=$(bash scripts/pg.sh url unix)

bench_scratch unread

mkdir -p "$tmp/routes"
cat > "$tmp/routes/big.sql" <<'SQL'
-- @route   GET /bench/big
-- @query   n int default 10 min 0 max 10000000
-- @returns many
SELECT g AS id, repeat('x', 100) AS pad FROM generate_series(1, :n::int) g
SQL

# run LABEL BIN CLIENTS: one keel, one attack, one table row
run() {
  local label=$1 bin=$2 n=$3 port kp
  port=$(free_port)
  env PORT="$port" KEEL_ROUTES="$tmp/routes" DATABASE_URL="$URL" "$bin" >/dev/null 2>"$tmp/keel.err" &
  kp=$!; pids+=($kp)
  wait_ready "http://127.0.0.1:$port/ready" || { tail -5 "$tmp/keel.err" >&2; exit 2; }
  python3 - "$port" "$kp" "$n" "$ROWS" "$HOLD" "$label" <<'PY'
import socket, sys, time
port, pid, n, rows, hold, label = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), sys.argv[6]

def rss_mb():
    with open("/proc/%d/status" % pid) as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) // 1024

base, socks = rss_mb(), []
for _ in range(n):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(30)
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /bench/big?n=%d HTTP/1.1\r\nHost: bench\r\n\r\n" % rows)
    socks.append(s)
peak, t0 = base, time.monotonic()
while time.monotonic() - t0 < hold:
    peak = max(peak, rss_mb())
    time.sleep(0.1)
end, sts = rss_mb(), {}
for s in socks:
    try:
        head = s.recv(64)
        st = head.split(b" ")[1].decode() if head else "closed"
    except OSError as e:
        st = type(e).__name__
    sts[st] = sts.get(st, 0) + 1
    s.close()
print("| %s | %d | %d MB | %d MB | %d MB | %s |" % (label, n, base, peak, end,
      ", ".join("%s x %d" % kv for kv in sorted(sts.items()))))
PY
  kill "$kp" 2>/dev/null || true
  wait "$kp" 2>/dev/null || true
}

echo "bench_unread: $ROWS rows per answer (about $((ROWS * 124 / 1000000)) MB of JSON), $(nproc) shards, clients hold ${HOLD}s without reading"
echo "| keel | clients | RSS before | peak | at the end | statuses |"
echo "|---|---|---|---|---|---|"
for n in $CLIENTS; do
  run "this build" "$KEEL_BIN" "$n"
  if [ -n "${KEEL_BEFORE:-}" ]; then run "before ($KEEL_BEFORE)" "$KEEL_BEFORE" "$n"; fi
done
