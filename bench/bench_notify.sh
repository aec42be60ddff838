#!/usr/bin/env bash
# What LISTEN/NOTIFY invalidation costs, measured here for docs/SCALING.md's extrapolation:
#   1. NOTIFY delivery: pgbench commits one pg_notify('keel_invalidate', ...) per transaction
#      (what a write route's invalidation adds) with 0 listeners, then with 20 listening
#      connections (one keel instance, 2 shards x 10 connections, each LISTENing); printed:
#      notifies/s, PostgreSQL's CPU per notify (all its processes, from /proc), keel's CPU
#      per notify (20 connections receiving and evicting), and per listener.
#   2. Memory per PostgreSQL connection: in keel (RSS with 2 x 10 connections minus 2 x 1)
#      and in a PostgreSQL backend (private memory of keel's backends, smaps_rollup).
# Prints figures; asserts nothing. usage: bench/bench_notify.sh [seconds per run, default 5]
# Needs KEEL_PG_PORT like every script here; keel listens on 127.0.0.1, stopped by PID.
set -euo pipefail
# several keels may run at once here: the admin listener (default 127.0.0.1:9180) is off
export KEEL_ADMIN_LISTEN=${KEEL_ADMIN_LISTEN:-off}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
SECS=${1:-5}
PGBIN=/usr/lib/postgresql/15/bin
[ -x zig-out/bin/keel ] || scripts/zig build install --summary none
. "$root/bench/lib.sh"
tmp=$(mktemp -d)
kpid=""
cleanup() { [ -n "$kpid" ] && kill "$kpid" 2>/dev/null; sleep 0.2; rm -rf "$tmp"; }
bench_traps cleanup

bash scripts/pg.sh start >/dev/null 2>&1
bash scripts/pg.sh load >/dev/null 2>&1
URL=$(bash scripts/pg.sh url)
PORT_PG=$(sed -E 's|.*:([0-9]+)/.*|\1|' <<<"$URL")
DATA_PID=$(bash scripts/pg.sh psql -qAtc "SELECT pg_backend_pid()" >/dev/null; \
  bash scripts/pg.sh psql -qAtc "SELECT setting FROM pg_settings WHERE name = 'data_directory'")
postmaster=$(head -1 "$DATA_PID/postmaster.pid")
# every process of this cluster: the postmaster's own CPU plus its reaped children's
# (cutime, cstime: the pgbench backends exit before the second reading), plus its live
# children's (the listeners, autovacuum, the WAL writer ...)
pg_ticks() {
  local t p
  t=$(awk '{print $14 + $15 + $16 + $17}' /proc/"$postmaster"/stat)
  for p in $(cat /proc/"$postmaster"/task/*/children 2>/dev/null); do
    [ -r /proc/$p/stat ] && t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat)))
  done
  echo $t
}
HZ=$(getconf CLK_TCK)
echo "SELECT pg_notify('keel_invalidate', 'bench:' || (random() * 1000)::int);" > "$tmp/notify.sql"

run() { # label -> prints a table row
  local p0 k0 p1 k1 tps
  p0=$(pg_ticks); k0=0; [ -n "$kpid" ] && k0=$(proc_ticks "$kpid")
  tps=$(PGHOST=127.0.0.1 PGPORT=$PORT_PG PGUSER=keel "$PGBIN/pgbench" -n -f "$tmp/notify.sql" -c 2 -j 2 -T "$SECS" bounties 2>/dev/null \
        | awk '/^tps/ {print int($3)}')
  p1=$(pg_ticks); k1=0; [ -n "$kpid" ] && k1=$(proc_ticks "$kpid")
  python3 - "$1" "$tps" "$((p1 - p0))" "$((k1 - k0))" "$HZ" "$SECS" <<'PY'
import sys
label, tps, pt, kt, hz, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
n = tps * secs
print("| %s | %d | %.1f | %s |" % (label, tps, pt / hz / n * 1e6, ("%.1f" % (kt / hz / n * 1e6)) if kt else "-"))
PY
}

echo "NOTIFY delivery, pgbench 2 clients x ${SECS}s, one pg_notify per transaction, $(nproc) CPUs shared"
echo "| listeners | notifies/s | PostgreSQL CPU us/notify | keel CPU us/notify |"
echo "|---|---:|---:|---:|"
run "0"
KP=$(free_port)
PORT=$KP KEEL_LISTEN=127.0.0.1 KEEL_SHARDS=2 KEEL_DB_CONNS_PER_SHARD=10 DATABASE_URL="$URL" \
  zig-out/bin/keel >/dev/null 2>"$tmp/keel.err" &
kpid=$!
wait_ready "http://127.0.0.1:$KP/ready"
sleep 1
n=$(bash scripts/pg.sh psql -qAtc "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'keel'")
run "$n (1 keel, 2 shards x 10)"
rss20=$(awk '/VmRSS/ {print $2}' /proc/$kpid/status)
# private memory of keel's backends (what each connection costs PostgreSQL beyond shared_buffers)
priv=0; nb=0
for p in $(bash scripts/pg.sh psql -qAtc "SELECT pid FROM pg_stat_activity WHERE application_name = 'keel'"); do
  if [ -r /proc/$p/smaps_rollup ]; then
    priv=$((priv + $(awk '/^Private_(Clean|Dirty)/ {s += $2} END {print s}' /proc/$p/smaps_rollup))); nb=$((nb + 1))
  fi
done
kill "$kpid"; wait "$kpid" 2>/dev/null || true
PORT=$KP KEEL_LISTEN=127.0.0.1 KEEL_SHARDS=2 KEEL_DB_CONNS_PER_SHARD=1 DATABASE_URL="$URL" \
  zig-out/bin/keel >/dev/null 2>"$tmp/keel.err" &
kpid=$!
wait_ready "http://127.0.0.1:$KP/ready"
sleep 1
rss2=$(awk '/VmRSS/ {print $2}' /proc/$kpid/status)
echo
echo "memory per PostgreSQL connection (no routes loaded: one prepared statement set is small):"
echo "  keel: RSS with 2 x 10 connections $rss20 KiB, with 2 x 1 $rss2 KiB -> $(( (rss20 - rss2) / 18 )) KiB per connection"
if [ "$nb" -gt 0 ]; then
  echo "  PostgreSQL backend: private memory of keel's $nb backends $(( priv / nb )) KiB each (smaps_rollup, idle after connect)"
fi
