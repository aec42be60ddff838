#!/usr/bin/env bash
# compare_wrk.sh - keel-bench checked against wrk: both drive the same private nginx on
# 127.0.0.1 (workers = CPUs, `return 200 "ok"`) with the same connections, threads and
# duration, back to back in ROUNDS rounds of the same run. Prints every round with its
# keel-bench/wrk ratios, then the median of those paired ratios (a pair shares the box's
# conditions; rounds differ a lot on a shared machine); exits 1 when the median throughput or
# p50 ratio is off by more than 15% or when keel-bench's count of responses differs from
# nginx's own (stub_status), 2 when something is missing. Each row also shows the tool's mean
# latency next to Little's law (connections / throughput): a closed loop that keeps every
# connection busy must report a mean equal to it, whatever the box is doing.
# wrk corrects its closed-loop histogram for coordinated omission (stats_correct: each value v
# >= 2I adds v-I, v-2I, ... > I, I = runtime / (requests / connections)); keel-bench does the
# same by default, so the p50s compared are both corrected; Little's law is checked on
# keel-bench's as-measured mean (latency_measured_ms), the one it applies to (wrk has no other).
#
#   bench/compare_wrk.sh                 defaults: 50 connections, 7 rounds of 3 s per tool
#   CONNS=100 DURATION=10 ROUNDS=5 bench/compare_wrk.sh
#
# Bounded: each tool runs under `timeout`, nginx is started here and stopped by its PID.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. bench/lib.sh
KB=${KEEL_BENCH_BIN:-$root/zig-out/bin/keel-bench}
CONNS=${CONNS:-50}
DURATION=${DURATION:-3}
ROUNDS=${ROUNDS:-7}
THREADS=${THREADS:-$(nproc)}
TOLERANCE=${TOLERANCE:-0.15}
WORKERS=${WORKERS:-$(nproc)}

need_tools compare_wrk nginx wrk python3 "$KB"

tmp=$(mktemp -d /tmp/keel-compare-wrk.XXXXXX)
nginx_pid=""
cleanup() {
    if [ -n "$nginx_pid" ] && kill -0 "$nginx_pid" 2>/dev/null; then
        kill -QUIT "$nginx_pid" 2>/dev/null || true # graceful stop of our master (and its workers)
        for _ in $(seq 50); do kill -0 "$nginx_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$nginx_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
bench_traps cleanup

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$tmp/body" "$tmp/proxy" "$tmp/fastcgi" "$tmp/uwsgi" "$tmp/scgi"
cat >"$tmp/nginx.conf" <<CONF
worker_processes $WORKERS;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 75s;
    client_body_temp_path $tmp/body;
    proxy_temp_path $tmp/proxy;
    fastcgi_temp_path $tmp/fastcgi;
    uwsgi_temp_path $tmp/uwsgi;
    scgi_temp_path $tmp/scgi;
    server {
        listen 127.0.0.1:$port reuseport; # one accept queue per worker: connections spread evenly
        location = /nginx_status { stub_status; }
        location / { default_type text/plain; return 200 "ok"; }
    }
}
CONF
nginx -e "$tmp/error.log" -p "$tmp" -c "$tmp/nginx.conf" &
nginx_pid=$!
for _ in $(seq 50); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2).close()" 2>/dev/null && break
    kill -0 "$nginx_pid" 2>/dev/null || { echo "compare_wrk: nginx did not start:" >&2; cat "$tmp/error.log" >&2; exit 2; }
    sleep 0.1
done
url="http://127.0.0.1:$port/"
echo "nginx $(nginx -v 2>&1 | sed 's/.*\///') on $url: $(nproc) workers; $CONNS connections, $THREADS threads, $ROUNDS rounds of ${DURATION}s per tool"

served() { # nginx's count of requests so far (stub_status), this query included
    python3 -c "import urllib.request as u; print(u.urlopen('${url}nginx_status', timeout=5).read().split()[9].decode())"
}
run_wrk() { timeout $((DURATION + 30)) wrk -t "$THREADS" -c "$CONNS" -d "${DURATION}s" --latency "$url" >"$tmp/wrk.$1.txt"; }
run_kb() {
    local before after
    before=$(served)
    timeout $((DURATION + 30)) "$KB" -q -t "$THREADS" -c "$CONNS" -d "${DURATION}s" --json "$tmp/kb.$1.json" "$url" >"$tmp/kb.$1.txt"
    after=$(served)
    echo $((after - before - 1)) >"$tmp/nginx.$1.count"
}
for r in $(seq "$ROUNDS"); do # alternate who goes first, so neither always gets a warmer box
    if [ $((r % 2)) -eq 1 ]; then run_wrk "$r"; run_kb "$r"; else run_kb "$r"; run_wrk "$r"; fi
done

python3 - "$tmp" "$ROUNDS" "$TOLERANCE" "$CONNS" <<'PY'
import json, re, statistics, sys
tmp, rounds, tol = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
units = {"us": 1e-3, "ms": 1.0, "s": 1e3}
rows, ok = [], True
conns = int(sys.argv[4])
print("p50: corrected for coordinated omission (both tools); raw p50: keel-bench's as measured. mean*: wrk's after its")
print("correction (it reports no other), keel-bench's as measured (Little's law applies to it), next to N/X = conns / rps")
print("%-6s %-11s %11s %9s %9s %17s %7s %14s %16s" % ("round", "tool", "requests/s", "p50 (ms)", "raw p50", "mean* / N/X (ms)",
      "errors", "nginx counted", "ratio rps / p50"))
for r in range(1, rounds + 1):
    w = open("%s/wrk.%d.txt" % (tmp, r)).read()
    rps_w = float(re.search(r"Requests/sec:\s+([\d.]+)", w).group(1))
    m = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)\s*$", w, re.M)
    p50_w = float(m.group(1)) * units[m.group(2)]
    errs_w = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", w))
    errs_w += int((re.search(r"Non-2xx or 3xx responses: (\d+)", w) or [0, "0"])[1])
    t = json.load(open("%s/kb.%d.json" % (tmp, r)))["total"]
    counted = int(open("%s/nginx.%d.count" % (tmp, r)).read())
    if counted != t["responses"]:
        ok = False
    rps_k, p50_k = t["rps"], t["latency_ms"]["p50"]  # the headline: corrected, as wrk's
    raw_k = t["latency_measured_ms"]["p50"]
    m = re.search(r"Latency\s+([\d.]+)(us|ms|s)", w)
    mean_w, mean_k = float(m.group(1)) * units[m.group(2)], t["latency_measured_ms"]["mean"]
    rows.append((rps_w, p50_w, rps_k, p50_k, rps_k / rps_w, p50_k / p50_w))
    print("%-6d %-11s %11.0f %9.3f %9s %8.3f / %-6.3f %7d" % (r, "wrk", rps_w, p50_w, "-", mean_w, conns / rps_w * 1e3, errs_w))
    print("%-6d %-11s %11.0f %9.3f %9.3f %8.3f / %-6.3f %7d %14s %8.3f / %.3f" % (r, "keel-bench", rps_k, p50_k, raw_k, mean_k,
          conns / rps_k * 1e3, t["failed"], "%d%s" % (counted, "" if counted == t["responses"] else " MISMATCH (%d)" % t["responses"]),
          rps_k / rps_w, p50_k / p50_w))
med = [statistics.median(x[i] for x in rows) for i in range(6)]
print("medians     wrk %.0f req/s p50 %.3f ms; keel-bench %.0f req/s p50 %.3f ms" % tuple(med[:4]))
r_rps, r_p50 = med[4], med[5]
agree = abs(r_rps - 1) <= tol and abs(r_p50 - 1) <= tol
print("keel-bench / wrk, median of paired rounds: throughput %.3f, p50 %.3f -> %s (tolerance %.0f%%); responses %s nginx's count"
      % (r_rps, r_p50, "agree" if agree else "DISAGREE", tol * 100, "match" if ok else "DO NOT match"))
sys.exit(0 if agree and ok else 1)
PY
