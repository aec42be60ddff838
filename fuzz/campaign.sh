#!/usr/bin/env bash
# fuzz/campaign.sh - runs every libFuzzer driver for its share of a time budget, two at a
# time (one per core), each into a scratch copy of its checked-in corpus, and prints per
# driver: seconds, executions per second, coverage (cov/ft from libFuzzer's last line), the
# corpus it grew to, and findings (crash-*, leak-*, timeout-*, oom-* files).
#
#   fuzz/campaign.sh [MINUTES]      total CPU minutes to share out (default 125)
#   MERGE=1 fuzz/campaign.sh ...    also merge what added coverage into fuzz/corpus/ (-merge=1)
#   JOBS=1 ...                      one driver at a time instead of two
#   ONLY="url tags" ...              just these drivers (their shares of the budget as listed)
#
# Builds the drivers first (scripts/zig build fuzz). Scratch: a temporary folder, removed at
# the end; findings are copied to fuzz/out/<driver>/ (gitignored) before it goes. Every run
# is bounded by -max_total_time plus a hard timeout; Ctrl-C stops them all.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
minutes=${1:-125}
jobs=${JOBS:-2}
scripts/zig build fuzz --summary none

# driver weight max_len dictionary
drivers=(
  "http_conn 16 4096 fuzz/http.dict"
  "http1_connection 10 4096 fuzz/http.dict"
  "http1_request 10 4096 fuzz/http.dict"
  "routefile 10 4096 fuzz/routefile.dict"
  "jwt_verify 8 9000 -"
  "jwt_json 8 9000 fuzz/json.dict"
  "jwks 6 16384 fuzz/jwks.dict"
  "json_body 8 4096 fuzz/json_body.dict"
  "url 8 4096 fuzz/url.dict"
  "tags 8 4096 fuzz/routefile.dict"
  "http1_chunked 7 4096 fuzz/http.dict"
  "accept_encoding 6 4096 fuzz/accept_encoding.dict"
  "ipaddr 6 1024 fuzz/ipaddr.dict"
  "cache 6 4096 -"
  "pg_json 4 1024 -"
  "prom_text 4 66000 -"
)
# Every driver the build makes has its line above: one added to build.zig and not here would
# never be fuzzed by a campaign (prom_text was, until this check).
for exe in zig-out/fuzz/*; do
  n=$(basename "$exe")
  printf '%s\n' "${drivers[@]}" | grep -q "^$n " || { echo "campaign.sh: driver $n has no line in drivers=()" >&2; exit 2; }
done
if [ -n "${ONLY:-}" ]; then
  kept=()
  for d in "${drivers[@]}"; do set -- $d; [[ " $ONLY " == *" $1 "* ]] && kept+=("$d"); done
  drivers=("${kept[@]}")
fi
total_weight=0
for d in "${drivers[@]}"; do set -- $d; total_weight=$((total_weight + $2)); done

scratch=$(mktemp -d /tmp/keel-fuzz.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

run_one() { # name seconds max_len dict
  local name=$1 secs=$2 maxlen=$3 dict=$4 dir="$scratch/$1"
  mkdir -p "$dir/corpus" "$dir/art"
  cp fuzz/corpus/"$name"/* "$dir/corpus/" 2>/dev/null || true
  local args=(-max_total_time="$secs" -max_len="$maxlen" -artifact_prefix="$dir/art/" -print_final_stats=1)
  [ "$dict" != "-" ] && args+=(-dict="$dict")
  timeout $((secs + 120)) nice -n 10 zig-out/fuzz/"$name" "${args[@]}" "$dir/corpus" >"$dir/log" 2>&1 || true
}

echo "fuzz campaign: $minutes CPU minutes over ${#drivers[@]} drivers, $jobs at a time ($(nproc) CPUs)" >&2
running=0
for d in "${drivers[@]}"; do
  set -- $d
  secs=$((minutes * 60 * $2 / total_weight))
  run_one "$1" "$secs" "$3" "$4" &
  pids+=($!)
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
done
wait

printf '| driver | seconds | execs/s | cov | ft | corpus | findings |\n|---|---:|---:|---:|---:|---:|---|\n'
for d in "${drivers[@]}"; do
  set -- $d
  dir="$scratch/$1"
  log="$dir/log"
  time=$(grep -a -o 'Done [0-9]* runs in [0-9]* second' "$log" | tail -1 | awk '{print $5}' || true)
  line=$(grep -a -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$line")
  ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<<"$line")
  eps=$(sed -n 's/.*exec\/s: \([0-9]*\).*/\1/p' <<<"$line")
  ncorp=$(find "$dir/corpus" -type f | wc -l)
  finds=$(find "$dir/art" -type f | wc -l)
  what="none"
  if [ "$finds" -gt 0 ]; then
    mkdir -p fuzz/out/"$1"
    cp "$dir"/art/* fuzz/out/"$1"/
    what="$finds in fuzz/out/$1/"
  fi
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$1" "${time:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}" "$ncorp" "$what"
  if [ "${MERGE:-0}" = 1 ]; then
    zig-out/fuzz/"$1" -merge=1 -use_counters=0 fuzz/corpus/"$1" "$dir/corpus" >/dev/null 2>&1 || true
  fi
done
