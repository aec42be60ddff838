#!/usr/bin/env bash
# A well-behaved client while keel is under attack, same run: keel-bench (closed model, VUS
# users, DUR each) on GET /health and on a cached route (GET /api/bounties/{1..100}, warmed
# first), quiet, then while bench/hostile_clients.py holds SLOW connections that trickle a
# request head one byte a second and never finish it, and PIPE connections that pipeline
# GET /api/bounties?limit=100 (17 kB responses) and never read a byte. Prints RPS, p50, p99,
# the p99 against the quiet one (target: at most 1.2x; printed, not asserted), keel's RSS
# before, during and after the attack, and how many attacking connections were still open.
# Prints figures; asserts nothing.
#
# Bounded: the attack stops by itself after ATTACK_SECS (2 x DUR + 10 s, so 30 s by default;
# at most 60), or as soon as keel's RSS passes RSS_LIMIT_MIB (default 2048), which the script
# then reports; every keel-bench run is bounded by its duration plus its 10 s request
# timeout. Everything listens and connects on 127.0.0.1; what the script started is stopped
# by PID on exit, Ctrl-C and SIGTERM.
#
# usage: bench/hostile.sh [duration per measurement, default 10s]
#   VUS=50 SLOW=1000 PIPE=1000 ATTACK_SECS=30 RSS_LIMIT_MIB=2048 (environment)
set -euo pipefail
# Several keel processes may run at once here: no admin listener unless asked for.
export KEEL_ADMIN_LISTEN=${KEEL_ADMIN_LISTEN:-off}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
DUR=${1:-10s}
VUS=${VUS:-50}
SLOW=${SLOW:-1000}
PIPE=${PIPE:-1000}
# the attack covers the ramp-up and both measurements: 2 x DUR + 10 s (30 s for 10 s), at most 60
DUR_S=$(python3 -c "import re,sys;m=re.fullmatch(r'([\d.]+)(ms|s|m)?','$DUR');sys.exit('hostile: bad duration $DUR') if not m else print(float(m[1])*{'ms':0.001,'s':1,'m':60,None:1}[m[2]])")
ATTACK_SECS=${ATTACK_SECS:-$(python3 -c "print(min(60, int(2 * $DUR_S + 10)))")}
RSS_LIMIT_MIB=${RSS_LIMIT_MIB:-2048}
CPUS=$(nproc)
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ -x zig-out/bin/keel ] && [ -x zig-out/bin/keel-bench ] || { bash scripts/setup.sh; scripts/zig build install --summary none; }
bash scripts/pg.sh start
bash scripts/pg.sh load
URL=$(bash scripts/pg.sh url unix)
. "$root/bench/lib.sh"

tmp=$(mktemp -d)
kpid= apid= mpid=
cleanup() {
  for p in $mpid $apid $kpid; do kill "$p" 2>/dev/null || true; done
  for p in $mpid $apid $kpid; do # keel drains for up to its shutdown timeout; do not wait that long
    for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
bench_traps cleanup
# Runs a command in the background and waits for it: bash acts on a trapped Ctrl-C at once
# during `wait`, whereas after a foreground child that handles SIGINT itself (keel-bench
# reports and exits 130) it would carry on with the next step.
bg() { "$@" & mpid=$!; wait "$mpid" || true; mpid=; }

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
mib() { python3 -c "print('%.1f MiB' % ($1 / 1024.0))"; }

port=$(free_port)
PORT=$port KEEL_LISTEN=127.0.0.1 KEEL_ROUTES=examples/bounties/routes DATABASE_URL="$URL" \
  zig-out/bin/keel >/dev/null 2>"$tmp/keel.err" &
kpid=$!
wait_ready "http://127.0.0.1:$port/ready" || { echo "hostile: keel did not become ready:" >&2; tail -5 "$tmp/keel.err" >&2; exit 1; }
base="http://127.0.0.1:$port"
printf 'request 1 GET /api/bounties/{int:1:100}\n' > "$tmp/hot.scenario"

# measure NAME ARGS... -> $tmp/NAME.json; a run without one successful response exits 3 and
# still writes its JSON, which the summary reports as such
measure() {
  local name=$1; shift
  bg timeout 120 zig-out/bin/keel-bench -q -c "$VUS" -d "$DUR" --json "$tmp/$name.json" "$@" >"$tmp/$name.txt" 2>&1
  echo "$(rss_kib "$kpid")" > "$tmp/$name.rss"
  if [ -n "$apid" ] && [ -f "$tmp/attack.json" ]; then cp "$tmp/attack.json" "$tmp/$name.attack"; fi
  if [ -n "$apid" ] && ! kill -0 "$apid" 2>/dev/null; then touch "$tmp/$name.attack_over"; fi
  return 0
}

# warm-up: the hot set into every shard's cache, and the connections' buffers touched
bg zig-out/bin/keel-bench -q -c "$VUS" -d 2s "$base/health" >/dev/null 2>&1
bg zig-out/bin/keel-bench -q -c "$VUS" -d 3s -s "$tmp/hot.scenario" "$base" >/dev/null 2>&1

measure quiet_health "$base/health"
measure quiet_cached -s "$tmp/hot.scenario" "$base"
rss_before=$(rss_kib "$kpid")

python3 bench/hostile_clients.py --port "$port" --slow "$SLOW" --pipe "$PIPE" --seconds "$ATTACK_SECS" \
  --status "$tmp/attack.json" --watch-pid "$kpid" --rss-limit-mib "$RSS_LIMIT_MIB" 2>"$tmp/attack.err" &
apid=$!
for _ in $(seq 150); do # the attacker reports ready within 10 s
  python3 -c "import json,sys;sys.exit(0 if json.load(open('$tmp/attack.json'))['ready'] else 1)" 2>/dev/null && break
  kill -0 "$apid" 2>/dev/null || break
  sleep 0.1
done
attack_ready=$(python3 -c "import json;d=json.load(open('$tmp/attack.json'));print('%.1f s: slow %d, pipe %d open' % (d['elapsed'], d['slow']['open'], d['pipe']['open']))" 2>/dev/null || echo "no status")
measure attack_health "$base/health"
measure attack_cached -s "$tmp/hot.scenario" "$base"
rss_end=$(rss_kib "$kpid")
kill -TERM "$apid" 2>/dev/null || true
for _ in $(seq 50); do kill -0 "$apid" 2>/dev/null || break; sleep 0.1; done
kill -9 "$apid" 2>/dev/null || true
wait "$apid" 2>/dev/null || true
apid=
bg sleep 3
rss_after=$(rss_kib "$kpid")
keel_alive=yes; kill -0 "$kpid" 2>/dev/null || keel_alive=no

python3 - "$tmp" "$VUS" "$DUR" "$CPUS" "$SLOW" "$PIPE" "$ATTACK_SECS" "$RSS_LIMIT_MIB" "$rss_before" "$rss_end" \
  "$rss_after" "$keel_alive" "$attack_ready" <<'PY'
import json, os, sys
tmp, vus, dur, cpus, slow, pipe, secs, limit, before, end, after, alive, ready = sys.argv[1:]

def load(name):
    try:
        with open(os.path.join(tmp, name + ".json")) as f:
            return json.load(f)["total"]
    except (OSError, ValueError, KeyError):
        return None

def ms(v):
    return "-" if v is None else "%.2f ms" % v

def mib(kib):
    return "%.1f MiB" % (int(kib) / 1024.0) if kib and int(kib) else "-"

def attack(name):
    try:
        with open(os.path.join(tmp, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

print("keel under attack: a well-behaved client (keel-bench -c %s -d %s, closed model, latencies corrected for"
      " coordinated omission) on 127.0.0.1, %s CPUs shared by keel, the client, the attacker and PostgreSQL" % (vus, dur, cpus))
print("attack (bench/hostile_clients.py, at most %s s): %s connections trickling a request head 1 byte/s, never"
      " finished; %s connections pipelining GET /api/bounties?limit=100 (17 kB each), never reading" % (secs, slow, pipe))
print("attack ready after %s" % ready)
print()
print("| scenario | RPS | p50 | p99 | p99 / quiet p99 (target <= 1.20x) | p99 as measured (/ quiet) | failed |"
      " keel RSS at the end | attacker open at the end (slow / pipe) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
quiet, quiet_m = {}, {}
notes = []
for name, label in (("quiet_health", "quiet: GET /health"),
                    ("quiet_cached", "quiet: GET /api/bounties/{1..100} (cached)"),
                    ("attack_health", "under attack: GET /health"),
                    ("attack_cached", "under attack: GET /api/bounties/{1..100} (cached)")):
    t = load(name)
    kind = name.split("_")[1]
    try:
        rss = open(os.path.join(tmp, name + ".rss")).read().strip()
    except OSError:
        rss = "0"
    if t is None:
        print("| %s | no result | - | - | - | - | - | %s | - |" % (label, mib(rss)))
        continue
    p50, p99, p99m = t["latency_ms"]["p50"], t["latency_ms"]["p99"], t["latency_measured_ms"]["p99"]
    if t["ok"] == 0:
        notes.append("%s: no successful response (%d requests, errors %s)" % (label, t["requests"], t["errors"]))
    if name.startswith("quiet"):
        quiet[kind], quiet_m[kind] = p99, p99m
        ratio, measured = "baseline", ms(p99m)
    else:
        q, qm = quiet.get(kind), quiet_m.get(kind)
        ratio = "%.2fx" % (p99 / q) if p99 is not None and q else "-"
        measured = "%s (%s)" % (ms(p99m), "%.2fx" % (p99m / qm) if p99m is not None and qm else "-")
    a = attack(name + ".attack")
    opened = "-"
    if a and name.startswith("attack"):
        opened = "attack over" if a["done"] else "%d / %d" % (a["slow"]["open"], a["pipe"]["open"])
    if name.startswith("attack") and os.path.exists(os.path.join(tmp, name + ".attack_over")):
        notes.append("%s: the attack had ended before this measurement did" % label)
    print("| %s | %.0f | %s | %s | %s | %s | %d of %d | %s | %s |" % (label, t["rps"], ms(p50), ms(p99), ratio, measured,
                                                                    t["failed"], t["requests"], mib(rss), opened))
print()
a = attack("attack.json")
print("keel RSS: before the attack %s; during: peak %s (sampled every 0.2 s), %s at the end of the measurements;"
      " after (3 s after the attacker closed its connections): %s; keel %s" %
      (mib(before), mib(a["watched_rss_peak_kib"]) if a and a["watched_rss_peak_kib"] else "-", mib(end), mib(after),
       "still running" if alive == "yes" else "NOT RUNNING ANY MORE"))
if a:
    s, p = a["slow"], a["pipe"]
    print("attacker: stopped after %.1f s (%s); still open at the end: slow %d of %d (%d closed by keel, %d opened in all,"
          " %d connects failed), pipe %d of %d (%d closed by keel, %d opened in all, %d connects failed); pipe requests"
          " sent %d (%.1f MB); attacker CPU %.1f s" %
          (a["elapsed"], a["why"], s["open"], s["target"], s["closed_by_server"], s["opened"], s["connect_failed"],
           p["open"], p["target"], p["closed_by_server"], p["opened"], p["connect_failed"], p["requests_sent"],
           p["bytes_sent"] / 1e6, a["cpu_seconds"]))
    if a["why"] and "RSS" in a["why"]:
        print("ATTACK STOPPED EARLY: %s" % a["why"])
else:
    print("attacker: no status")
for n in notes:
    print("note: " + n)
PY
