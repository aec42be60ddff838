#!/usr/bin/env bash
# What an RS256 Bearer token costs a request: requests/s of a cached `@auth` route
# (`@cache 60s private`) against the same answer from an anonymous cached route, served by
# one keel whose keys come from a JWKS file, measured with keel-bench (every request sends
# the same 2048-bit RS256 token, so the shard's token cache verifies it once); and the same
# @auth route from a second keel with the token cache off (KEEL_JWT_CACHE_ENTRIES=0: every
# request verifies the signature). ROUNDS alternating rounds, medians reported, with keel's
# own CPU time per response from /proc/PID/stat (the figure other load moves least).
# Prints figures; asserts nothing.
# usage: bench/bench_jwt.sh [duration per run, default 5s]   (ROUNDS=5, VUS=50)
set -euo pipefail
# Several keel processes may run at once here: no admin listener unless asked for.
export KEEL_ADMIN_LISTEN=${KEEL_ADMIN_LISTEN:-off}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
DUR=${1:-5s}
ROUNDS=${ROUNDS:-5}
VUS=${VUS:-50}
ulimit -n 65536 2>/dev/null || true
[ -x zig-out/bin/keel ] || { bash scripts/setup.sh; scripts/zig build install --summary none; }
bash scripts/pg.sh start >/dev/null
URL=$(bash scripts/pg.sh url)
. "$root/bench/lib.sh"
unset KEEL_JWT_SECRET # keys from the JWKS file only

tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.3; rm -rf "$tmp"; }
bench_traps cleanup

mkdir -p "$tmp/routes"
body="SELECT json_build_object('id', 42, 'title', 'a cached answer of about a hundred bytes, like a small row');"
printf -- '-- @route   GET /b/anon\n-- @returns one\n-- @cache   60s\n%s\n' "$body" > "$tmp/routes/anon.sql"
printf -- '-- @route   GET /b/auth\n-- @auth    required\n-- @returns one\n-- @cache   60s private\n%s\n' "$body" \
  > "$tmp/routes/auth.sql"

# an RS256 key, its JWK Set, and one token (exp in 2 hours) signed with it
python3 - "$tmp" <<'PY'
import base64, json, sys, time
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
tmp = sys.argv[1]
b64 = lambda d: base64.urlsafe_b64encode(d).rstrip(b"=").decode()
k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
n = k.public_key().public_numbers()
jwk = {"kty": "RSA", "kid": "bench", "alg": "RS256", "use": "sig",
       "n": b64(n.n.to_bytes(256, "big")), "e": b64(n.e.to_bytes(3, "big"))}
json.dump({"keys": [jwk]}, open(tmp + "/jwks.json", "w"))
now = int(time.time())
h = b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": "bench"}).encode())
p = b64(json.dumps({"sub": "8f1c2a", "role": "member", "scope": "read write", "iat": now, "exp": now + 7200}).encode())
sig = k.sign((h + "." + p).encode(), padding.PKCS1v15(), hashes.SHA256())
open(tmp + "/token", "w").write(h + "." + p + "." + b64(sig))
PY
token=$(cat "$tmp/token")

start_keel() { # name cache_entries -> port in $tmp/name.port, pid in $tmp/name.pid
  local port; port=$(free_port)
  PORT=$port KEEL_ROUTES="$tmp/routes" DATABASE_URL="$URL" KEEL_SLOW_QUERY_MS=0 KEEL_JWT_JWKS="$tmp/jwks.json" \
    KEEL_JWT_CACHE_ENTRIES="$2" zig-out/bin/keel >/dev/null 2>"$tmp/$1.err" &
  pids+=($!)
  echo $! > "$tmp/$1.pid"
  echo "$port" > "$tmp/$1.port"
  wait_ready "http://127.0.0.1:$port/ready" || { echo "bench_jwt: keel did not start:" >&2; tail -5 "$tmp/$1.err" >&2; exit 1; }
}
start_keel cached 4096
start_keel nocache 0
curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$(cat "$tmp/cached.port")/b/auth" >/dev/null \
  || { echo "bench_jwt: the token is refused" >&2; exit 1; }

run() { # name keel path [auth]: keel-bench against that keel (cached or nocache)
  local hdr=()
  [ "${4:-}" = auth ] && hdr=(-H "Authorization: Bearer $token")
  measure "$1" "$(cat "$tmp/$2.pid")" "http://127.0.0.1:$(cat "$tmp/$2.port")$3" "${hdr[@]}"
}
run warm cached /b/anon
run warm cached /b/auth auth
run warm nocache /b/auth auth
for i in $(seq "$ROUNDS"); do
  run "anon.$i" cached /b/anon
  run "auth.$i" cached /b/auth auth
  run "nocache.$i" nocache /b/auth auth
done

PYTHONPATH="$root/bench" python3 - "$tmp" "$ROUNDS" "$DUR" "$VUS" "$(nproc)" <<'PY'
import statistics, sys
from rounds import Rounds, ratios
tmp, rounds, dur, vus, cpus = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
r = Rounds(tmp, rounds)
print("cached GET, keel-bench -c %s -d %s, %s CPUs, median of %d alternating rounds" % (vus, dur, cpus, rounds))
print()
r.header()
anon, acpu = r.row("anonymous, @cache 60s", "anon")
auth, ucpu = r.row("@auth RS256, @cache 60s private, token cache on", "auth")
nocache, ncpu = r.row("@auth RS256, @cache 60s private, token cache off", "nocache")
med = statistics.median
print()
print("RS256 (token cache on) / anonymous req/s: median of per-round ratios %.3f (rounds: %s)" % ratios(auth, anon))
print("RS256 (token cache off) / anonymous req/s: median of per-round ratios %.3f (rounds: %s)" % ratios(nocache, anon))
print("keel CPU per response: RS256 cached %+.2f us, uncached %+.2f us over anonymous (medians)"
      % (med(ucpu) - med(acpu), med(ncpu) - med(acpu)))
PY
