#!/usr/bin/env bash
# Issue 13, items 2 and 3 (db.h): uncached GET /api/bounties/{random id} with keel-bench at 1
# and 2 generator threads and 50 and 200 connections, and the same by-id load beside a few
# clients running full-text searches (uncached, a word of a list each: 30-190 ms in
# PostgreSQL) against by-id alone, for this build and, when KEEL_BEFORE names another keel
# binary (e.g. one built from the parent commit in a worktree of its own), for that one too,
# alternating in the same run. Also by-id at 50 connections on a keel that first served
# LIGHT_DUR (8 s) of light traffic (6 connections: batches of 2 or 3, which is what used to
# keep PostgreSQL re-planning every batch; db.c, prime_batch_plan), and `pgbench -S -M
# prepared` with as many PostgreSQL connections as keel holds, for reference (bench_db.sh
# has the full comparison). Prints figures; asserts nothing. Every load is bounded by its
# duration (keel-bench -d, pgbench -T).
# usage: KEEL_BEFORE=/tmp/perf-before/zig-out/bin/keel bench/bench_db_segments.sh [duration, default 10s]
set -euo pipefail
# several keels may run at once here: the admin listener (default 127.0.0.1:9180) is off
export KEEL_ADMIN_LISTEN=${KEEL_ADMIN_LISTEN:-off}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
DUR=${1:-10s}
SECS=${DUR%s}
CPUS=$(nproc)
CONNS_PER_SHARD=${KEEL_DB_CONNS_PER_SHARD:-2}
DBCONNS=$((CPUS * CONNS_PER_SHARD))
AFTER=$root/zig-out/bin/keel
BEFORE=${KEEL_BEFORE:-}
BENCH=$root/zig-out/bin/keel-bench
[ -x "$AFTER" ] && [ -x "$BENCH" ] || scripts/zig build install --summary none
bash scripts/pg.sh start
bash scripts/pg.sh load
URL=$(bash scripts/pg.sh url unix)
PGBENCH=/usr/lib/postgresql/15/bin/pgbench
. "$root/bench/lib.sh"

tmp=$(mktemp -d)
kpid=
cleanup() { [ -n "$kpid" ] && kill "$kpid" 2>/dev/null; sleep 0.3; rm -rf "$tmp"; }
bench_traps cleanup

uncached_routes "$tmp/routes" # uncached, unlimited
printf 'request 1 GET /api/bounties/{int:1:100000}\n' > "$tmp/byid.scenario"
printf 'request 1 GET /api/bounties/search?q={list:pizza,garden,dog,tutor,moving,paint,clean,fix,help,car}&limit=10\n' \
  > "$tmp/search.scenario"

start_keel() { # binary -> sets port and kpid
  port=$(free_port)
  PORT=$port KEEL_LISTEN=127.0.0.1 KEEL_ROUTES="$tmp/routes" DATABASE_URL="$URL" KEEL_SLOW_QUERY_MS=0 \
    KEEL_CACHE_MB=0 "$1" >/dev/null 2>"$tmp/keel.err" &
  kpid=$!
  wait_ready "http://127.0.0.1:$port/ready"
}
stop_keel() { kill "$kpid"; wait "$kpid" 2>/dev/null || true; kpid=; }
fig() { # json -> "rps p50 p99 errors"
  python3 - "$1" <<'PY'
import json, sys
try:
    j = json.load(open(sys.argv[1]))
    t = j.get("total", j)
    lat = t.get("latency_ms", {})
    print("%.0f %.2f %.2f %s" % (t.get("rps", 0), lat.get("p50", 0), lat.get("p99", 0), "%.2f%%" % (100 * t.get("error_rate", 0))))
except Exception as e:
    print("0 0 0 unreadable(%s)" % e)
PY
}
kb() { # name port threads conns scenario [duration] -> json in $tmp/name.json
  timeout 120 "$BENCH" -q -t "$3" -c "$4" -d "${6:-$DUR}" -s "$5" --json "$tmp/$1.json" "http://127.0.0.1:$2" >/dev/null 2>&1 || true
}

bins="after"
[ -n "$BEFORE" ] && bins="before after"
declare -A BIN=([after]=$AFTER [before]=$BEFORE)
ROUNDS=${ROUNDS:-3}
SEARCH_RATE=${SEARCH_RATE:-20}
"$PGBENCH" -i -s 1 -q "$URL" >/dev/null 2>&1
printf 'request 95 GET /api/bounties/{int:1:100000}\nrequest 5 GET /api/bounties/search?q={list:pizza,garden,dog,tutor,moving,paint,clean,fix,help,car}&limit=10\n' \
  > "$tmp/mix.scenario"

pg_pids() { bash "$root/scripts/pg.sh" psql -qAt -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'keel'" 2>/dev/null | tr '\n' ' '; }
ticks() { local t=0 p; for p in "$@"; do [ -r "/proc/$p/stat" ] && t=$((t + $(proc_ticks "$p"))); done; echo "$t"; }
one() { # name build what: one measured run on a fresh keel, its figures into $tmp/name.fig:
  # rps p50 p99 errors, then keel's and its PostgreSQL backends' CPU per response (us)
  local name=$1 b=$2 what=$3 pids k0 p0
  start_keel "${BIN[$b]}"
  [ "$what" = light_first ] && kb "$name.light" "$port" 1 6 "$tmp/byid.scenario" "${LIGHT_DUR:-8s}"
  pids=$(pg_pids)
  k0=$(ticks "$kpid")
  p0=$(ticks $pids)
  case $what in
    t1c50 | light_first) kb "$name" "$port" 1 50 "$tmp/byid.scenario" ;;
    t1c200) kb "$name" "$port" 1 200 "$tmp/byid.scenario" ;;
    t2c50) kb "$name" "$port" 2 50 "$tmp/byid.scenario" ;;
    t2c200) kb "$name" "$port" 2 200 "$tmp/byid.scenario" ;;
    searches) # by-id, 50 users, beside searches at SEARCH_RATE/s (open model)
      kb "$name" "$port" 1 50 "$tmp/byid.scenario" &
      local mixpid=$!
      timeout 120 "$BENCH" -q -t 1 -r "$SEARCH_RATE" -c 8 -d "$DUR" -s "$tmp/search.scenario" \
        --json "$tmp/$name.search.json" "http://127.0.0.1:$port" >/dev/null 2>&1 || true
      wait "$mixpid"
      fig "$tmp/$name.search.json" > "$tmp/$name.search.fig" ;;
    mix95) kb "$name" "$port" 1 50 "$tmp/mix.scenario" ;;
  esac
  local k1 p1
  k1=$(ticks "$kpid")
  p1=$(ticks $pids)
  stop_keel
  read -r rps p50 p99 err < <(fig "$tmp/$name.json")
  local hz; hz=$(getconf CLK_TCK)
  echo "$rps $p50 $p99 $err $(python3 -c "r=max(1.0,$rps*$SECS); print('%.1f %.1f' % (($k1-$k0)*1e6/$hz/r, ($p1-$p0)*1e6/$hz/r))")" > "$tmp/$name.fig"
}
med() { # column files... -> median of that column
  python3 -c '
import statistics, sys
col = int(sys.argv[1]); v = [float(open(f).read().split()[col]) for f in sys.argv[2:]]
print("%.2f" % statistics.median(v) if v else "-")' "$@"
}
row() { # what build -> "rps p50 p99 errors" medians over rounds, and every round's rps/p99
  local f=()
  for r in $(seq "$ROUNDS"); do f+=("$tmp/$1-$2-$r.fig"); done
  echo "$(med 0 "${f[@]}") | $(med 1 "${f[@]}") | $(med 2 "${f[@]}") | $(med 4 "${f[@]}") | $(med 5 "${f[@]}") | $(cat "${f[@]}" | awk '{printf "%s/%s ", $1, $3}')"
}

whats="t1c50 t1c200 t2c50 t2c200 light_first searches mix95"
for r in $(seq "$ROUNDS"); do # alternating: every build once per round, for each load
  for w in $whats; do
    for b in $bins; do one "$w-$b-$r" "$b" "$w"; done
  done
done

echo "load average at the end: $(cut -d" " -f1-3 /proc/loadavg) (other users of the machine add noise; compare CPU per request first)"
echo "uncached GET /api/bounties/{random id}, $CPUS CPUs, $DBCONNS PostgreSQL connections, KEEL_PIN=${KEEL_PIN:-default}, $DUR runs, medians of $ROUNDS alternating rounds"
echo
echo "| load | build | req/s | p50 ms | p99 ms | keel CPU us/req | PostgreSQL backends CPU us/req | each round: req/s / p99 ms |"
echo "|---|---|---|---|---|---|---|---|"
for w in t1c50 t1c200 t2c50 t2c200; do
  for b in $bins; do echo "| keel-bench -t${w:1:1} -c${w#*c} | $b | $(row "$w" "$b") |"; done
done
for b in $bins; do echo "| -t1 -c50 after ${LIGHT_DUR:-8s} at 6 connections | $b | $(row light_first "$b") |"; done
echo
echo "by-id (50 users, one thread) alone, beside uncached full-text searches at $SEARCH_RATE/s (open model), and a closed 95% by-id / 5% search mix (figures over both)"
echo
echo "| load | build | req/s | p50 ms | p99 ms | keel CPU us/req | PostgreSQL backends CPU us/req | each round: req/s / p99 ms |"
echo "|---|---|---|---|---|---|---|---|"
for b in $bins; do echo "| by-id alone | $b | $(row t1c50 "$b") |"; done
for b in $bins; do echo "| by-id beside searches | $b | $(row searches "$b") |"; done
for b in $bins; do
  f=(); for r in $(seq "$ROUNDS"); do f+=("$tmp/searches-$b-$r.search.fig"); done
  echo "| (the searches: req/s, p50, p99) | $b | $(med 0 "${f[@]}") | $(med 1 "${f[@]}") | $(med 2 "${f[@]}") | | | |"
done
for b in $bins; do echo "| 95/5 mix | $b | $(row mix95 "$b") |"; done
echo
tps=$("$PGBENCH" -n -S -M prepared -c "$DBCONNS" -j "$CPUS" -T "$SECS" "$URL" 2>/dev/null | sed -n 's/^tps = \([0-9]*\).*/\1/p')
echo "pgbench -S -M prepared -c $DBCONNS -j $CPUS -T $SECS: $tps tps"
