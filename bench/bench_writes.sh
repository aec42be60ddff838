#!/usr/bin/env bash
# keel's write path, printed not asserted (issue 11). Starts the private PostgreSQL and keel
# with the bounties app, then:
#   1. the marketplace mix (examples/bounties/bench/marketplace.scenario: 80% reads, 15%
#      message posts by conversation members, 5% wallet transfers with fresh
#      Idempotency-Keys) with keel-bench at 50 and 200 users: requests/s, per-route p50/p99
#      and status classes, errors;
#   2. POST /api/wallet/transfers alone (examples/bounties/bench/transfers.scenario, 50 users)
#      against pgbench calling the same SQL function with the same argument distribution:
#      plain (`SELECT wallet_transfer(...)`, its own transaction) and keel's own transaction
#      (idempotency claim + the wrapped statement storing the response + pg_notify, one
#      pipeline and one implicit transaction, as keel sends it), with as many connections as
#      keel holds (shards x KEEL_DB_CONNS_PER_SHARD) and with 50; keel TPS / pgbench TPS.
# Both on one keel shard (KEEL_SHARDS=1) and on every CPU. Every run says where the machine's
# CPU went per request (bench/cpu_split.py: load generator, keel, the rest = PostgreSQL and
# kernel work; /proc/stat is machine-wide, so other work on the box lands in `rest`).
# keel runs on a copy of the routes without search's `@rate 20/min` (from one address almost
# every search would be a 429); everything else is the app as shipped, caches included.
# usage: bench/bench_writes.sh [duration per run, default 10s]   (about 14 runs)
set -euo pipefail
# Several keel processes may run at once here: no admin listener unless asked for.
export KEEL_ADMIN_LISTEN=${KEEL_ADMIN_LISTEN:-off}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
DUR=${1:-10s}
SECS=${DUR%s}
[[ "$SECS" =~ ^[0-9]+$ ]] && [ "$SECS" -ge 1 ] && [ "$SECS" -le 120 ] || { echo "duration: 1s..120s" >&2; exit 2; }
CPUS=$(nproc)
CONNS_PER_SHARD=${KEEL_DB_CONNS_PER_SHARD:-2}
USERS_MIX="50 200"
USERS_TX=50
[ -x zig-out/bin/keel ] && [ -x zig-out/bin/keel-bench ] || { bash scripts/setup.sh; scripts/zig build install --summary none; }
bash scripts/pg.sh start
bash scripts/pg.sh load
URL=$(bash scripts/pg.sh url unix)
PGBENCH=/usr/lib/postgresql/15/bin/pgbench
[ -x "$PGBENCH" ] || { echo "pgbench not found at $PGBENCH (scripts/setup.sh installs postgresql-15)" >&2; exit 1; }
. "$root/bench/lib.sh"

tmp=$(mktemp -d)
kpid=
stop_keel() {
  if [ -n "$kpid" ]; then
    kill "$kpid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$kpid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$kpid" 2>/dev/null || true
    wait "$kpid" 2>/dev/null || true
    kpid=
  fi
}
cleanup() { stop_keel; rm -rf "$tmp"; }
bench_traps cleanup

psql_q() { bash scripts/pg.sh psql -qAt -v ON_ERROR_STOP=1 "$@"; }

# The routes as shipped, minus search's rate limit.
mkdir -p "$tmp/routes"
for f in examples/bounties/routes/*.sql; do grep -vE '^-- @rate' "$f" > "$tmp/routes/$(basename "$f")"; done

# Tokens of the acting users 1..20, and a tag that makes this run's Idempotency-Keys new.
for u in $(seq 20); do export "KEEL_BENCH_TOKEN_$u=$(bash scripts/token.sh "$u" 7200)"; done
export KEEL_BENCH_RUN="$(date +%s)-$$"

# Earlier runs drained the senders' wallets a little: top them up to $20,000 with a deposit
# (a wallet_transactions row, so balance_cents stays the sum of the user's transactions).
psql_q -c "WITH d AS (SELECT id, 2000000 - balance_cents AS amt FROM users WHERE id <= 20 AND balance_cents < 1000000 FOR UPDATE),
  i AS (INSERT INTO wallet_transactions (user_id, amount_cents, kind) SELECT id, amt, 'deposit' FROM d)
  UPDATE users u SET balance_cents = u.balance_cents + d.amt FROM d WHERE u.id = d.id" >/dev/null

port=$(free_port)
start_keel() { # shards
  stop_keel
  PORT=$port KEEL_LISTEN=127.0.0.1 KEEL_ROUTES="$tmp/routes" DATABASE_URL="$URL" KEEL_SHARDS=$1 \
    zig-out/bin/keel >/dev/null 2>"$tmp/keel$1.err" &
  kpid=$!
  wait_ready "http://127.0.0.1:$port/ready" || { echo "keel did not become ready:" >&2; cat "$tmp/keel$1.err" >&2; exit 1; }
}

split() { # label cpu_split-args... : runs one load under bench/cpu_split.py, keeps its line
  local label=$1; shift
  bench/cpu_split.py "$@" 2>"$tmp/$label.out" | sed 's/^/'"$label"' /' >> "$tmp/cpu"
}
kb() { # label users scenario
  split "$1" --server "$kpid" 'rate\s+([\d.]+) req/s' -- \
    zig-out/bin/keel-bench -q -c "$2" -d "$DUR" -s "$3" --seed "$RANDOM$RANDOM" --json "$tmp/$1.json" "http://127.0.0.1:$port"
}
pgb() { # label clients script
  split "$1" 'tps = ([\d.]+)' -- "$PGBENCH" -n -M prepared -c "$2" -j "$CPUS" -T "$SECS" -f "$3" "$URL"
  sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$tmp/$1.out" > "$tmp/$1.tps"
}
cpu() { # label -> "all | load generator | keel | rest" (CPU us per request)
  sed -n "s/^$1 rate=[0-9]* total=\([0-9.]*\) tool=\([0-9.]*\) server=\([0-9.]*\) rest=\([-0-9.]*\)/\1 | \2 | \3 | \4/p" "$tmp/cpu"
}

# pgbench: the transfers' argument distribution (transfers.scenario): sender 1..20, recipient
# 21..10000, 1..10 cents.
cat > "$tmp/plain.sql" <<'SQL'
\set u random(1, 20)
\set to random(21, 10000)
\set amt random(1, 10)
SELECT wallet_transfer(:u, :to, :amt);
SQL
# What keel sends for one keyed request (src/app/idempotency.c, db.c): the claim, the route's
# statement wrapped to store its response, the NOTIFY of its @invalidates, then one Sync:
# one round trip, one implicit transaction.
cat > "$tmp/keel_tx.sql" <<SQL
\\set u random(1, 20)
\\set to random(21, 10000)
\\set amt random(1, 10)
\\set k random(1, 4611686018427387903)
\\startpipeline
SELECT keel.idempotency_claim(:u::text, 'POST /api/wallet/transfers', 'pgbench-$KEEL_BENCH_RUN-' || :u::text || '-' || :k::text, lpad(:k::text, 64, '0'), 86400);
WITH keel_r AS MATERIALIZED (SELECT wallet_transfer(:u::bigint, :to::bigint, :amt::bigint)), keel_v AS (SELECT (SELECT r.keel_v::text FROM keel_r AS r(keel_v) LIMIT 1) AS v) UPDATE keel.idempotency AS i SET status = CASE WHEN keel_v.v IS NULL THEN 404 ELSE 201 END, body = keel_v.v FROM keel_v WHERE i.subject = :u::text AND i.route = 'POST /api/wallet/transfers' AND i.key = 'pgbench-$KEEL_BENCH_RUN-' || :u::text || '-' || :k::text RETURNING i.status, i.body;
SELECT pg_notify('keel_invalidate', 'user:' || :u::text || chr(10) || 'user:' || :to::text || chr(10) || 'wallet:' || :u::text || chr(10) || 'wallet:' || :to::text);
\\endpipeline
SQL
# Where keel's transaction spends its time beyond the bare call: the same pipeline with only
# the idempotency statements (claim + wrapped statement), and the bare call + the NOTIFY.
sed '/pg_notify/d' "$tmp/keel_tx.sql" > "$tmp/idem.sql"
{ sed -n '1,4p' "$tmp/keel_tx.sql"; echo '\startpipeline'; echo 'SELECT wallet_transfer(:u, :to, :amt);'
  grep pg_notify "$tmp/keel_tx.sql"; echo '\endpipeline'; } > "$tmp/notify.sql"

tx0=$(psql_q -c "SELECT count(*) FROM wallet_transactions WHERE kind = 'transfer_out'")
for shards in 1 "$CPUS"; do
  start_keel "$shards"
  for n in $USERS_MIX; do kb "mix_s${shards}_$n" "$n" examples/bounties/bench/marketplace.scenario; done
  kb "tx_s${shards}" "$USERS_TX" examples/bounties/bench/transfers.scenario
done
# pgbench needs no keel, but keel stays up (idle) as in the runs above: its connections LISTEN,
# so PostgreSQL delivers the NOTIFYs to a listener either way.
dbconns=""
for shards in 1 "$CPUS"; do
  c=$((shards * CONNS_PER_SHARD))
  case " $dbconns " in *" $c "*) ;; *) dbconns="$dbconns $c" ;; esac
done
for c in $dbconns "$USERS_TX"; do
  pgb "pgplain_$c" "$c" "$tmp/plain.sql"
  pgb "pgkeel_$c" "$c" "$tmp/keel_tx.sql"
done
cmax=$((CPUS * CONNS_PER_SHARD))
pgb "pgidem_$cmax" "$cmax" "$tmp/idem.sql"
pgb "pgnotify_$cmax" "$cmax" "$tmp/notify.sql"
stop_keel
tx1=$(psql_q -c "SELECT count(*) FROM wallet_transactions WHERE kind = 'transfer_out'")
keys=$(psql_q -c "SELECT count(*) FROM keel.idempotency WHERE key LIKE 'bench-$KEEL_BENCH_RUN-%' AND status = 201")
# This run's keys would stay for their 24 h (and keel purges 1,000 a minute): drop them now.
# The transfers and messages stay; scripts/pg.sh reset restores the seed.
psql_q -c "DELETE FROM keel.idempotency WHERE key LIKE 'bench-$KEEL_BENCH_RUN-%' OR key LIKE 'pgbench-$KEEL_BENCH_RUN-%'" >/dev/null

echo "keel write path: bounties app, $CPUS CPUs, PostgreSQL over unix socket, $DUR per run, keel-bench threads = CPUs, latency as measured per route"
echo "(search's @rate 20/min removed in the bench's copy of the routes; PostgreSQL settings: scripts/pg.sh, fsync and synchronous_commit off)"
echo
python3 - "$tmp" "$CPUS" "$CONNS_PER_SHARD" $USERS_MIX <<'PY'
import json, sys, os
tmp, cpus, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
users = sys.argv[4:]
cpu = {}
for line in open(os.path.join(tmp, "cpu")):
    label, rest = line.split(" ", 1)
    cpu[label] = dict(kv.split("=") for kv in rest.split())
def ms(v):
    return "-" if v is None else ("%.2f" % v if v >= 1 else "%.3f" % v)
for shards in sorted({1, cpus}):
    for n in users:
        label = "mix_s%d_%s" % (shards, n)
        d = json.load(open(os.path.join(tmp, label + ".json")))
        t = d["total"]
        c = cpu.get(label, {})
        codes = ", ".join("%s: %d" % (k, v) for k, v in sorted(t["status"].items()) if int(k) >= 400) or "none"
        transport = sum(v for k, v in t["errors"].items() if not k.startswith("status_"))
        print("## mix, %s users, keel %d shard%s (%d PostgreSQL connections): %.0f req/s, %d requests, errors %.2f%% (status >= 400: %s; transport: %d); CPU us/request: all %s, keel-bench %s, keel %s, rest %s"
              % (n, shards, "" if shards == 1 else "s", shards * per, t["rps"], t["requests"], 100 * t["error_rate"], codes,
                 transport, c.get("total"), c.get("tool"), c.get("server"), c.get("rest")))
        print()
        print("| route | requests | req/s | p50 ms | p99 ms | 2xx | 4xx | 5xx | transport errors |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in d["routes"]:
            lat, sc, e = r["latency_measured_ms"], r["status_classes"], r["errors"]
            tr = sum(v for k, v in e.items() if not k.startswith("status_"))
            print("| %s | %d | %.0f | %s | %s | %d | %d | %d | %d |" % (r["name"], r["requests"], r["rps"], ms(lat["p50"]),
                  ms(lat["p99"]), sc["2xx"], sc["4xx"], sc["5xx"], tr))
        print()
PY

echo "## POST /api/wallet/transfers alone ($USERS_TX users) vs pgbench running wallet_transfer (same arguments distribution), $DUR each"
echo
echo "keel's transfer is one pipelined implicit transaction: keel.idempotency_claim (an INSERT into"
echo "keel.idempotency), the route's statement wrapped to store its response (an UPDATE of that row),"
echo "and pg_notify of its four @invalidates tags; 'pgbench, keel's statements' sends exactly these in"
echo "one pipeline (\\startpipeline), 'pgbench, wallet_transfer only' the bare function call."
echo
echo "| load | PostgreSQL connections | req/s or tps | p50 | p99 | errors | CPU us/request: all | load generator | keel | PostgreSQL + rest |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for shards in 1 "$CPUS"; do
  python3 - "$tmp/tx_s$shards.json" "$shards" "$((shards * CONNS_PER_SHARD))" "$USERS_TX" "$(cpu "tx_s$shards")" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); t = d["total"]; lat = t["latency_measured_ms"]
codes = ", ".join("%s: %d" % (k, v) for k, v in sorted(t["status"].items()) if int(k) >= 400)
transport = sum(v for k, v in t["errors"].items() if not k.startswith("status_"))
err = "%.2f%%%s" % (100 * t["error_rate"], " (%s%s)" % (codes, ", transport %d" % transport if transport else "") if codes or transport else "")
print("| keel %s shard%s, keel-bench %s users | %s | %.0f | %.2f ms | %.2f ms | %s | %s |" % (sys.argv[2], "" if sys.argv[2] == "1" else "s",
      sys.argv[4], sys.argv[3], t["rps"], lat["p50"], lat["p99"], err, sys.argv[5]))
PY
done
for c in $dbconns "$USERS_TX"; do
  for v in plain keel; do
    name=$([ $v = plain ] && echo "wallet_transfer only" || echo "keel's statements")
    fails=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$tmp/pg${v}_$c.out")
    echo "| pgbench -M prepared -c $c -j $CPUS, $name | $c | $(cut -d. -f1 "$tmp/pg${v}_$c.tps") | | | ${fails:-?} failed | $(cpu "pg${v}_$c") |"
  done
done
for v in idem notify; do
  name=$([ $v = idem ] && echo "claim + wrapped wallet_transfer, no NOTIFY" || echo "wallet_transfer + NOTIFY, no idempotency")
  fails=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$tmp/pg${v}_$cmax.out")
  echo "| pgbench -M prepared -c $cmax -j $CPUS, $name | $cmax | $(cut -d. -f1 "$tmp/pg${v}_$cmax.tps") | | | ${fails:-?} failed | $(cpu "pg${v}_$cmax") |"
done
echo
k201=$(python3 -c '
import glob, json, sys
print(sum(r["status_classes"]["2xx"] for f in glob.glob(sys.argv[1] + "/*.json") for r in json.load(open(f))["routes"] if r["name"] == "POST /api/wallet/transfers"))' "$tmp")
echo "transfers committed during the runs (keel and pgbench): $((tx1 - tx0)) transfer_out rows; keel-bench counted $k201 transfers answered 2xx, keel.idempotency holds $keys of this run's keys with status 201"
echo
for shards in 1 "$CPUS"; do
  c=$((shards * CONNS_PER_SHARD))
  python3 - "$tmp" "$shards" "$c" "$USERS_TX" <<'PY'
import json, sys
tmp, shards, c, users = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
k = json.load(open("%s/tx_s%s.json" % (tmp, shards)))["total"]["rps"]
def tps(name):
    return float(open("%s/%s.tps" % (tmp, name)).read())
print("keel %s shard%s: keel/pgbench (keel's statements, %s conns) %.2f   keel/pgbench (keel's statements, %s conns) %.2f   keel/pgbench (wallet_transfer only, %s conns) %.2f   keel/pgbench (wallet_transfer only, %s conns) %.2f   (target >= 0.8)"
      % (shards, "" if shards == "1" else "s", c, k / tps("pgkeel_" + c), users, k / tps("pgkeel_" + users),
         c, k / tps("pgplain_" + c), users, k / tps("pgplain_" + users)))
PY
done
python3 - "$tmp" "$cmax" <<'PY'
import sys
tmp, c = sys.argv[1], sys.argv[2]
t = {v: float(open("%s/pg%s_%s.tps" % (tmp, v, c)).read()) for v in ("plain", "idem", "notify", "keel")}
print("where keel's transaction goes beyond the bare call (pgbench, %s connections, keel listening): wallet_transfer only %.0f tps;"
      " + idempotency claim and stored response %.0f (%.2fx); + NOTIFY %.0f (%.2fx); both, as keel sends it, %.0f (%.2fx)"
      % (c, t["plain"], t["idem"], t["idem"] / t["plain"], t["notify"], t["notify"] / t["plain"], t["keel"], t["keel"] / t["plain"]))
PY
