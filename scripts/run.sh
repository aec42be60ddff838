#!/usr/bin/env bash
# Installs what is missing, builds keel and serves it on 127.0.0.1:${PORT:-8080}.
# Ctrl-C (SIGINT) or SIGTERM drains and stops it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
scripts/zig build install --summary none
exec zig-out/bin/keel "$@"
