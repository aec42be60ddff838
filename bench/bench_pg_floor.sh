#!/usr/bin/env bash
# bench_pg_floor.sh - what PostgreSQL itself spends per by-id lookup on this box: the floor
# under keel's uncached GET /api/bounties/{id}, whatever keel does. pgbench runs the route's
# batch form (src/app/sql_batch.h) for N random ids per execution, N = 1, 10 and 64, on the
# generic plan (keel's primed connections use it), with keel's number of PostgreSQL
# connections; the batch of 10 selecting the id column only (the difference is what returning
# the row's columns costs); then the batch of 10 again while an uncached keel serves by-id to
# keel-bench (-t1, 50 connections) on the same cores, keel's own connections measured in the
# same window; and `pgbench -S -M prepared` for reference. PostgreSQL's CPU per row is its
# backends' CPU time (/proc) over the rows pg_stat_statements counted in a window of DUR
# seconds. Prints figures; asserts nothing.
#   bench/bench_pg_floor.sh [DUR]     DUR seconds per window (default 5); ~50 s
# pgbench binds the ids as N parameters (ARRAY[$1, ...]::text[]) where keel binds one text
# array: the same plan, and array_in was under 0.1 us per row in perf.
set -euo pipefail
export KEEL_ADMIN_LISTEN=${KEEL_ADMIN_LISTEN:-off}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
DUR=${1:-5}
KEEL_BIN=${KEEL_BIN:-zig-out/bin/keel}
KB=${KEEL_BENCH_BIN:-zig-out/bin/keel-bench}
PGBENCH=${PGBENCH:-/usr/lib/postgresql/15/bin/pgbench}
. "$root/bench/lib.sh"
need_tools bench_pg_floor "$KEEL_BIN" "$KB" "$PGBENCH" psql
bash scripts/pg.sh start
bash scripts/pg.sh load
URL=$(bash scripts/pg.sh url unix)
psql_() { psql "$URL" -qAtX -c "$1"; }
psql_ "SELECT 1 FROM pg_stat_statements LIMIT 1" >/dev/null ||
  { echo "bench_pg_floor: needs pg_stat_statements (scripts/pg.sh configures it)" >&2; exit 2; }

tmp=$(mktemp -d /tmp/keel-bench-pgfloor.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.3; rm -rf "$tmp"; }
bench_traps cleanup

# The route's statement, its :id bound to the batch's element as keel's batch form binds it.
route=examples/bounties/routes/bounties_get.sql
inner=$(grep -v '^--' "$route" | tr '\n' ' ' | sed -e 's/;[[:space:]]*$//' -e 's/:id::bigint/keel_p.keel_a1::bigint/')
case "$inner" in *keel_p.keel_a1::bigint*) ;; *) echo "bench_pg_floor: $route changed shape" >&2; exit 2 ;; esac
# pgbench's script for the batch form of statement $3 with $1 random ids, into file $2.
batch_script() { # n file inner
  {
    for i in $(seq "$1"); do echo "\\set a$i random(1, 100000)"; done
    printf 'SELECT keel_q.*, keel_p.keel_ord FROM unnest(ARRAY[%s]::text[]) WITH ORDINALITY AS keel_p(keel_a1, keel_ord) CROSS JOIN LATERAL (%s) AS keel_q ORDER BY keel_p.keel_ord;\n' \
      "$(seq -s, -f ':a%g' "$1")" "$3"
  } > "$2"
}
for n in 1 10 64; do batch_script "$n" "$tmp/batch$n.sql" "$inner"; done
# The batch of 10 returning the id column only: the difference to the full batch of 10 is what
# returning the row's columns costs PostgreSQL (reading them from the tuple, writing them out).
batch_script 10 "$tmp/batch10id.sql" "$(echo "$inner" | sed -E 's/^ *SELECT .* FROM bounties /SELECT id FROM bounties /')"
grep -q '(SELECT id FROM bounties WHERE' "$tmp/batch10id.sql" || { echo "bench_pg_floor: $route changed shape" >&2; exit 2; }
"$PGBENCH" -i -s 1 -q "$URL" >/dev/null 2>&1
uncached_routes "$tmp/routes"
port=$(free_port)
env PORT="$port" KEEL_ROUTES="$tmp/routes" DATABASE_URL="$URL" KEEL_SLOW_QUERY_MS=0 KEEL_CACHE_MB=0 \
  "$KEEL_BIN" >/dev/null 2>"$tmp/keel.err" &
kpid=$!
pids+=($kpid)
wait_ready "http://127.0.0.1:$port/ready" || { cat "$tmp/keel.err" >&2; exit 2; }
shards=$(shards_of "$kpid")
[ "$shards" -gt 0 ] || shards=$(nproc)
dbconns=$((shards * ${KEEL_DB_CONNS_PER_SHARD:-2}))
printf 'request 1 GET /api/bounties/{int:1:100000}\n' > "$tmp/byid.scenario"

# The pids of the client backends whose application_name is as $1 says ("= 'pgbench'"), and
# the CPU ticks (utime + stime) of a list of pids.
backends() { psql_ "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND application_name $1"; }
ticks() { local s=0 p v; for p in $1; do v=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0); s=$((s + v)); done; echo "$s"; }
# "rows calls" of the statements whose text matches $1 (pg_stat_statements, since its reset)
counts() { psql_ "SELECT coalesce(sum(rows), 0) || ' ' || coalesce(sum(calls), 0) FROM pg_stat_statements WHERE $1"; }
PGB_WHERE="query LIKE '%unnest(ARRAY[%' OR query LIKE '%pgbench_accounts%'"
KEEL_WHERE="query LIKE '%FROM bounties%' AND query NOT LIKE '%unnest(ARRAY[%'"
hz=$(getconf CLK_TCK)

# Measures a window of DUR seconds one second into a pgbench run of script $2 (or -S), with
# keel-bench on keel at the same time when $3 = beside; appends a result line per set of
# connections to $tmp/rows.
window() { # label script|-S [beside]
  local label=$1 script=$2 beside=${3:-} kbp= pb bp kp b0 b1 k0 k1 pr0 pc0 pr1 pc1 kr0 kc0 kr1 kc1
  psql_ "SELECT pg_stat_statements_reset()" >/dev/null
  if [ -n "$beside" ]; then
    timeout $((DUR + 30)) "$KB" -q -t 1 -c 50 -d "$((DUR + 20))s" -s "$tmp/byid.scenario" "http://127.0.0.1:$port" >/dev/null 2>&1 &
    kbp=$!
    sleep 0.5
  fi
  local args=(-S)
  [ "$script" = -S ] || args=(-f "$script")
  PGOPTIONS="-c plan_cache_mode=force_generic_plan" timeout $((DUR + 30)) "$PGBENCH" -n -M prepared \
    -c "$dbconns" -j "$(nproc)" -T $((DUR + 20)) "${args[@]}" "$URL" >"$tmp/pgbench.out" 2>&1 &
  pb=$!
  sleep 1
  bp=$(backends "= 'pgbench'"); kp=$(backends "<> 'pgbench' AND application_name <> 'psql'")
  read -r pr0 pc0 < <(counts "$PGB_WHERE"); read -r kr0 kc0 < <(counts "$KEEL_WHERE")
  b0=$(ticks "$bp"); k0=$(ticks "$kp")
  sleep "$DUR"
  b1=$(ticks "$bp"); k1=$(ticks "$kp")
  read -r pr1 pc1 < <(counts "$PGB_WHERE"); read -r kr1 kc1 < <(counts "$KEEL_WHERE")
  # both run well past the window (the psql calls around it are slow on a loaded box), and
  # stop here
  kill -INT "$pb" 2>/dev/null || true
  wait "$pb" || true
  [ -n "$kbp" ] && { kill -INT "$kbp" 2>/dev/null || true; wait "$kbp" || true; }
  echo "$label|pgbench|$((pr1 - pr0))|$((pc1 - pc0))|$((b1 - b0))" >>"$tmp/rows"
  [ -n "$beside" ] && echo "$label|keel|$((kr1 - kr0))|$((kc1 - kc0))|$((k1 - k0))" >>"$tmp/rows"
  return 0
}

echo "bench_pg_floor: $(nproc) CPUs, $dbconns PostgreSQL connections, ${DUR}s windows" >&2
window "pgbench -S -M prepared (pgbench_accounts)" -S
for n in 1 10 64; do window "by-id batch form, ids per execution: $n" "$tmp/batch$n.sql"; done
window "by-id batch form, ids per execution: 10, the id column only" "$tmp/batch10id.sql"
window "by-id batch form, 10 ids, beside uncached keel (keel-bench -t1 -c50)" "$tmp/batch10.sql" beside

python3 - "$tmp/rows" "$DUR" "$hz" <<'PY'
import sys
rows, dur, hz = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
print("PostgreSQL's own CPU per row returned (its backends' CPU time over pg_stat_statements' rows)")
print()
print("| load | whose connections | rows/s | rows per execution | PostgreSQL CPU us per row |")
print("|---|---|---|---|---|")
for line in open(rows):
    label, who, r, c, t = line.rstrip("\n").split("|")
    r, c, t = int(r), int(c), int(t)
    if r <= 0 or c <= 0:
        print("| %s | %s | - | - | - (nothing counted) |" % (label, who))
        continue
    print("| %s | %s | %.0f | %.1f | %.2f |" % (label, who, r / dur, r / c, t / hz * 1e6 / r))
PY
