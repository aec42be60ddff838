# bench/lib.sh - what the benchmark scripts share; source it. Every server a script starts
# listens on 127.0.0.1 and is stopped by the script's own cleanup, by PID.

# The bounties app has @auth routes: keel needs a JWT secret to load them (the development
# one scripts/token.sh mints tokens with, unless KEEL_JWT_SECRET is set). Scripts run from
# the repository's root.
export KEEL_JWT_SECRET="${KEEL_JWT_SECRET:-$(bash scripts/token.sh --dev-secret)}"

# Makes the scratch folder $tmp (/tmp/keel-bench-NAME.XXXXXX) and the array pids, to which a
# script adds every process it starts: on exit, Ctrl-C or SIGTERM each is killed by PID and
# the folder removed. A signal's trap exits (130, 143), which runs the EXIT trap: a trap
# that only cleaned up would return to the script, which would go on measuring keels it
# had just killed and end 0.
bench_scratch() { # name
  tmp=$(mktemp -d "/tmp/keel-bench-$1.XXXXXX")
  pids=()
  bench_traps bench_cleanup
}
# Runs FUNCTION once on exit, Ctrl-C or SIGTERM, and then exits.
bench_traps() { # function
  trap "$1" EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}
bench_cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.3
  rm -rf "$tmp"
}

# Exits 2 naming the first TOOL (a command or a path) that is missing, and what provides it.
need_tools() { # script-name tool...
  local who=$1 t
  shift
  for t in "$@"; do
    command -v "$t" >/dev/null 2>&1 || { echo "$who: $t not found (scripts/setup.sh; scripts/zig build)" >&2; exit 2; }
  done
}

# How many shard threads keel process PID runs (0 if it is gone).
shards_of() { # pid
  ls "/proc/$1/task" 2>/dev/null | while read -r t; do cat "/proc/$1/task/$t/comm"; done | grep -c '^keel-shard' || true
}

# A free TCP port on 127.0.0.1.
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# Writes the bounties routes into DIR without their @cache, @tags, @rate and @invalidates
# lines: every request reaches PostgreSQL, and none is refused for its rate.
uncached_routes() { # dir
  mkdir -p "$1"
  local f
  for f in examples/bounties/routes/*.sql; do
    grep -vE '^-- @(cache|tags|rate|invalidates)' "$f" > "$1/$(basename "$f")"
  done
}

# The warm walk: GET PREFIX/1 .. PREFIX/100000 in order, pipelined 64 at a time, through each
# of SHARDS keep-alive connections opened together (so the least-connections acceptor gives
# every shard one), the connections taking turns; prints how many answers were not 200.
warm_walk() { # port shards prefix
  python3 - "$1" "$2" "$3" <<'PY'
import socket, sys
port, shards, prefix = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode()
bad = 0
conns = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(shards)]
bufs = [b""] * shards

def more(i):
    b = conns[i].recv(65536)
    if not b:
        sys.exit("warm_walk: keel closed the connection")
    bufs[i] += b

for lo in range(1, 100001, 64):
    ids = range(lo, min(lo + 64, 100001))
    for i, c in enumerate(conns):
        c.sendall(b"".join(b"GET %s/%d HTTP/1.1\r\nHost: x\r\n\r\n" % (prefix, n) for n in ids))
        for _ in ids:
            while b"\r\n\r\n" not in bufs[i]:
                more(i)
            head, bufs[i] = bufs[i].split(b"\r\n\r\n", 1)
            bad += not head.startswith(b"HTTP/1.1 200")
            n = int([l.split(b":", 1)[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0])
            while len(bufs[i]) < n:
                more(i)
            bufs[i] = bufs[i][n:]
for c in conns:
    c.close()
print(bad)
PY
}

# Waits (at most 10 s) until URL answers 2xx.
wait_ready() { for _ in $(seq 100); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; return 1; }

# Writes an nginx config to DIR/nginx.conf: workers = CPUs, access log off, listening on
# 127.0.0.1:PORT, with LOCATION_BODY (nginx directives) as its only location.
nginx_conf() { # dir port location_body
  cat > "$1/nginx.conf" <<NGX
worker_processes $(nproc);
pid $1/nginx.pid;
error_log $1/nginx.err;
daemon off;
events { worker_connections 20000; }
http {
  access_log off;
  client_body_temp_path $1; proxy_temp_path $1; fastcgi_temp_path $1; uwsgi_temp_path $1; scgi_temp_path $1;
  server {
    listen 127.0.0.1:$2 reuseport;
    default_type application/json;
    root $1/www;
    location / { $3 }
  }
}
NGX
}

# Summarises a `wrk --latency` output file: "requests req/s p50_ms p99_ms errors", where
# errors counts socket errors and non-2xx/3xx responses.
wrk_summary() {
  python3 - "$1" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def ms(p):
    m = re.search(p + r"%\s+([\d.]+)(us|ms|s)\b", t)
    return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
n = int(re.search(r"(\d+) requests in", t).group(1))
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
err = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
non2 = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
e = (sum(int(x) for x in err.groups()) if err else 0) + (int(non2.group(1)) if non2 else 0)
print("%d %.0f %.2f %.2f %d" % (n, rps, ms("50"), ms("99"), e))
PY
}

# keel's CPU time so far (user + system), in clock ticks.
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# CPU ticks of every PostgreSQL process so far (`pgrep -x postgres`: run nothing else on
# the box that a benchmark would count).
pg_ticks() {
  local s=0 p
  for p in $(pgrep -x postgres); do s=$((s + $(proc_ticks "$p" 2>/dev/null || echo 0))); done
  echo "$s"
}

# One keel-bench run for bench/rounds.py's tables: `keel-bench -q -c $VUS -d $DUR [ARGS] URL`
# into $tmp/NAME.json, and the CPU ticks keel (PID) used meanwhile into $tmp/NAME.cpu.
# Never fails: a run that went wrong shows in the table as missing responses.
measure() { # name pid url [keel-bench args...]
  local name=$1 pid=$2 url=$3 t0
  shift 3
  t0=$(proc_ticks "$pid")
  timeout 120 zig-out/bin/keel-bench -q -c "$VUS" -d "$DUR" "$@" --json "$tmp/$name.json" "$url" >/dev/null 2>&1 || true
  echo $(( $(proc_ticks "$pid") - t0 )) > "$tmp/$name.cpu"
}
