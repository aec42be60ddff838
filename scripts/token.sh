#!/usr/bin/env bash
# token.sh - a Bearer token for trying keel's @auth routes locally: an HS256 JWT for
# subject SUB (the bounties app reads it as the user id), valid for an hour, signed with
# KEEL_JWT_SECRET or, when unset, the development secret scripts/run.sh uses
# (.run/jwt_secret, created on first use). For development only.
#
#   scripts/token.sh 42                      # prints the token
#   curl -H "Authorization: Bearer $(scripts/token.sh 42)" localhost:8080/api/me/wallet/transactions
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dev_secret() { # the development secret, 32 random bytes as hex, kept in .run/ (gitignored)
  local f="$root/.run/jwt_secret"
  if [ ! -s "$f" ]; then
    mkdir -p "$root/.run"
    (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$f")
  fi
  cat "$f"
}
if [ "${1:-}" = --dev-secret ]; then dev_secret; exit 0; fi
sub=${1:?usage: scripts/token.sh SUBJECT [SECONDS]}
ttl=${2:-3600}
secret=${KEEL_JWT_SECRET:-$(dev_secret)}
exec python3 - "$sub" "$ttl" "$secret" <<'PY'
import base64, hashlib, hmac, json, sys, time
sub, ttl, secret = sys.argv[1], int(sys.argv[2]), sys.argv[3]
b64 = lambda d: base64.urlsafe_b64encode(d).rstrip(b"=").decode()
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
body = b64(json.dumps({"sub": sub, "iat": int(time.time()), "exp": int(time.time()) + ttl}, separators=(",", ":")).encode())
sig = b64(hmac.new(secret.encode(), (head + "." + body).encode(), hashlib.sha256).digest())
print(head + "." + body + "." + sig)
PY
