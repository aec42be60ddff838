#!/usr/bin/env bash
# Scale-out on one machine (docs/SCALING.md): prints figures, asserts nothing.
#   1. requests/s, cached (GET /sc/kv/{id}, @cache 60s) and uncached (GET /sc/live/{id}):
#      2 keel instances behind nginx (scripts/cluster.sh) vs 1 instance direct, and nginx
#      alone answering a static 200 (the proxy's own ceiling here);
#   2. the invalidation delay from a write through instance A to instance B serving the new
#      value, while keel-bench writes 1,000/s through A on other keys (bench/coherence.py
#      says how it measures);
#   3. uncached reads with one streaming replica (scripts/pg.sh replica start) vs none.
# Everything shares this machine's CPUs (nproc below) with PostgreSQL, the replica, nginx and
# the load generator: these are overheads and mechanisms, not the capacity of N boxes.
# usage: bench/bench_cluster.sh [duration per run, default 5s]
# Needs KEEL_PG_PORT like every script here; servers listen on 127.0.0.1 and are stopped
# by PID at the end (the replica too, when this script started it).
set -euo pipefail
# several keels may run at once here: the admin listener (default 127.0.0.1:9180) is off
export KEEL_ADMIN_LISTEN=${KEEL_ADMIN_LISTEN:-off}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
DUR=${1:-5s}
VUS=${VUS:-50}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x zig-out/bin/keel ] || scripts/zig build install --summary none
. "$root/bench/lib.sh"

tmp=$(mktemp -d)
pids=()
cluster_env=()
replica_started=0
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ ${#cluster_env[@]} -gt 0 ] && env "${cluster_env[@]}" bash scripts/cluster.sh stop >/dev/null 2>&1 || true
  [ "$replica_started" = 1 ] && bash scripts/pg.sh replica stop >/dev/null 2>&1 || true
  sleep 0.3
  rm -rf "$tmp"
}
bench_traps cleanup

bash scripts/pg.sh start >/dev/null 2>&1
bash scripts/pg.sh load >/dev/null 2>&1
URL=$(bash scripts/pg.sh url)
bash scripts/pg.sh psql -q -f tests/fixtures/scale/schema.sql >/dev/null
bash scripts/pg.sh psql -qc "INSERT INTO keel_scale.kv (id, v) SELECT g, 0 FROM generate_series(1, 10000) g ON CONFLICT DO NOTHING" >/dev/null
ROUTES=tests/fixtures/scale/routes

cat > "$tmp/cached.scenario" <<'EOF'
request 1 GET /sc/kv/{int:1:1000}
EOF
cat > "$tmp/uncached.scenario" <<'EOF'
request 1 GET /sc/live/{int:1:10000}
EOF
cat > "$tmp/writes.scenario" <<'EOF'
header Content-Type: application/json
request 1 POST /sc/kv/{int:2000:9999}
  body {"v": {int:1:1000000}}
EOF

rps() { # url scenario|- -> "rps p99_ms errors%"
  local extra=()
  [ "$2" != - ] && extra=(-s "$2")
  timeout 120 zig-out/bin/keel-bench -q -c "$VUS" -d "$DUR" "${extra[@]}" --json "$tmp/r.json" "$1" >/dev/null 2>&1 || true
  python3 - "$tmp/r.json" <<'PY'
import json, sys
try:
    t = json.load(open(sys.argv[1]))["total"]
    print("%.0f %.2f %.2f%%" % (t["rps"], t["latency_measured_ms"]["p99"], 100 * t["error_rate"]))
except Exception:
    print("- - -")
PY
}

# --- the servers ------------------------------------------------------------------------
CPORT=$(free_port)
cluster_env=(CLUSTER_DIR="$tmp/cluster" CLUSTER_PORT="$CPORT" KEEL_ROUTES="$ROUTES" DATABASE_URL="$URL")
env "${cluster_env[@]}" bash scripts/cluster.sh start 2>/dev/null
A=$((CPORT + 1)); B=$((CPORT + 2))
NPORT=$(free_port)
mkdir -p "$tmp/ng"
nginx_conf "$tmp/ng" "$NPORT" "return 200 '{\"status\":\"ok\"}';"
"$NGINX" -c "$tmp/ng/nginx.conf" -p "$tmp/ng" &
pids+=($!)
wait_ready "http://127.0.0.1:$NPORT/"

echo "bench_cluster: $(nproc) CPUs shared by everything; keel-bench closed model, $VUS connections, $DUR per run"
echo
echo "(p99: as measured, without keel-bench's coordinated-omission correction)"
echo "| target | route | req/s | p99 ms | errors |"
echo "|---|---|---:|---:|---:|"
for route in cached uncached; do
  # warm: every key of the cached route is filled once on both instances
  rps "http://127.0.0.1:$A" "$tmp/$route.scenario" >/dev/null
  rps "http://127.0.0.1:$B" "$tmp/$route.scenario" >/dev/null
  read -r r p e <<<"$(rps "http://127.0.0.1:$CPORT" "$tmp/$route.scenario")"
  echo "| nginx -> 2 keel | $route | $r | $p | $e |"
  read -r r p e <<<"$(rps "http://127.0.0.1:$A" "$tmp/$route.scenario")"
  echo "| 1 keel direct | $route | $r | $p | $e |"
done
read -r r p e <<<"$(rps "http://127.0.0.1:$NPORT/" -)"
echo "| nginx alone (return 200) | static | $r | $p | $e |"

echo
echo "invalidation delay A -> B, with 1,000 writes/s through A (keel-bench open model, other keys), ${ROUNDS:-3} rounds:"
for round in $(seq 1 "${ROUNDS:-3}"); do
  timeout 60 zig-out/bin/keel-bench -q -r 1000 -c 50 -d 8s -s "$tmp/writes.scenario" --json "$tmp/w.json" \
    "http://127.0.0.1:$A" >/dev/null 2>&1 &
  wpid=$!
  sleep 1
  echo "round $round:"
  python3 bench/coherence.py "$A" "$B" 900000 --rate 50 --keys 4 --duration 5 | sed 's/^/  /' || true
  wait "$wpid" || true
  python3 -c "
import json; t = json.load(open('$tmp/w.json'))['total']
print('  background writes through A: %.0f/s answered (1000/s asked), errors %.2f%%, their p99 %.1f ms' % (t['rps'], 100 * t['error_rate'], t['latency_measured_ms']['p99']))" 2>/dev/null || true
done
echo
echo "uncached reads (GET /sc/live/{id}), one instance, with one streaming replica vs none:"
env "${cluster_env[@]}" bash scripts/cluster.sh stop >/dev/null 2>&1
cluster_env=()
if ! bash scripts/pg.sh replica status >/dev/null 2>&1; then
  bash scripts/pg.sh replica start 2>/dev/null
  replica_started=1
fi
RURL=$(bash scripts/pg.sh replica url)
for mode in none replica; do
  KP=$(free_port)
  extra=()
  [ "$mode" = replica ] && extra=(KEEL_REPLICA_URLS="$RURL")
  env PORT="$KP" KEEL_LISTEN=127.0.0.1 KEEL_ROUTES="$ROUTES" DATABASE_URL="$URL" "${extra[@]}" \
    zig-out/bin/keel >/dev/null 2>"$tmp/keel-$mode.err" &
  kp=$!
  pids+=($kp)
  wait_ready "http://127.0.0.1:$KP/ready"
  sleep 1 # the replica's first lag probes
  rps "http://127.0.0.1:$KP" "$tmp/uncached.scenario" >/dev/null
  read -r r p e <<<"$(rps "http://127.0.0.1:$KP" "$tmp/uncached.scenario")"
  served=$(curl -s "http://127.0.0.1:$KP/sc/live/1" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("replica" if d["replica"] else "primary")')
  echo "  $mode: $r req/s, p99 $p ms, errors $e (a sample read was served by the $served)"
  kill "$kp"; wait "$kp" 2>/dev/null || true
done
