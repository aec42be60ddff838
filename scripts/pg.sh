#!/usr/bin/env bash
# pg.sh - keel's private PostgreSQL 15 cluster for development, tests and benchmarks.
#
#   scripts/pg.sh start          start the cluster (initdb on first use); no-op when running
#   scripts/pg.sh stop           stop it (fast shutdown); no-op when stopped
#   scripts/pg.sh status         exit 0 when running, 3 when not
#   scripts/pg.sh url            print DATABASE_URL for the bounties database over TCP (stdout)
#   scripts/pg.sh url unix       the same over the cluster's unix socket: no TCP stack on
#                                either side, what scripts/run.sh and the benchmarks use
#   scripts/pg.sh psql [args]    psql against the cluster (database bounties once loaded)
#   scripts/pg.sh load           create database bounties and load examples/bounties once
#                                (again when schema.sql or seed.sql changed)
#   scripts/pg.sh reset          drop database bounties and load it again
#   scripts/pg.sh replica start  a streaming replica of the cluster (pg_basebackup -R) on
#                                port $KEEL_PG_REPLICA_PORT (default (KEEL_PG_PORT + 1) mod 32768); the
#                                cluster switches to wal_level=replica for good (restarting once)
#   scripts/pg.sh replica stop   stop it (its data stays: the next start takes a fresh copy)
#   scripts/pg.sh replica url    DATABASE_URL of the replica over TCP
#   scripts/pg.sh replica status exit 0 when the replica runs, 3 when not
#   Reloading drops the database WITH (FORCE): its open connections are closed.
#
# Where: <repo>/.pg (gitignored): data/, sock/ (unix socket), postgres.log. When run as
# root, initdb refuses to run, so the cluster belongs to an unprivileged system user `keel`
# (created here once) and every server-side command runs as that user. That user must be
# able to traverse every parent of the repo; when it cannot (a repo under /root, say), the
# cluster lives in /var/tmp/keel-pg-<hash of the repo path> instead, and this script says so.
#
# Network: listens on 127.0.0.1 and on a unix socket in sock/ only, port $KEEL_PG_PORT
# (default 54329); trust auth for local connections, role `keel` (superuser). Only ever a
# private dev/test cluster.
#
# Messages go to stderr; only `url` (and psql's own output) write to stdout.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
pgbin=/usr/lib/postgresql/15/bin
port=${KEEL_PG_PORT:-54329}
db=bounties
role=keel
example="$root/examples/bounties"

say() { echo "pg.sh: $*" >&2; }
die() { echo "pg.sh: error: $*" >&2; exit 1; }

[ -x "$pgbin/postgres" ] || die "PostgreSQL 15 not found in $pgbin (run scripts/setup.sh)"

# --- who runs the server --------------------------------------------------------------
as_owner=()
if [ "$(id -u)" -eq 0 ]; then
  if ! id -u "$role" >/dev/null 2>&1; then
    # A concurrent pg.sh may have created it in the meantime: only the final check counts.
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
      --user-group "$role" >/dev/null 2>&1 || true
    id -u "$role" >/dev/null 2>&1 || die "could not create system user '$role'"
  fi
  as_owner=(runuser -u "$role" --)
fi
run_owner() { "${as_owner[@]}" "$@"; }
# The server must not inherit our descriptors (the lock on fd 9, a caller's pipes): it would
# hold the lock, or keep a caller waiting for EOF, for as long as it runs.
run_owner_closed() (
  for fd in /proc/$BASHPID/fd/*; do
    fd=${fd##*/}
    if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-"; fi
  done
  exec "${as_owner[@]}" "$@" </dev/null
)

# --- where the cluster lives ----------------------------------------------------------
# The repo path is fine when the server's user can reach it; otherwise use /var/tmp.
dir="$root/.pg"
if [ ${#as_owner[@]} -gt 0 ] && ! run_owner test -x "$root" 2>/dev/null; then
  hash=$(printf '%s' "$root" | sha256sum | cut -c1-12)
  dir="/var/tmp/keel-pg-$hash"
  note_dir="cluster in $dir: user '$role' cannot traverse to $root"
fi
# unix socket paths are limited to 107 bytes
if [ ${#dir} -gt 80 ]; then
  hash=$(printf '%s' "$root" | sha256sum | cut -c1-12)
  dir="/var/tmp/keel-pg-$hash"
  note_dir="cluster in $dir: $root is too long for a unix socket path"
fi
data="$dir/data"
sock="$dir/sock"
log="$dir/postgres.log"

mkdir -p "$dir"
if [ ${#as_owner[@]} -gt 0 ]; then
  # Only the cluster dir changes hands; the repo's own permissions are left alone.
  chown "$role:" "$dir"
fi
chmod 700 "$dir"
mkdir_owner() { run_owner mkdir -p "$@"; }

# Serialise concurrent invocations (parallel tests calling start/load).
exec 9>>"$dir/lock"
if [ ${#as_owner[@]} -gt 0 ]; then chown "$role:" "$dir/lock"; fi
flock -w 600 9 || die "timed out waiting for another pg.sh on $dir/lock"

# --- helpers --------------------------------------------------------------------------
running() { [ -f "$data/PG_VERSION" ] && run_owner "$pgbin/pg_ctl" status -D "$data" >/dev/null 2>&1; }

# The port of the running server (line 4 of postmaster.pid), else the configured one.
live_port() {
  local p=""
  if running && [ -r "$data/postmaster.pid" ]; then p=$(sed -n 4p "$data/postmaster.pid" 2>/dev/null || true); fi
  echo "${p:-$port}"
}

client() {
  # Clients run as the caller and connect over TCP: the role is `keel` either way.
  PGHOST=127.0.0.1 PGPORT=$(live_port) PGUSER=$role PGCONNECT_TIMEOUT=5 "$@"
}

write_conf() {
  # Rewritten on every start so that edits here and KEEL_PG_PORT take effect.
  run_owner tee "$data/keel.conf" >/dev/null <<EOF
# Written by scripts/pg.sh on every start; edit the script, not this file.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sock'
max_connections = 200
shared_buffers = 256MB
work_mem = 16MB
maintenance_work_mem = 256MB
# Durability is traded for speed: this cluster only ever holds data that
# examples/bounties/seed.sql regenerates (scripts/pg.sh reset). A crash may corrupt it;
# delete $dir and start again. Never copy these settings to a real database.
fsync = off
synchronous_commit = off
full_page_writes = off
$(if [ -f "$dir/replication" ]; then cat <<REPL
# A replica was asked for once (scripts/pg.sh replica start): WAL for streaming.
wal_level = replica
max_wal_senders = 4
wal_keep_size = 256MB
REPL
else cat <<MINIMAL
# No replication here: wal_level=minimal lets the seed (tables created in the same
# transaction as their rows) skip WAL.
wal_level = minimal
max_wal_senders = 0
MINIMAL
fi)
max_wal_size = 4GB
checkpoint_timeout = 30min
# Route statements are small OLTP queries; JIT compilation only adds latency.
jit = off
timezone = 'UTC'
log_timezone = 'UTC'
# A later issue counts queries through pg_stat_statements.
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.max = 5000
pg_stat_statements.track = all
EOF
}

do_init() {
  [ -f "$data/PG_VERSION" ] && return 0
  [ -n "${note_dir:-}" ] && say "$note_dir"
  say "initdb in $data"
  rm -rf "$data"
  mkdir_owner "$sock"
  if ! run_owner "$pgbin/initdb" -D "$data" -U "$role" --auth=trust --encoding=UTF8 \
      --locale=C.UTF-8 >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    die "initdb failed (log above)"
  fi
  echo "include_if_exists = 'keel.conf'" | run_owner tee -a "$data/postgresql.conf" >/dev/null
}

do_start() {
  do_init
  if running; then return 0; fi
  mkdir_owner "$sock"
  write_conf
  say "starting on 127.0.0.1:$port (log $log)"
  if ! run_owner_closed "$pgbin/pg_ctl" start -D "$data" -l "$log" -w -t 60 >/dev/null 2>&1; then
    tail -n 20 "$log" >&2 2>/dev/null || true
    die "postgres failed to start (the end of $log is above)"
  fi
  # pg_ctl -w returns once the server accepts connections; check the TCP side as well.
  local i
  for i in $(seq 1 50); do
    if "$pgbin/pg_isready" -q -h 127.0.0.1 -p "$port" -U "$role" -d postgres -t 1; then return 0; fi
    sleep 0.2
  done
  die "postgres started but 127.0.0.1:$port does not answer"
}

do_stop() {
  if ! running; then say "not running"; return 0; fi
  say "stopping"
  run_owner "$pgbin/pg_ctl" stop -D "$data" -m fast -w -t 60 >/dev/null 2>&1 \
    || die "postgres did not stop within 60 s (see $log)"
}

# The content hash of what `load` loads: a changed schema or seed reloads on the next load.
seed_hash() { cat "$example/schema.sql" "$example/seed.sql" | sha256sum | cut -c1-16; }

loaded_hash() {
  client "$pgbin/psql" -X -qAt -d postgres -c \
    "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = '$db'" 2>/dev/null
}

do_load() {
  local force=${1:-0} want have t0 t1
  [ -f "$example/schema.sql" ] && [ -f "$example/seed.sql" ] || die "missing $example/schema.sql or seed.sql"
  do_start
  want="keel-seed $(seed_hash)"
  have=$(loaded_hash) || die "cannot query the cluster"
  if [ "$force" = 0 ] && [ "$have" = "$want" ]; then
    say "database $db already loaded"
    return 0
  fi
  if [ -n "$have" ] && [ "$force" = 0 ]; then say "database $db is stale or incomplete; reloading"; fi
  t0=$(date +%s.%N)
  client "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -d postgres \
    -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null \
    || die "could not create database $db"
  # One transaction: tables are created and filled in it, so wal_level=minimal skips WAL,
  # and a failed load leaves no marker (the next load starts over). schema.sql runs in two
  # halves around the seed: everything after its '-- keel:after-seed' line (foreign keys,
  # secondary indexes) is cheaper to build once over the loaded rows.
  say "loading $example/{schema,seed}.sql into $db"
  if ! {
      echo '\set ON_ERROR_STOP 1'
      echo 'BEGIN;'
      # Query counting (a later issue) reads this view; the library is preloaded above.
      echo 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements;'
      sed '/^-- keel:after-seed/,$d' "$example/schema.sql"
      cat "$example/seed.sql"
      sed -n '/^-- keel:after-seed/,$p' "$example/schema.sql"
      echo "COMMENT ON DATABASE $db IS '$want';"
      echo 'COMMIT;'
    } | client "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null; then
    die "loading $db failed (messages above)"
  fi
  # Outside the transaction: VACUUM sets the visibility map (index-only scans; the planner
  # prices them by it) and ANALYZE gives the planner statistics. A snapshot taken before
  # the COMMIT (autovacuum analysing a catalog, say) keeps VACUUM from marking the new rows
  # all-visible, so check and repeat, bounded.
  client "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -d "$db" -c "VACUUM (FREEZE, ANALYZE)" >/dev/null \
    || die "VACUUM failed"
  local tries=0 left
  while :; do
    left=$(client "$pgbin/psql" -X -qAt -d "$db" -c "SELECT string_agg(oid::regclass::text, ', ')
      FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'
      AND relallvisible < relpages") || die "cannot query $db"
    [ -z "$left" ] && break
    tries=$((tries + 1))
    if [ $tries -gt 10 ]; then say "warning: not all-visible after VACUUM: $left"; break; fi
    sleep 1
    client "$pgbin/psql" -X -q -d "$db" -c "VACUUM (FREEZE) $left" >/dev/null || die "VACUUM failed"
  done
  t1=$(date +%s.%N)
  say "loaded $db in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
}

# --- the streaming replica ------------------------------------------------------------
# Below 32768, outside Linux's default ephemeral range (32768-60999): the replica is started
# and stopped again and again (tests), and a port in that range can be held at that moment by
# any local connection (seen: "could not bind ... 54330: Address already in use" after load).
rport=${KEEL_PG_REPLICA_PORT:-$(( (port + 1) % 32768 ))}
rdata="$dir/replica-data"
rsock="$dir/replica-sock"
rlog="$dir/replica.log"
replica_running() { [ -f "$rdata/PG_VERSION" ] && run_owner "$pgbin/pg_ctl" status -D "$rdata" >/dev/null 2>&1; }

do_replica_start() {
  if replica_running; then return 0; fi
  if [ ! -f "$dir/replication" ] || [ "$(client "$pgbin/psql" -X -qAt -d postgres -c 'SHOW wal_level' 2>/dev/null)" != replica ]; then
    run_owner touch "$dir/replication"
    if running; then
      say "restarting the cluster with wal_level=replica"
      write_conf
      run_owner "$pgbin/pg_ctl" stop -D "$data" -m fast -w -t 60 >/dev/null 2>&1 || die "could not stop the cluster"
    fi
  fi
  do_start
  say "pg_basebackup into $rdata"
  run_owner rm -rf "$rdata"
  mkdir_owner "$rsock"
  # As the cluster's owner, over the unix socket: initdb's pg_hba trusts local replication.
  run_owner "$pgbin/pg_basebackup" -h "$sock" -p "$port" -U "$role" -D "$rdata" -R -X stream -c fast \
    >"$dir/basebackup.log" 2>&1 || { cat "$dir/basebackup.log" >&2; die "pg_basebackup failed"; }
  run_owner sed -i -e "s/^port = .*/port = $rport/" -e "s|^unix_socket_directories = .*|unix_socket_directories = '$rsock'|" \
    "$rdata/keel.conf"
  run_owner rm -f "$rdata/postmaster.pid" "$rdata/postmaster.opts"
  say "starting the replica on 127.0.0.1:$rport (log $rlog)"
  run_owner_closed "$pgbin/pg_ctl" start -D "$rdata" -l "$rlog" -w -t 60 >/dev/null 2>&1 \
    || { tail -n 20 "$rlog" >&2; die "the replica failed to start"; }
  local i
  for i in $(seq 1 100); do
    if [ "$(client "$pgbin/psql" -X -qAt -d postgres -c "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")" -ge 1 ] 2>/dev/null; then
      say "replica streaming"
      return 0
    fi
    sleep 0.2
  done
  die "the replica does not stream (see $rlog)"
}

do_replica_stop() {
  if ! replica_running; then say "replica not running"; return 0; fi
  say "stopping the replica"
  run_owner "$pgbin/pg_ctl" stop -D "$rdata" -m fast -w -t 60 >/dev/null 2>&1 || die "the replica did not stop"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  start) do_start ;;
  stop) if [ -f "$rdata/PG_VERSION" ]; then do_replica_stop; fi; do_stop ;;
  status)
    if running; then say "running on 127.0.0.1:$(live_port), data $data"; exit 0; fi
    say "not running (data $data)"; exit 3 ;;
  url)
    case "${1:-tcp}" in
      tcp) echo "postgresql://$role@127.0.0.1:$(live_port)/$db" ;;
      unix) # the socket directory goes in the query string, percent-encoded
        enc=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe="/"))' "$sock")
        echo "postgresql://$role@/$db?host=$enc&port=$(live_port)" ;;
      *) die "url: tcp or unix, not '$1'" ;;
    esac ;;
  psql)
    running || die "not running (scripts/pg.sh start)"
    dbname=postgres
    if [ -n "$(loaded_hash)" ]; then dbname=$db; fi
    exec 9>&-
    PGDATABASE=$dbname client "$pgbin/psql" -X "$@" ;;
  load) do_load 0 ;;
  replica)
    case "${1:-}" in
      start) do_replica_start ;;
      stop) do_replica_stop ;;
      url) echo "postgresql://$role@127.0.0.1:$rport/$db" ;;
      status) if replica_running; then say "replica running on 127.0.0.1:$rport"; exit 0; fi
              say "replica not running"; exit 3 ;;
      *) die "replica: start, stop, status or url" ;;
    esac ;;
  reset) do_load 1 ;;
  *)
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
    [ -z "$cmd" ] && exit 2
    die "unknown command '$cmd'" ;;
esac
