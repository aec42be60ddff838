#!/usr/bin/env bash
# Installs what keel needs on Debian 12 and nothing else; safe to run again.
# The Zig version is pinned here and only here.
set -euo pipefail
ZIG_VERSION=0.14.1
OPENAPI_VALIDATOR_VERSION=0.7.1
root=$(cd "$(dirname "$0")/.." && pwd)

pkgs=(build-essential pkg-config python3 python3-pip
      liburing-dev libpq-dev libdeflate-dev libmimalloc-dev
      libssl-dev libcurl4-openssl-dev openssl python3-cryptography
      postgresql postgresql-contrib
      clang-14 libclang-rt-14-dev llvm-14
      wrk nginx-light procps curl
      systemd      # systemd-socket-activate and systemd-analyze, for tests/integration/test_ops.py
      chromium tmux  # tests: keel-bench's HTML report in headless Chromium, keel top in tmux
      prometheus)  # promtool: tests/integration/test_metrics.py checks /metrics with it
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The Debian postgresql package starts a system cluster; keel runs its own private one.
  if command -v systemctl >/dev/null 2>&1; then $sudo_ systemctl disable --now postgresql >/dev/null 2>&1 || true; fi
  $sudo_ service postgresql stop >/dev/null 2>&1 || true
  $sudo_ service nginx stop >/dev/null 2>&1 || true
fi

# Zig from PyPI into the project folder (--target skips Debian's PEP 668 guard and keeps
# the system Python untouched).
zdir="$root/.tools/zig-$ZIG_VERSION"
if [ ! -x "$zdir/ziglang/zig" ]; then
  echo "setup: installing ziglang==$ZIG_VERSION from PyPI" >&2
  rm -rf "$zdir"
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --target "$zdir" "ziglang==$ZIG_VERSION"
fi
ln -sfn "zig-$ZIG_VERSION/ziglang/zig" "$root/.tools/zig"

# openapi-spec-validator (tests/integration/test_openapi.py checks `keel openapi` with it),
# from PyPI into the project folder the same way; the test puts .tools/py on its path.
vdir="$root/.tools/py-openapi-spec-validator-$OPENAPI_VALIDATOR_VERSION"
if [ ! -d "$vdir/openapi_spec_validator" ]; then
  echo "setup: installing openapi-spec-validator==$OPENAPI_VALIDATOR_VERSION from PyPI" >&2
  rm -rf "$vdir"
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --target "$vdir" \
    "openapi-spec-validator==$OPENAPI_VALIDATOR_VERSION"
fi
ln -sfn "py-openapi-spec-validator-$OPENAPI_VALIDATOR_VERSION" "$root/.tools/py"
