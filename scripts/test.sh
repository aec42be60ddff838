#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds keel (normal, ASan+UBSan,
# libFuzzer drivers), then runs unit, fuzz-replay and integration tests.
# Ends with "N passed, N failed"; exits non-zero on any failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
scripts/zig build install asan fuzz --summary none
exec python3 tests/run.py "$@"
