#!/usr/bin/env bash
# cluster.sh - two keel instances behind nginx, on this machine, on the private PostgreSQL
# (scripts/pg.sh): the scale-out setup of docs/SCALING.md in miniature.
#
#   scripts/cluster.sh start    start PostgreSQL (and load bounties), keel A and B, then nginx
#   scripts/cluster.sh stop     stop nginx and both instances (by their PIDs); PostgreSQL stays
#   scripts/cluster.sh status   exit 0 when all three answer, 3 otherwise
#
# Ports: nginx on 127.0.0.1:$CLUSTER_PORT (default 8090), A on +1, B on +2, their admin
# listeners on +3 and +4 (CLUSTER_ADMIN=off: none; two keels cannot share one). State (PIDs,
# logs, the generated nginx.conf) in $CLUSTER_DIR (default .run/cluster). The instances take
# KEEL_BIN (default zig-out/bin/keel), KEEL_ROUTES (default examples/bounties/routes), DATABASE_URL (default the private
# cluster's unix socket) and every other KEEL_* variable from the environment, and trust
# nginx's X-Forwarded-For (KEEL_TRUSTED_PROXIES=127.0.0.1). nginx's config is
# deploy/nginx-keel.conf with these ports; it runs in the foreground of its own process
# (daemon off), with its pid file and temp files in $CLUSTER_DIR.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
port=${CLUSTER_PORT:-8090}
dir=${CLUSTER_DIR:-$root/.run/cluster}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
pa=$((port + 1)); pb=$((port + 2))

say() { echo "cluster.sh: $*" >&2; }
die() { echo "cluster.sh: error: $*" >&2; exit 1; }
alive() { [ -f "$dir/$1.pid" ] && kill -0 "$(cat "$dir/$1.pid")" 2>/dev/null; }
answers() { curl -sf -o /dev/null --max-time 2 "$1"; }
wait_answer() { # url seconds
  local i
  for i in $(seq 1 $(($2 * 10))); do answers "$1" && return 0; sleep 0.1; done
  return 1
}

start_keel() { # name port admin-port
  alive "$1" && { say "keel $1 already running"; return 0; }
  local admin="127.0.0.1:$3"
  [ "${CLUSTER_ADMIN:-on}" = off ] && admin=off
  PORT=$2 KEEL_LISTEN=127.0.0.1 KEEL_ADMIN_LISTEN=$admin KEEL_TRUSTED_PROXIES=${KEEL_TRUSTED_PROXIES:-127.0.0.1} \
    setsid "${KEEL_BIN:-zig-out/bin/keel}" >"$dir/$1.out" 2>"$dir/$1.err" </dev/null &
  echo $! >"$dir/$1.pid"
  wait_answer "http://127.0.0.1:$2/ready" 30 || die "keel $1 did not become ready (see $dir/$1.err)"
  say "keel $1 on 127.0.0.1:$2, admin $admin (pid $(cat "$dir/$1.pid"))"
}

# deploy/nginx-keel.conf with this cluster's ports, inside a minimal top-level config.
nginx_conf() {
  mkdir -p "$dir/nginx"
  local site
  site=$(sed -e "s/127\.0\.0\.1:8081/127.0.0.1:$pa/; s/127\.0\.0\.1:8082/127.0.0.1:$pb/" \
             -e "s/listen 127\.0\.0\.1:8080;/listen 127.0.0.1:$port;/" deploy/nginx-keel.conf)
  cat >"$dir/nginx.conf" <<NGX
worker_processes ${CLUSTER_NGINX_WORKERS:-$(nproc)};
pid $dir/nginx.pid.nginx;
error_log $dir/nginx.err;
daemon off;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path $dir/nginx; proxy_temp_path $dir/nginx; fastcgi_temp_path $dir/nginx;
  uwsgi_temp_path $dir/nginx; scgi_temp_path $dir/nginx;
$site
}
NGX
}

do_start() {
  mkdir -p "$dir"
  [ -x zig-out/bin/keel ] || scripts/zig build install --summary none
  if [ -z "${DATABASE_URL:-}" ]; then
    bash scripts/pg.sh start
    bash scripts/pg.sh load
    DATABASE_URL=$(bash scripts/pg.sh url unix)
  fi
  export DATABASE_URL
  export KEEL_ROUTES=${KEEL_ROUTES:-examples/bounties/routes}
  export KEEL_JWT_SECRET=${KEEL_JWT_SECRET:-$(bash scripts/token.sh --dev-secret)}
  start_keel a "$pa" $((port + 3))
  start_keel b "$pb" $((port + 4))
  if ! alive nginx; then
    nginx_conf
    "$NGINX" -t -q -c "$dir/nginx.conf" -p "$dir" 2>"$dir/nginx.check" || { cat "$dir/nginx.check" >&2; die "nginx config"; }
    setsid "$NGINX" -c "$dir/nginx.conf" -p "$dir" >/dev/null 2>&1 </dev/null &
    echo $! >"$dir/nginx.pid"
    wait_answer "http://127.0.0.1:$port/ready" 10 || die "nginx does not answer (see $dir/nginx.err)"
    say "nginx on 127.0.0.1:$port (pid $(cat "$dir/nginx.pid")) -> $pa, $pb"
  fi
}

stop_one() { # name
  alive "$1" || { rm -f "$dir/$1.pid"; return 0; }
  local pid i
  pid=$(cat "$dir/$1.pid")
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then say "$1 (pid $pid) ignored SIGTERM for 15 s: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$dir/$1.pid"
  say "stopped $1"
}

case "${1:-}" in
  start) do_start ;;
  stop) stop_one nginx; stop_one a; stop_one b ;;
  status)
    ok=0
    alive a && answers "http://127.0.0.1:$pa/ready" && say "keel a up on $pa" || { say "keel a down"; ok=3; }
    alive b && answers "http://127.0.0.1:$pb/ready" && say "keel b up on $pb" || { say "keel b down"; ok=3; }
    alive nginx && answers "http://127.0.0.1:$port/health" && say "nginx up on $port" || { say "nginx down"; ok=3; }
    exit $ok ;;
  *) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
