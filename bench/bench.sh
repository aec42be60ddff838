#!/usr/bin/env bash
# keel vs nginx on the same box, same run: /health with wrk at 50 and 200 connections
# (requests/s, p99, ratio), then 10,000 concurrent keep-alive connections, then keel's
# resident memory per idle connection. Prints figures; asserts nothing.
# The machine is noisy: each connection count runs ROUNDS alternating keel/nginx pairs and
# reports the medians (of req/s, of p99, and of the per-round ratio).
# usage: bench/bench.sh [duration per run, default 5s]   (ROUNDS=3 by default)
set -euo pipefail
# Several keel processes may run at once here: no admin listener unless asked for.
export KEEL_ADMIN_LISTEN=${KEEL_ADMIN_LISTEN:-off}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
DUR=${1:-5s}
ROUNDS=${ROUNDS:-3}
CPUS=$(nproc)
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ -x zig-out/bin/keel ] || { bash scripts/setup.sh; scripts/zig build install --summary none; }
command -v wrk >/dev/null || { echo "bench: wrk missing: run scripts/setup.sh" >&2; exit 1; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
. "$root/bench/lib.sh"

tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.3; rm -rf "$tmp"; }
bench_traps cleanup


KPORT=$(free_port); NPORT=$(free_port)
PORT=$KPORT KEEL_LISTEN=127.0.0.1 zig-out/bin/keel >/dev/null 2>"$tmp/keel.err" &
pids+=($!); KPID=$!
nginx_conf "$tmp" "$NPORT" "return 200 '{\"status\":\"ok\"}';"
"$NGINX" -c "$tmp/nginx.conf" -p "$tmp" &
pids+=($!)
wait_ready "http://127.0.0.1:$KPORT/health"; wait_ready "http://127.0.0.1:$NPORT/health"

run_wrk() { # url conns -> "rps p99_ms errors"
  wrk -t"$CPUS" -c"$2" -d"$DUR" --latency "$1" > "$tmp/wrk.out" 2>&1 || true
  wrk_summary "$tmp/wrk.out" | awk '{print $2, $4, $5}'
}

median() { python3 -c "import sys,statistics;print('%.2f' % statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }
echo "keel vs nginx: GET /health, wrk -t$CPUS -d$DUR, $CPUS CPUs, both with $CPUS workers, median of $ROUNDS alternating rounds"
printf "| %-11s | %-12s | %-10s | %-12s | %-10s | %-15s |\n" conns "keel req/s" "keel p99" "nginx req/s" "nginx p99" "keel/nginx"
printf "|-------------|--------------|------------|--------------|------------|-----------------|\n"
for c in 50 200; do
  kr=(); kp=(); nr=(); np=(); ra=(); errs=0
  for _ in $(seq "$ROUNDS"); do
    read -r krps kp99 kerr < <(run_wrk "http://127.0.0.1:$KPORT/health" "$c")
    read -r nrps np99 nerr < <(run_wrk "http://127.0.0.1:$NPORT/health" "$c")
    kr+=("$krps"); kp+=("$kp99"); nr+=("$nrps"); np+=("$np99")
    ra+=("$(python3 -c "print($krps / $nrps)")")
    errs=$((errs + kerr))
    [ "$nerr" = 0 ] || echo "  nginx errors at $c connections: $nerr"
  done
  printf "| %-11s | %-12s | %-10s | %-12s | %-10s | %-15s |\n" "$c" "$(median "${kr[@]}")" "$(median "${kp[@]}")ms" \
    "$(median "${nr[@]}")" "$(median "${np[@]}")ms" "$(median "${ra[@]}") (rounds: $(printf '%.2f ' "${ra[@]}"))"
  [ "$errs" = 0 ] || echo "  keel errors at $c connections: $errs"
done

echo
read -r krps kp99 kerr < <(run_wrk "http://127.0.0.1:$KPORT/health" 10000)
echo "10,000 concurrent keep-alive connections (wrk -c10000 -d$DUR): keel $krps req/s, p99 ${kp99}ms, errors $kerr"

echo
kill "$KPID"; wait "$KPID" 2>/dev/null || true
PORT=$KPORT KEEL_LISTEN=127.0.0.1 zig-out/bin/keel >/dev/null 2>"$tmp/keel2.err" &
pids+=($!); KPID=$!
wait_ready "http://127.0.0.1:$KPORT/health"
python3 bench/idle_conns.py --port "$KPORT" --pid "$KPID" --n 10000
