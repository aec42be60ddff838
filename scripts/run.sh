#!/usr/bin/env bash
# Installs what is missing, builds keel, starts a private PostgreSQL loaded with the bounties
# example (unless DATABASE_URL is set) and serves examples/bounties/routes on
# 127.0.0.1:${PORT:-8080}. Ctrl-C (SIGINT) or SIGTERM drains keel, then stops the private
# PostgreSQL if this script started it: nothing it started is left running.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
scripts/zig build install --summary none
own_pg=0
if [ -z "${DATABASE_URL:-}" ]; then
  bash scripts/pg.sh status >/dev/null 2>&1 || own_pg=1 # stop it afterwards only if we start it
  bash scripts/pg.sh start
  bash scripts/pg.sh load
  DATABASE_URL=$(bash scripts/pg.sh url unix) # no TCP stack on either side: ~8% more uncached req/s here
  export DATABASE_URL
fi
export KEEL_ROUTES=${KEEL_ROUTES:-examples/bounties/routes}
# The bounties app has @auth routes: without a secret of your own, a development one
# (scripts/token.sh mints tokens with it).
KEEL_JWT_SECRET=${KEEL_JWT_SECRET:-$(bash scripts/token.sh --dev-secret)}
export KEEL_JWT_SECRET
zig-out/bin/keel "$@" &
pid=$!
stop() { kill -TERM "$pid" 2>/dev/null || true; }
trap stop INT TERM
# A trapped signal interrupts `wait` (status 128+n) while keel is still draining: wait again
# until keel is reaped, so that the script exits with keel's own status. (A zombie still
# answers kill -0, so an exit during the trap is reaped by the next wait.)
while :; do
  rc=0
  wait "$pid" || rc=$?
  kill -0 "$pid" 2>/dev/null || break
done
[ "$own_pg" = 1 ] && bash scripts/pg.sh stop
exit "$rc"
